package query

import (
	"reflect"
	"testing"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
)

// Targets keep the written form that Paths normalise away: "f.0" and "f"
// name the same field, but only the first writes inside f's value.
func TestUpdateTargetsKeepIndexesAndPositionals(t *testing.T) {
	u, err := ParseUpdateJSON([]byte(`{"$set": {"f.0": 1, "g.$[]": 2, "h.$[x].y": 3}, "$unset": {"i.$": ""},
		"$currentDate": {"j.1": true}, "$rename": {"k": "l"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"f.0", "g.$[]", "h.$[x].y", "i.$", "j.1", "k", "l"}; !reflect.DeepEqual(u.Targets, want) {
		t.Fatalf("Targets = %q, want %q", u.Targets, want)
	}
	if want := []string{"f", "g", "h.y", "i", "j", "k", "l"}; !reflect.DeepEqual(u.Paths, want) {
		t.Fatalf("Paths = %q, want %q", u.Paths, want)
	}
	if u.Unsendable() != nil {
		t.Fatalf("Unsendable = %v", u.Unsendable())
	}
	// A merge patch records its keys as targets too.
	u, err = ParseUpdateJSON([]byte(`{"a.0": 1}`))
	if err != nil || !reflect.DeepEqual(u.Targets, []string{"a.0"}) {
		t.Fatalf("merge patch: %v %q", err, u.Targets)
	}
}

// Renaming an array element parses (so that the policy checks run first)
// but is unsendable: FerretDB v1 answers it with InternalError.
func TestRenameOfArrayElementIsUnsendable(t *testing.T) {
	for _, body := range []string{`{"$rename": {"a": "b.0"}}`, `{"$rename": {"a.1": "b"}}`, `{"$rename": {"a.0.c": "b"}}`} {
		u, err := ParseUpdateJSON([]byte(body))
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if apperr.KindOf(u.Unsendable()) != apperr.KindInvalid {
			t.Fatalf("%s: Unsendable = %v", body, u.Unsendable())
		}
	}
	// A first segment named like a number is a field name, not an index.
	u, err := ParseUpdateJSON([]byte(`{"$rename": {"0": "b"}}`))
	if err != nil || u.Unsendable() != nil {
		t.Fatalf("top-level numeric name: %v %v", err, u.Unsendable())
	}
}
