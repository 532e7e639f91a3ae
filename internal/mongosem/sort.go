package mongosem

import (
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// SortField is one key of a sort: a dotted path and a direction.
type SortField struct {
	Path []string
	Desc bool
}

// emptyArrayKey is the sort key of an empty array: MongoDB sorts [] before
// null and missing values.
var emptyArrayKey = bson.RawValue{Type: bson.TypeUndefined}

var nullKey = bson.RawValue{Type: bson.TypeNull}

// SortKey is the value MongoDB sorts doc by for one sort field: the value at
// the path, null when missing, and for an array its smallest element
// (ascending) or largest (descending).
func SortKey(doc bson.Raw, f SortField) bson.RawValue {
	var vals []bson.RawValue
	sawEmpty := false
	collect(doc, f.Path, &vals, &sawEmpty)
	if len(vals) == 0 {
		if sawEmpty {
			return emptyArrayKey
		}
		return nullKey
	}
	best := vals[0]
	for _, v := range vals[1:] {
		c := Compare(v, best)
		if (!f.Desc && c < 0) || (f.Desc && c > 0) {
			best = v
		}
	}
	return best
}

func collect(doc bson.Raw, path []string, out *[]bson.RawValue, sawEmpty *bool) {
	v, err := doc.LookupErr(path[0])
	if err != nil {
		return
	}
	if len(path) == 1 {
		if v.Type == bson.TypeArray {
			vals, _ := v.Array().Values()
			if len(vals) == 0 {
				*sawEmpty = true
			}
			*out = append(*out, vals...)
			return
		}
		*out = append(*out, v)
		return
	}
	switch v.Type {
	case bson.TypeEmbeddedDocument:
		collect(v.Document(), path[1:], out, sawEmpty)
	case bson.TypeArray:
		vals, _ := v.Array().Values()
		for _, e := range vals {
			if e.Type == bson.TypeEmbeddedDocument {
				collect(e.Document(), path[1:], out, sawEmpty)
			}
		}
	}
}

// CompareKeys orders two documents' sort keys under spec: negative when a
// comes first.
func CompareKeys(a, b []bson.RawValue, spec []SortField) int {
	for i, f := range spec {
		c := Compare(a[i], b[i])
		if c != 0 {
			if f.Desc {
				return -c
			}
			return c
		}
	}
	return 0
}

// Keys returns doc's sort keys under spec.
func Keys(doc bson.Raw, spec []SortField) []bson.RawValue {
	out := make([]bson.RawValue, len(spec))
	for i, f := range spec {
		out[i] = SortKey(doc, f)
	}
	return out
}

// bracketTypes lists the $type names of each bracket, in bracket order.
// Deprecated types (symbol, javascript) are left out: FerretDB refuses their
// names, and values of those types cannot be written through the proxy.
var bracketTypes = []struct {
	bracket int
	names   []string
}{
	{10, []string{"number"}},
	{15, []string{"string"}},
	{20, []string{"object"}},
	{30, []string{"binData"}},
	{35, []string{"objectId"}},
	{40, []string{"bool"}},
	{45, []string{"date"}},
	{47, []string{"timestamp"}},
	{50, []string{"regex"}},
}

// typesWhere lists the $type names of the brackets for which keep is true.
func typesWhere(keep func(bracket int) bool) bson.A {
	var out bson.A
	for _, bt := range bracketTypes {
		if keep(bt.bracket) {
			for _, n := range bt.names {
				out = append(out, n)
			}
		}
	}
	return out
}

// AfterFilter returns a filter matching every document that sorts strictly
// after the position keys under spec (the last field of spec must be a
// unique one, such as _id). It may also match documents whose array values
// make the server's operators looser than the sort order: callers must drop,
// with CompareKeys, the documents that do not sort after the position.
func AfterFilter(spec []SortField, keys []bson.RawValue) bson.D {
	var or bson.A
	for i := range spec {
		var and bson.A
		for j := 0; j < i; j++ {
			and = append(and, eqClause(spec[j], keys[j]))
		}
		and = append(and, afterClause(spec[i], keys[i]))
		if len(and) == 1 {
			or = append(or, and[0])
		} else {
			or = append(or, bson.D{{Key: "$and", Value: and}})
		}
	}
	if len(or) == 1 {
		return or[0].(bson.D)
	}
	return bson.D{{Key: "$or", Value: or}}
}

func join(p []string) string {
	s := p[0]
	for _, x := range p[1:] {
		s += "." + x
	}
	return s
}

func rawOf(v bson.RawValue) bson.RawValue { return v }

// eqClause matches documents whose sort key may equal v.
func eqClause(f SortField, v bson.RawValue) bson.D {
	path := join(f.Path)
	switch v.Type {
	case bson.TypeUndefined:
		return bson.D{{Key: path, Value: bson.D{{Key: "$size", Value: 0}}}}
	case bson.TypeNull:
		return bson.D{{Key: path, Value: bson.D{{Key: "$eq", Value: nil}}}}
	}
	return bson.D{{Key: path, Value: bson.D{{Key: "$eq", Value: rawOf(v)}}}}
}

// afterClause matches documents whose sort key may come strictly after v in
// f's direction.
func afterClause(f SortField, v bson.RawValue) bson.D {
	path := join(f.Path)
	b := Bracket(v.Type)
	if v.Type == bson.TypeUndefined { // after [] ascending: anything; descending: nothing but [] — handled by eq
		if f.Desc {
			return bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{}}}}}
		}
		return bson.D{{Key: path, Value: bson.D{{Key: "$not", Value: bson.D{{Key: "$size", Value: 0}}}}}}
	}
	var or bson.A
	if !f.Desc {
		if b != 5 {
			or = append(or, bson.D{{Key: path, Value: bson.D{{Key: "$gt", Value: rawOf(v)}}}})
		}
		if types := typesWhere(func(x int) bool { return x > b }); len(types) > 0 {
			or = append(or, bson.D{{Key: path, Value: bson.D{{Key: "$type", Value: types}}}})
		}
	} else {
		if b != 5 {
			or = append(or, bson.D{{Key: path, Value: bson.D{{Key: "$lt", Value: rawOf(v)}}}})
		}
		if types := typesWhere(func(x int) bool { return x < b }); len(types) > 0 {
			or = append(or, bson.D{{Key: path, Value: bson.D{{Key: "$type", Value: types}}}})
		}
		if b > 5 { // null and missing sort before every typed value
			or = append(or, bson.D{{Key: path, Value: bson.D{{Key: "$eq", Value: nil}}}})
		}
		// empty arrays sort before null
		or = append(or, bson.D{{Key: path, Value: bson.D{{Key: "$size", Value: 0}}}})
	}
	switch len(or) {
	case 0:
		return bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{}}}}}
	case 1:
		return or[0].(bson.D)
	}
	return bson.D{{Key: "$or", Value: or}}
}

// AppendValue appends v as an element of an array or document under key.
func AppendValue(dst []byte, key string, v bson.RawValue) []byte {
	dst = bsoncore.AppendHeader(dst, bsoncore.Type(v.Type), key)
	return append(dst, v.Value...)
}
