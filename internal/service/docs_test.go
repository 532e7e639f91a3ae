package service

import (
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/principal"
)

func d(kv ...any) bson.D {
	out := bson.D{}
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, bson.E{Key: kv[i].(string), Value: kv[i+1]})
	}
	return out
}

func ext(t *testing.T, v any) string {
	t.Helper()
	b, err := bson.MarshalExtJSON(v, false, false)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestKeepDenied(t *testing.T) {
	set, err := policy.Parse(map[string][]byte{"p.yml": []byte(`
version: "1"
roles: {r: {}}
policies:
  c:
    r:
      actions: [update, read]
      fields:
        deny_write: [salary, profile.level, items.price, whole]
        deny: [secret]
        mask: {email: email}
`)})
	if err != nil {
		t.Fatal(err)
	}
	p := &principal.Principal{ID: "u", Roles: []string{"r"}}
	dec := set.Decide(p.Roles, p, "c", policy.Update, testNow)
	cases := []struct {
		name      string
		pre, body bson.D
		want      string
	}{
		{"scalar kept", d("_id", 1, "salary", 10, "n", 1), d("_id", 1, "salary", 99, "n", 2),
			`{"_id":1,"salary":10,"n":2}`},
		{"scalar not invented", d("_id", 1, "n", 1), d("_id", 1, "salary", 99),
			`{"_id":1}`},
		{"removed field restored", d("_id", 1, "salary", 10), d("_id", 1),
			`{"_id":1,"salary":10}`},
		{"only the denied sub-field", d("_id", 1, "profile", d("level", 1, "title", "a")), d("_id", 1, "profile", d("level", 7, "title", "b")),
			`{"_id":1,"profile":{"level":1,"title":"b"}}`},
		{"type change keeps whole value", d("_id", 1, "profile", d("level", 1)), d("_id", 1, "profile", "flat"),
			`{"_id":1,"profile":{"level":1}}`},
		{"array kept whole", d("_id", 1, "items", bson.A{d("price", 1, "q", 1)}), d("_id", 1, "items", bson.A{d("price", 0, "q", 5)}),
			`{"_id":1,"items":[{"price":1,"q":1}]}`},
		{"denied document kept", d("_id", 1, "whole", d("a", 1)), d("_id", 1, "whole", d("a", 2, "b", 3)),
			`{"_id":1,"whole":{"a":1}}`},
		// A PUT body holds what the caller read: a hidden field is absent
		// and a masked one holds the mask's text; neither overwrites.
		{"hidden field kept", d("_id", 1, "secret", "s", "n", 1), d("_id", 1, "n", 2),
			`{"_id":1,"n":2,"secret":"s"}`},
		{"hidden field not settable", d("_id", 1, "n", 1), d("_id", 1, "n", 1, "secret", "x"),
			`{"_id":1,"n":1}`},
		{"masked text does not overwrite", d("_id", 1, "email", "ann@x.io"), d("_id", 1, "email", "a**@x.io"),
			`{"_id":1,"email":"ann@x.io"}`},
	}
	rd := set.Decide(p.Roles, p, "c", policy.Read, testNow)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw, _ := bson.Marshal(c.pre)
			got := keepDenied(dec, rd.FieldsFor(raw), raw, c.pre, append(bson.D(nil), c.body...))
			if s := ext(t, got); s != c.want {
				t.Fatalf("got %s, want %s", s, c.want)
			}
		})
	}
}

func TestProject(t *testing.T) {
	raw, _ := bson.Marshal(d("_id", 1, "a", d("b", 1, "c", 2), "arr", bson.A{d("x", 1, "y", 2), 5}, "z", 3))
	out, err := project(raw, []string{"a.b", "arr.x"})
	if err != nil {
		t.Fatal(err)
	}
	if s := ext(t, out); s != `{"_id":1,"a":{"b":1},"arr":[{"x":1}]}` {
		t.Fatalf("projected %s", s)
	}
}

var testNow = mustTime()

func mustTime() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }
