package fieldpath

import (
	"reflect"
	"testing"
)

func TestCovers(t *testing.T) {
	cases := []struct {
		f, p string
		want bool
	}{
		{"f", "f", true},
		{"f", "f.0", true},
		{"f", "f.$", true},
		{"f", "f.$[]", true},
		{"f", "f.$[x]", true},
		{"f", "f.a.0.b", true},
		{"a.b", "a.0.b", true},
		{"a.b", "a.0.1.b", true},
		{"a.b", "a.$[].$[x].b.c", true},
		{"a.b", "a.b", true},
		{"a.b", "a", false},
		{"a.b", "a.0", false},
		{"a.b", "a.bc", false},
		{"ab", "a.b", false},
		{"f", "fo", false},
		{"f", "g.f", false},
		// A rule written with an index means the field: it is never narrower.
		{"a.0.b", "a.b", true},
		// A first segment named like a number is a field name.
		{"0", "0.1", true},
		{"0", "1", false},
	}
	for _, c := range cases {
		if got := Covers(c.f, c.p); got != c.want {
			t.Errorf("Covers(%q, %q) = %v, want %v", c.f, c.p, got, c.want)
		}
	}
}

func TestSameAndBelow(t *testing.T) {
	if !Same("a.0.b", "a.b") || Same("a.b", "a.b.c") || !Same("f.$[]", "f") {
		t.Fatal("Same")
	}
	if !StrictlyBelow("a.b.c", "a.b") || StrictlyBelow("a.0", "a") || StrictlyBelow("a", "a.b") || !StrictlyBelow("a.0.c", "a") {
		t.Fatal("StrictlyBelow")
	}
}

func TestNormalizeAndParents(t *testing.T) {
	for in, want := range map[string]string{
		"items.0.price": "items.price", "items.$.price": "items.price", "items.$[x].price": "items.price",
		"items.$[].price": "items.price", "a.0.1.b": "a.b", "0.a": "0.a", "a": "a", "a.$[X]": "a.$[X]",
	} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string][]string{
		"f":         nil,
		"f.0":       {"f"},
		"f.$[]":     {"f"},
		"f.$[x]":    {"f"},
		"a.0.b.1.c": {"a", "a.b"},
		"a.b.$[].c": {"a", "a.b"},
		"a.b.c":     {"a", "a.b"},
		"s.0.0.0":   {"s"},
	} {
		if got := Parents(in); !reflect.DeepEqual(got, want) {
			t.Errorf("Parents(%q) = %q, want %q", in, got, want)
		}
	}
}

func BenchmarkCovers(b *testing.B) {
	for i := 0; i < b.N; i++ {
		Covers("items.secret", "items.0.1.secret.x")
	}
}

func BenchmarkCoversPlain(b *testing.B) {
	for i := 0; i < b.N; i++ {
		Covers("profile.secret", "profile.secret.x")
	}
}

func TestJoin(t *testing.T) {
	for _, c := range []struct{ prefix, name, want string }{
		{"", "a", "a"},
		{"a", "b", "a.b"},
		{"a.0", "b", "a.0.b"},
		{"a", "", "a."}, // an empty key stays visible rather than vanishing
	} {
		if got := Join(c.prefix, c.name); got != c.want {
			t.Errorf("Join(%q, %q) = %q, want %q", c.prefix, c.name, got, c.want)
		}
	}
}
