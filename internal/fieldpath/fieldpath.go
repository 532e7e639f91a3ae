// Package fieldpath is the one definition of how a dotted path written by a
// client relates to a field named by a policy rule.
//
// A policy speaks about fields ("items.price"); a client writes positions:
// "items.0.price", "items.$.price", "items.$[].price", "items.$[x].price",
// and, for arrays of arrays, "items.0.1.price". All of those are the field
// "items.price": numeric array indexes and update positional operators are
// not field names and are ignored when a path is matched against a rule.
// Whether a path is *below* a field is decided on the path as written, so
// "f.0" and "f.$[]" are below "f" even though they name the same field:
// a write there reaches inside f's value.
//
// Every read, write and mask check goes through these functions; a second
// private notion of "covers" elsewhere is how index segments slipped past
// a check before.
package fieldpath

import "strings"

// IsIndex reports whether s is a numeric array index segment.
func IsIndex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// IsPositional reports whether s is an update positional segment: "$",
// "$[]" or "$[ident]" with the identifier syntax the server accepts (a
// lowercase letter, then letters and digits).
func IsPositional(s string) bool {
	if s == "$" || s == "$[]" {
		return true
	}
	if len(s) < 4 || !strings.HasPrefix(s, "$[") || !strings.HasSuffix(s, "]") {
		return false
	}
	id := s[2 : len(s)-1]
	if id[0] < 'a' || id[0] > 'z' {
		return false
	}
	for i := 1; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// skipped reports whether segment s of a path is ignored when matching
// rules. The first segment never is: a top-level field may be named "0".
func skipped(s string, first bool) bool {
	return !first && (IsIndex(s) || IsPositional(s))
}

// Normalize returns the field a path names: p without its index and
// positional segments ("items.0.price", "items.$[x].price" -> "items.price").
func Normalize(p string) string {
	if !strings.Contains(p, ".") {
		return p
	}
	segs := strings.Split(p, ".")
	out := segs[:1]
	for _, s := range segs[1:] {
		if !skipped(s, false) {
			out = append(out, s)
		}
	}
	return strings.Join(out, ".")
}

// iter walks the significant segments of a path without allocating.
type iter struct {
	p     string
	first bool
}

func (it *iter) next() (string, bool) {
	for it.p != "" {
		seg, rest, found := strings.Cut(it.p, ".")
		if !found {
			it.p = ""
		} else {
			it.p = rest
			if rest == "" {
				// "a." has an empty last segment; it never names a field.
				it.p = ""
			}
		}
		first := it.first
		it.first = false
		if !skipped(seg, first) {
			return seg, true
		}
	}
	return "", false
}

// relate compares the fields named by f and p: prefix is true when f's
// field is p's field or a parent of it, equal when they are the same field.
func relate(f, p string) (prefix, equal bool) {
	if plain(f) && plain(p) {
		// The common case, without the segment walk.
		if f == p {
			return true, true
		}
		return len(p) > len(f) && p[len(f)] == '.' && p[:len(f)] == f, false
	}
	a, b := iter{p: f, first: true}, iter{p: p, first: true}
	for {
		x, okx := a.next()
		y, oky := b.next()
		switch {
		case !okx:
			return true, !oky
		case !oky || x != y:
			return false, false
		}
	}
}

// plain reports whether no segment after the first of p can be an index or
// positional segment.
func plain(p string) bool {
	for i := 0; i+1 < len(p); i++ {
		if p[i] == '.' {
			if c := p[i+1]; c == '$' || (c >= '0' && c <= '9') || c == '.' {
				return false
			}
		}
	}
	return p == "" || p[len(p)-1] != '.'
}

// Covers reports whether path p is at or below field f, ignoring index and
// positional segments on both sides: "a.0.b", "a.$[].b" and "a.b.c" are
// all covered by "a.b", and "a" by "a". Rules use it to decide which paths
// they apply to.
func Covers(f, p string) bool {
	ok, _ := relate(f, p)
	return ok
}

// Same reports whether f and p name the same field ("a.0.b" and "a.b").
func Same(f, p string) bool {
	_, eq := relate(f, p)
	return eq
}

// StrictlyBelow reports whether field p is a sub-field of field f, not f
// itself ("a.b.c" is strictly below "a.b"; "a.0" is not below "a": it
// names the same field).
func StrictlyBelow(p, f string) bool {
	ok, eq := relate(f, p)
	return ok && !eq
}

// Parents returns the fields whose value a write at path p (as written)
// reaches into: the field of every proper prefix of p, normalised and
// without duplicates, shallowest first. "a.0" has parent "a" (the write
// changes an element inside a's value); "a.b.$[].c" has parents "a", "a.b"
// and "a.b" once more as the array itself, listed once.
func Parents(p string) []string {
	var out []string
	for i := 0; i < len(p); i++ {
		if p[i] != '.' {
			continue
		}
		n := Normalize(p[:i])
		if len(out) == 0 || out[len(out)-1] != n {
			out = append(out, n)
		}
	}
	return out
}

// Join names field name inside the document at path prefix; an empty prefix
// is the top level. Walkers of nested documents build the paths they report
// and check with it, so that a failure, a mask and a rule all speak of the
// same string.
func Join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}
