package jsonscan

import (
	"errors"
	"io"
	"testing"
)

// scan runs a whole input and returns the first error other than the end.
func scan(in string) (maxDepth int, err error) {
	sc := New([]byte(in))
	for {
		if _, err := sc.Next(); err != nil {
			if errors.Is(err, io.EOF) {
				return maxDepth, nil
			}
			return maxDepth, err
		}
		maxDepth = max(maxDepth, sc.Depth())
	}
}

func TestDuplicateKeys(t *testing.T) {
	for _, c := range []struct {
		in  string
		dup string // "" when the input is fine
	}{
		{`{"a": 1, "b": 2}`, ""},
		{`{"a": 1, "a": 2}`, "a"},
		{`{"a": {"b": 1, "b": 2}}`, "b"},
		{`{"sub": 1, "\u0073ub": 2}`, "sub"},               // equal after unescaping
		{`{"a": {"x": 1}, "b": {"x": 2}}`, ""},             // siblings have their own keys
		{`{"a": ["a", "a", {"a": 1}]}`, ""},                // array elements are values, not keys
		{`[{"k": 1}, {"k": 2}]`, ""},                       // each object starts afresh
		{`{"a": "b", "b": "a"}`, ""},                       // a value equal to a key is no key
		{`{"a": {}, "b": [], "a": null}`, "a"},             // empty containers complete a value
		{`{"a": [1, [2, {"b": 3}]], "c": 4, "c": 5}`, "c"}, // keys resume after nested arrays
	} {
		_, err := scan(c.in)
		var dup *DuplicateKeyError
		switch {
		case c.dup == "" && err != nil:
			t.Errorf("%s: %v", c.in, err)
		case c.dup != "" && (!errors.As(err, &dup) || dup.Key != c.dup):
			t.Errorf("%s: got %v, want the duplicate %q", c.in, err, c.dup)
		}
	}
}

func TestDepthAndSyntax(t *testing.T) {
	if d, err := scan(`{"a": [[{"b": 1}]], "c": 2}`); err != nil || d != 4 {
		t.Fatalf("depth %d, %v; want 4", d, err)
	}
	sc := New([]byte(`{"a": [1`))
	for {
		_, err := sc.Next()
		if err != nil {
			if sc.Depth() != 2 {
				t.Fatalf("depth %d at the cut, want 2", sc.Depth())
			}
			break
		}
	}
	if _, err := scan(`{"a" 1}`); err == nil {
		t.Fatal("a syntax error passed")
	}
}
