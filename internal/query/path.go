package query

import (
	"strings"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/fieldpath"
)

// NormalizePath turns a path as written by a client into the field the
// policy speaks about (fieldpath.Normalize): numeric array indexes and
// update positional operators ($, $[], $[ident]) are removed, so
// "items.0.price", "items.$.price" and "items.$[x].price" are all checked
// as "items.price". A numeric first segment is kept: it can only be a field
// literally named like a number. Whether such a path reaches *below* a
// field is a separate question (fieldpath.Parents): "f.0" names f but
// writes inside it.
func NormalizePath(p string) string { return fieldpath.Normalize(p) }

// pathStyle selects which segments a path may contain.
type pathStyle int

const (
	// styleField: filter and document paths. Segments may not start with
	// '$' (the server gives those meaning, e.g. DBRef's $id).
	styleField pathStyle = iota
	// styleStrict: sort and projection paths. No '$' anywhere, as the HTTP
	// contract says, because projections interpret "a.$" positionally.
	styleStrict
	// styleUpdate: update paths. '$' only as a whole positional segment,
	// never first.
	styleUpdate
)

// Path size limits. Nothing real comes near them; they keep the per-path
// work (splitting, prefix sets) trivially bounded on hostile input.
const (
	maxPathLength   = 1024
	maxPathSegments = 100
)

// validatePath checks a dotted path. what names the context for messages.
func validatePath(p, what string, style pathStyle) error {
	if p == "" {
		return apperr.Invalid("%s: empty field name", what)
	}
	if len(p) > maxPathLength {
		return apperr.Invalid("%s: field name is %d bytes, over the limit of %d", what, len(p), maxPathLength)
	}
	if strings.Count(p, ".") >= maxPathSegments {
		return apperr.Invalid("%s: field name has more than %d segments", what, maxPathSegments)
	}
	if strings.ContainsRune(p, 0) {
		return apperr.Invalid("%s: field name %q contains a NUL byte", what, p)
	}
	if strings.HasPrefix(p, ".") || strings.HasSuffix(p, ".") || strings.Contains(p, "..") {
		return apperr.Invalid("%s: field name %q has an empty path segment", what, p)
	}
	if style == styleStrict && strings.Contains(p, "$") {
		return apperr.Invalid("%s: field name %q must not contain '$'", what, p)
	}
	for i, s := range strings.Split(p, ".") {
		if !strings.HasPrefix(s, "$") {
			continue
		}
		if style == styleUpdate && i > 0 && fieldpath.IsPositional(s) {
			continue
		}
		if style == styleUpdate && fieldpath.IsPositional(s) {
			return apperr.Invalid("%s: field name %q cannot start with a positional operator", what, p)
		}
		return apperr.Invalid("%s: path segment %q in %q must not start with '$'", what, s, p)
	}
	return nil
}

// pathSet is an ordered set of paths.
type pathSet struct {
	list []string
	seen map[string]struct{}
}

func (s *pathSet) add(p string) bool {
	if s.seen == nil {
		s.seen = map[string]struct{}{}
	}
	if _, ok := s.seen[p]; ok {
		return false
	}
	s.seen[p] = struct{}{}
	s.list = append(s.list, p)
	return true
}
