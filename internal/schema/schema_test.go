package schema_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.yaml.in/yaml/v3"

	"github.com/permission-mongo/permission-mongo/internal/schema"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

func parse(t *testing.T, src string) (*schema.Set, []schema.Problem) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	return schema.Parse([]schema.Source{{File: "s.yml", Node: doc.Content[0]}})
}

func TestLoadErrorsHavePositions(t *testing.T) {
	_, probs := parse(t, `
staff:
  fields:
    a: {type: strin}
    b: {type: string, min: 1}
    c: {type: number, enum: [1, "x"]}
    d: {type: int, default: "seven"}
    e: {computed: "resource.a +"}
    f: {computed: "user.id"}
    g: {type: object, fields: {h: {computed: "1"}}}
    i: {type: string, format: phone}
    j: {type: string, pattern: "("}
    k: {type: array, items: {type: string, default: "x"}}
    l: {type: string, ref: pm_api_keys}
    m: {type: number, min: 5, max: 1}
    n: {typo: 1}
    o: {computed: "1", immutable: true}
  indexes:
    - {fields: []}
    - {fields: [$bad]}
    - {unique: true}
  other: 1
`)
	want := []string{
		"s.yml:4:15: unknown type \"strin\"",
		"s.yml:5:8: b: min/max applies to type number or int",
		"s.yml:6:33: c: enum value \"x\" is not a number",
		"s.yml:7:29: d: default does not satisfy the field",
		"s.yml:8:19: e: computed expression does not compile",
		"s.yml:9:19: f: computed expression does not compile",
		"s.yml:10:36: g.h: computed fields must be top-level fields",
		"s.yml:11:31: unknown format \"phone\"",
		"s.yml:12:32: j: invalid pattern",
		"s.yml:13:44: k.[]: default is not supported inside array items",
		"s.yml:14:28: l: ref names collection \"pm_api_keys\"",
		"s.yml:15:8: m: min is greater than max",
		"s.yml:16:9: unknown key \"typo\" in field n",
		"s.yml:17:8: o: a computed field cannot also be immutable",
		"s.yml:19:16: index fields must be a non-empty list",
		"s.yml:20:17: invalid index field \"$bad\"",
		"s.yml:21:7: an index needs fields",
		"s.yml:22:3: unknown key \"other\" in schema \"staff\"",
	}
	var got []string
	for _, p := range probs {
		got = append(got, p.Pos.File+":"+strconv.Itoa(p.Pos.Line)+":"+strconv.Itoa(p.Pos.Col)+": "+p.Msg)
	}
	if len(got) != len(want) {
		t.Errorf("%d problems, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			if strings.HasPrefix(g, w) {
				found = true
			}
		}
		if !found {
			t.Errorf("missing problem %q in:\n%s", w, strings.Join(got, "\n"))
		}
	}
}

func mustParse(t *testing.T, src string) *schema.Collection {
	t.Helper()
	set, probs := parse(t, src)
	if len(probs) > 0 {
		t.Fatalf("problems: %v", probs)
	}
	return set.For("c")
}

func TestValidateTypes(t *testing.T) {
	c := mustParse(t, `
c:
  fields:
    s: {type: string}
    n: {type: number}
    i: {type: int}
    b: {type: bool}
    d: {type: date}
    o: {type: object}
    a: {type: array}
    id: {type: objectId}
    x: {type: any}
    nl: {type: string, nullable: true}
`)
	good := bson.D{{Key: "s", Value: "x"}, {Key: "n", Value: 1.5}, {Key: "i", Value: 3.0}, {Key: "b", Value: true},
		{Key: "d", Value: bson.NewDateTimeFromTime(time.Now())}, {Key: "o", Value: bson.D{}}, {Key: "a", Value: bson.A{}},
		{Key: "id", Value: bson.NewObjectID()}, {Key: "x", Value: nil}, {Key: "nl", Value: nil}}
	if f := c.Validate(testenv.Raw(t, good), nil); len(f) != 0 {
		t.Fatalf("good document refused: %v", f)
	}
	bad := bson.D{{Key: "s", Value: 1}, {Key: "n", Value: "1"}, {Key: "i", Value: 1.5}, {Key: "b", Value: "true"},
		{Key: "d", Value: "2024-01-01"}, {Key: "o", Value: bson.A{}}, {Key: "a", Value: bson.D{}},
		{Key: "id", Value: "656565656565656565656565"}, {Key: "nl", Value: 1}}
	f := c.Validate(testenv.Raw(t, bad), nil)
	if len(f) != 9 {
		t.Fatalf("want 9 type failures, got %v", f)
	}
	for _, x := range f {
		if x.Rule != schema.RuleType {
			t.Fatalf("rule %q: %v", x.Rule, x)
		}
	}
	if f := c.Validate(testenv.Raw(t, bson.D{{Key: "s", Value: nil}}), nil); len(f) != 1 {
		t.Fatalf("null for a non-nullable string accepted: %v", f)
	}
}

func TestFormats(t *testing.T) {
	c := mustParse(t, `
c:
  fields:
    e: {type: string, format: email}
    u: {type: string, format: uri}
    t: {type: string, format: date-time}
`)
	for _, tc := range []struct {
		field, val string
		ok         bool
	}{
		{"e", "a@b.org", true}, {"e", "Ann <a@b.org>", false}, {"e", "a@", false}, {"e", "plain", false},
		{"u", "https://x.org/p?q=1", true}, {"u", "mailto:a@b.org", true}, {"u", "/relative", false}, {"u", "x y", false},
		{"t", "2024-01-02T03:04:05Z", true}, {"t", "2024-01-02T03:04:05.123+02:00", true}, {"t", "2024-01-02", false},
	} {
		f := c.Validate(testenv.Raw(t, bson.D{{Key: tc.field, Value: tc.val}}), nil)
		if (len(f) == 0) != tc.ok {
			t.Errorf("%s=%q: failures %v, want ok=%v", tc.field, tc.val, f, tc.ok)
		}
	}
}

func TestCompleteAndImmutable(t *testing.T) {
	c := mustParse(t, `
c:
  fields:
    a: {type: int, default: 1}
    o: {type: object, fields: {k: {type: string, default: "x"}}}
    t: {computed: "resource.a * 2"}
    u: {computed: "resource.t + 1"}
    bad: {computed: "resource.missing + 1"}
    im: {type: string, immutable: true}
`)
	doc, paths, fails := c.Complete(bson.D{{Key: "o", Value: bson.D{}}}, time.Now())
	if len(fails) != 1 || fails[0].Path != "bad" || fails[0].Rule != schema.RuleComputed {
		t.Fatalf("fails %v", fails)
	}
	r := testenv.Raw(t, doc)
	if r.Lookup("a").AsInt64() != 1 || r.Lookup("o", "k").StringValue() != "x" || r.Lookup("t").AsInt64() != 2 || r.Lookup("u").AsInt64() != 3 {
		t.Fatalf("completed %v (paths %v)", r, paths)
	}
	if !slices.Equal(paths, []string{"a", "o.k", "t", "u"}) {
		t.Fatalf("paths %v: want the defaults, then the computed fields that succeeded, in order", paths)
	}
	pre := testenv.Raw(t, bson.D{{Key: "im", Value: "1"}})
	for _, post := range []bson.D{{{Key: "im", Value: "2"}}, {}, {{Key: "im", Value: nil}}, {{Key: "im", Value: 1}}} {
		if f := c.Immutable(pre, testenv.Raw(t, post)); len(f) != 1 {
			t.Errorf("post %v: %v", post, f)
		}
	}
	if f := c.Immutable(pre, testenv.Raw(t, bson.D{{Key: "im", Value: "1"}, {Key: "a", Value: 5}})); len(f) != 0 {
		t.Errorf("unchanged immutable refused: %v", f)
	}
}

// ComputeRaw recomputes over a stored document: each computed field sees the
// ones before it, only values that change are in the $set, and a failing
// expression is a failure rather than a null.
func TestComputeRaw(t *testing.T) {
	c := mustParse(t, `
c:
  fields:
    a: {type: int}
    t: {computed: "resource.a * 2"}
    bad: {computed: "resource.missing + 1"}
    u: {computed: "resource.t + 1"}
`)
	stored := bson.D{{Key: "a", Value: 5}, {Key: "t", Value: 10}, {Key: "u", Value: 3}}
	set, fails := c.ComputeRaw(testenv.Raw(t, stored), time.Now())
	if len(fails) != 1 || fails[0].Path != "bad" || fails[0].Rule != schema.RuleComputed {
		t.Fatalf("fails %v", fails)
	}
	if len(set) != 1 || set[0].Key != "u" {
		t.Fatalf("set %v: want only u, the one value that changes", set)
	}
	if got := testenv.Raw(t, set).Lookup("u").AsInt64(); got != 11 {
		t.Fatalf("u = %d, want 11 (computed from t)", got)
	}

	set, fails = c.ComputeRaw(testenv.Raw(t, bson.D{{Key: "a", Value: 1}}), time.Now())
	if len(fails) != 1 || len(set) != 2 || set[0].Key != "t" || set[1].Key != "u" {
		t.Fatalf("absent fields: set %v, fails %v", set, fails)
	}
	if r := testenv.Raw(t, set); r.Lookup("t").AsInt64() != 2 || r.Lookup("u").AsInt64() != 3 {
		t.Fatalf("set %v: u must see the t computed before it", r)
	}
}
