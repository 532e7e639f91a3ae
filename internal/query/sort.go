package query

import (
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
)

// MaxSortKeys is the server's own limit on sort keys; checking it here turns
// a driver error into a clear 400.
const MaxSortKeys = 32

// ParseSort turns ["name", "-created_at"] into {name: 1, created_at: -1, _id: -1}.
//
// _id is appended as the final tie-breaker unless already present, with the
// direction of the last key (ascending when there is none), because cursor
// pagination needs a total order and keeping one direction lets a compound
// index serve the sort. Field names are validated like projections (no '$',
// no empty segments); duplicates are refused rather than silently merged,
// since "name,-name" has no sensible meaning.
//
// The returned keys are the paths as written; callers check readability with
// NormalizePath(key).
func ParseSort(spec []string) (bson.D, error) {
	if len(spec) > MaxSortKeys {
		return nil, apperr.Invalid("sort: at most %d keys are allowed, got %d", MaxSortKeys, len(spec))
	}
	out := make(bson.D, 0, len(spec)+1)
	seen := map[string]bool{}
	dir := 1
	for _, s := range spec {
		field, d := s, 1
		if strings.HasPrefix(s, "-") {
			field, d = s[1:], -1
		}
		if strings.HasPrefix(field, "-") {
			return nil, apperr.Invalid("sort: %q has more than one '-'", s)
		}
		if err := validatePath(field, "sort", styleStrict); err != nil {
			return nil, err
		}
		if seen[field] {
			return nil, apperr.Invalid("sort: field %q appears more than once", field)
		}
		seen[field] = true
		out = append(out, bson.E{Key: field, Value: d})
		dir = d
	}
	if !seen["_id"] {
		out = append(out, bson.E{Key: "_id", Value: dir})
	}
	return out, nil
}

// ParseSortParam parses the query-string form "name,-created_at". Spaces
// around entries are ignored; an empty string means "no sort" and yields
// only the _id tie-breaker; an empty entry ("a,,b") is an error.
func ParseSortParam(s string) (bson.D, error) {
	return ParseSort(splitList(s))
}

// ParseFields parses the query-string projection "a,b.c". An empty string
// yields nil (no projection). Names are validated like sort keys; a
// duplicate or an overlap ("a" with "a.b") is refused because the server
// rejects such projections with a path collision error.
func ParseFields(s string) ([]string, error) {
	return ParseFieldList(splitList(s))
}

// ParseFieldList is ParseFields for a projection given as a JSON array.
func ParseFieldList(fields []string) ([]string, error) {
	if len(fields) == 0 {
		return nil, nil
	}
	out := make([]string, 0, len(fields))
	set := map[string]bool{}
	for _, f := range fields {
		if err := validatePath(f, "fields", styleStrict); err != nil {
			return nil, err
		}
		if strings.HasPrefix(f, "-") {
			// Looks like an exclusion, which the contract does not offer;
			// treating it as a field name would silently return less.
			return nil, apperr.Invalid("fields: %q: exclusions are not supported, list the fields to return", f)
		}
		if set[f] {
			return nil, apperr.Invalid("fields: %q appears more than once", f)
		}
		set[f] = true
		out = append(out, f)
	}
	for _, f := range out {
		for p := f; ; {
			i := strings.LastIndexByte(p, '.')
			if i < 0 {
				break
			}
			p = p[:i]
			if set[p] {
				return nil, apperr.Invalid("fields: %q and %q overlap", p, f)
			}
		}
	}
	return out, nil
}

func splitList(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	parts := strings.Split(s, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}
