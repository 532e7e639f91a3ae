package service

import (
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
)

// checkStorable refuses a value to write that holds a BSON type the backend
// cannot store (Params.Unstorable). FerretDB v1 answers such a write by
// dropping the connection, which would reach the client as a 503 and cost
// a pooled connection; the request is the client's to change, so it is a
// 400 naming the type. Servers that store every type have an empty list and
// pay nothing.
func (s *Service) checkStorable(v any) error {
	if len(s.unstorable) == 0 {
		return nil
	}
	if t, ok := findType(v, s.unstorable, 0); ok {
		return apperr.Invalid("values of BSON type %s cannot be stored by this database backend", t).
			WithDetails(map[string]any{"type": t.String()})
	}
	return nil
}

// findType reports the first of types found at any depth of v.
func findType(v any, types []bson.Type, depth int) (bson.Type, bool) {
	if depth > 256 { // bodies are depth-limited long before this
		return 0, false
	}
	var t bson.Type
	switch x := v.(type) {
	case bson.D:
		for _, e := range x {
			if t, ok := findType(e.Value, types, depth+1); ok {
				return t, true
			}
		}
		return 0, false
	case bson.M:
		for _, e := range x {
			if t, ok := findType(e, types, depth+1); ok {
				return t, true
			}
		}
		return 0, false
	case map[string]any:
		for _, e := range x {
			if t, ok := findType(e, types, depth+1); ok {
				return t, true
			}
		}
		return 0, false
	case bson.A:
		return findInSlice(x, types, depth)
	case []any:
		return findInSlice(x, types, depth)
	case bson.Decimal128:
		t = bson.TypeDecimal128
	case bson.MinKey:
		t = bson.TypeMinKey
	case bson.MaxKey:
		t = bson.TypeMaxKey
	case bson.JavaScript:
		t = bson.TypeJavaScript
	case bson.CodeWithScope:
		t = bson.TypeCodeWithScope
	default:
		return 0, false
	}
	return t, slices.Contains(types, t)
}

func findInSlice(a []any, types []bson.Type, depth int) (bson.Type, bool) {
	for _, e := range a {
		if t, ok := findType(e, types, depth+1); ok {
			return t, true
		}
	}
	return 0, false
}
