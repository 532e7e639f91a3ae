package query

import (
	"errors"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
)

// ok marks a case that must succeed.
const ok apperr.Kind = -1

// hidden models a policy: these paths are unreadable/unwritable, and so are
// their parents (equality on a parent reveals the child) and children.
var hidden = []string{"secret", "address.ssn", "items.secret", "profile.salary"}

func policyAllows(p string) bool {
	for _, h := range hidden {
		if p == h || strings.HasPrefix(h, p+".") || strings.HasPrefix(p, h+".") {
			return false
		}
	}
	return true
}

func mustDoc(t testing.TB, s string) bson.D {
	t.Helper()
	d, err := ParseJSONDoc([]byte(s))
	if err != nil {
		t.Fatalf("ParseJSONDoc(%s): %v", s, err)
	}
	return d
}

// checkErr verifies err has the wanted kind (ok = nil) and, when msg is
// set, that the message mentions it. Every error must be an *apperr.Error.
func checkErr(t *testing.T, err error, want apperr.Kind, msg string) {
	t.Helper()
	if want == ok {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("expected error of kind %d, got nil", want)
	}
	var ae *apperr.Error
	if !errors.As(err, &ae) {
		t.Fatalf("error is not *apperr.Error: %T %v", err, err)
	}
	if ae.Kind != want {
		t.Fatalf("kind = %d, want %d (%v)", ae.Kind, want, err)
	}
	if msg != "" && !strings.Contains(ae.Message, msg) {
		t.Fatalf("message %q does not mention %q", ae.Message, msg)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
