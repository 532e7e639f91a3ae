package mongosem

import (
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Pred tests one value reached by a path.
type Pred func(v bson.RawValue) bool

// MatchPath reports whether pred holds for some value that path reaches in
// doc, with MongoDB's implicit array traversal:
//   - at the end of the path, pred sees the value itself and, when the value
//     is an array, each of its elements (one level only: [[5]] does not
//     match 5);
//   - in the middle of the path, an array is entered element by element and
//     the rest of the path is followed into every element that is a document;
//     other elements (scalars, nested arrays) lead nowhere, and an array
//     holding no document at all leaves the rest of the path missing.
//
// matchMissing is the answer for a branch of the path that reaches nothing:
// true only for an equality with null, which MongoDB lets match a missing
// field.
func MatchPath(doc bson.Raw, path []string, pred Pred, matchMissing bool) bool {
	v, err := doc.LookupErr(path[0])
	if err != nil {
		return matchMissing
	}
	if len(path) == 1 {
		return MatchValue(v, pred)
	}
	switch v.Type {
	case bson.TypeEmbeddedDocument:
		return MatchPath(v.Document(), path[1:], pred, matchMissing)
	case bson.TypeArray:
		vals, err := v.Array().Values()
		if err != nil {
			return false
		}
		docs := 0
		for _, e := range vals {
			if e.Type != bson.TypeEmbeddedDocument {
				continue
			}
			docs++
			if MatchPath(e.Document(), path[1:], pred, matchMissing) {
				return true
			}
		}
		// An array with no document in it (empty, or only scalars) leaves the
		// rest of the path missing.
		return docs == 0 && matchMissing
	}
	// A scalar where the path wants a document: the rest of the path is missing.
	return matchMissing
}

// MatchValue applies pred to v and, when v is an array, to its elements.
func MatchValue(v bson.RawValue, pred Pred) bool {
	if pred(v) {
		return true
	}
	if v.Type != bson.TypeArray {
		return false
	}
	vals, err := v.Array().Values()
	if err != nil {
		return false
	}
	for _, e := range vals {
		if pred(e) {
			return true
		}
	}
	return false
}

// IsNullish reports whether v is null or undefined, the values an equality
// with null matches.
func IsNullish(v bson.RawValue) bool {
	return v.Type == bson.TypeNull || v.Type == bson.TypeUndefined
}

// EqPred is the predicate of {path: want}.
func EqPred(want bson.RawValue) Pred {
	if IsNullish(want) {
		return IsNullish
	}
	return func(v bson.RawValue) bool { return Equal(v, want) }
}

// CmpPred is the predicate of {path: {$op: want}} for op in lt, lte, gt, gte:
// only values in want's type bracket can match.
func CmpPred(op string, want bson.RawValue) Pred {
	wb := Bracket(want.Type)
	return func(v bson.RawValue) bool {
		if Bracket(v.Type) != wb {
			return false
		}
		c := Compare(v, want)
		switch op {
		case "lt":
			return c < 0
		case "lte":
			return c <= 0
		case "gt":
			return c > 0
		case "gte":
			return c >= 0
		}
		return false
	}
}
