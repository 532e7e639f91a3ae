package cursor

import (
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/mongosem"
)

// Position is where the next page starts: the sort key values of the last
// document of the previous page, one per sort key (the _id tie-breaker
// included). Missing[i] is true when the document had no value at that key;
// MongoDB sorts a missing field like null.
type Position struct {
	Values  []bson.RawValue
	Missing []bool
}

// PositionOf extracts the sort key values of doc for sort, the way MongoDB
// computes sort keys: a path that reaches several values (arrays, or arrays of
// documents on the way) sorts by the smallest of them for an ascending key
// and the largest for a descending one; a branch of the path that reaches
// nothing counts as null, and null, undefined and missing sort as one value
// (Missing).
//
// An empty array sorts below null, as in MongoDB: its key is the
// undefined value, whose type bracket is the one just below null's.
func PositionOf(doc bson.Raw, sort bson.D) Position {
	p := Position{Values: make([]bson.RawValue, len(sort)), Missing: make([]bool, len(sort))}
	for i, k := range sort {
		positionAt(p, i, doc, strings.Split(k.Key, "."), direction(k.Value) < 0)
	}
	return p
}

// positionAt sets p's key i: doc's value on path.
func positionAt(p Position, i int, doc bson.Raw, path []string, desc bool) {
	w := keyWalk{desc: desc}
	w.walk(doc, path)
	if !w.found || w.best.Type == bson.TypeNull {
		p.Values[i], p.Missing[i] = bson.RawValue{}, true
		return
	}
	p.Values[i], p.Missing[i] = w.best, false
}

// A Keyer takes the positions of many documents under one sort, as fetchAfter
// does for every document of a page after a cursor: the sort's paths are
// split once, and one Position is reused.
type Keyer struct {
	paths [][]string
	desc  []bool
	// emptyAsNull is the codec's Order.EmptyArrayAsNull.
	emptyAsNull bool
	p           Position
}

// Keyer returns a Keyer for sort in the codec's Order.
func (c *Codec) Keyer(sort bson.D) *Keyer {
	k := &Keyer{paths: make([][]string, len(sort)), desc: make([]bool, len(sort)), emptyAsNull: c.EmptyArrayAsNull,
		p: Position{Values: make([]bson.RawValue, len(sort)), Missing: make([]bool, len(sort))}}
	for i, e := range sort {
		k.paths[i], k.desc[i] = strings.Split(e.Key, "."), direction(e.Value) < 0
	}
	return k
}

// Of is Codec.PositionOf(doc, sort); the Position it returns is valid until
// the next call (copy it to keep it).
func (k *Keyer) Of(doc bson.Raw) Position {
	for i, path := range k.paths {
		positionAt(k.p, i, doc, path, k.desc[i])
	}
	if k.emptyAsNull {
		emptyAsNull(k.p)
	}
	return k.p
}

var nullValue = bson.RawValue{Type: bson.TypeNull}

// emptyArrayKey is the sort key of an empty array.
var emptyArrayKey = bson.RawValue{Type: bson.TypeUndefined}

func isEmptyArrayKey(v bson.RawValue) bool { return v.Type == bson.TypeUndefined }

// keyWalk finds the value a document sorts by on a path (a method set
// rather than closures, which cost two allocations per document).
type keyWalk struct {
	best  bson.RawValue
	found bool
	desc  bool
}

func (w *keyWalk) consider(v bson.RawValue) {
	if v.Type == bson.TypeNull || (v.Type == bson.TypeUndefined && v.Value != nil) {
		v = nullValue // a stored undefined sorts like null; the empty-array key has no bytes
	}
	if !w.found {
		w.best, w.found = v, true
		return
	}
	c := mongosem.Compare(v, w.best)
	if (w.desc && c > 0) || (!w.desc && c < 0) {
		w.best = v
	}
}

func (w *keyWalk) walk(d bson.Raw, p []string) {
	v, err := d.LookupErr(p[0])
	if err != nil {
		w.consider(nullValue)
		return
	}
	if len(p) == 1 {
		if v.Type != bson.TypeArray {
			w.consider(v)
			return
		}
		vals, _ := v.Array().Values()
		if len(vals) == 0 {
			w.consider(emptyArrayKey)
		}
		for _, e := range vals {
			w.consider(e)
		}
		return
	}
	switch v.Type {
	case bson.TypeEmbeddedDocument:
		w.walk(v.Document(), p[1:])
	case bson.TypeArray:
		vals, _ := v.Array().Values()
		docs := 0
		for _, e := range vals {
			if e.Type == bson.TypeEmbeddedDocument {
				docs++
				w.walk(e.Document(), p[1:])
			}
		}
		if docs == 0 {
			w.consider(nullValue)
		}
	default:
		w.consider(nullValue)
	}
}

// ComparePositions orders two positions under sort (directions applied):
// negative when a comes first.
func ComparePositions(a, b Position, sort bson.D) int {
	for i, k := range sort {
		va, vb := nullValue, nullValue
		if !a.Missing[i] {
			va = a.Values[i]
		}
		if !b.Missing[i] {
			vb = b.Values[i]
		}
		c := mongosem.Compare(va, vb)
		if direction(k.Value) < 0 {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

func direction(v any) int {
	switch n := v.(type) {
	case int:
		return n
	case int32:
		return int(n)
	case int64:
		return int(n)
	case float64:
		return int(n)
	}
	return 1
}

// sortableTypes are the BSON types a sort value can have, with their
// $type numbers. Arrays are absent: MongoDB sorts an array by one of its
// elements, never as an array. Deprecated types (undefined, DBPointer,
// symbol, code with scope) are absent too: they cannot be written through
// this API's Extended JSON input, and some backends refuse them in $type.
var sortableTypes = []bson.Type{
	bson.TypeMinKey, bson.TypeNull, bson.TypeDouble, bson.TypeInt32, bson.TypeInt64,
	bson.TypeDecimal128, bson.TypeString, bson.TypeEmbeddedDocument, bson.TypeBinary,
	bson.TypeObjectID, bson.TypeBoolean, bson.TypeDateTime, bson.TypeTimestamp,
	bson.TypeRegex, bson.TypeJavaScript, bson.TypeMaxKey,
}

// nullBracket is the bracket of null and of a missing field.
var nullBracket = mongosem.Bracket(bson.TypeNull)

// emptyBracket is the bracket of the empty-array key (undefined's).
var emptyBracket = mongosem.Bracket(bson.TypeUndefined)

// typesBeyond lists the $type numbers of the brackets strictly after b in the
// given direction, leaving out types the backend cannot store.
func typesBeyond(b int, desc bool, skip []bson.Type) bson.A {
	var out bson.A
	for _, t := range sortableTypes {
		if slices.Contains(skip, t) {
			continue
		}
		tb := mongosem.Bracket(t)
		if tb == nullBracket {
			continue // null and missing are handled by an equality with null
		}
		if (!desc && tb > b) || (desc && tb < b) {
			out = append(out, int32(typeNumber(t)))
		}
	}
	return out
}

func typeNumber(t bson.Type) int {
	if t == bson.TypeMinKey {
		return -1
	}
	return int(t)
}

// After returns a filter selecting the documents that come strictly after p
// in the order sort (whose last key is _id, which makes the order total):
//
//	k1 > v1  OR  (k1 = v1 AND k2 > v2)  OR ...  OR  (k1 = v1 AND ... AND _id > id)
//
// where "k > v" also covers values in later type brackets (MongoDB compares
// across types by bracket, but its $gt only matches within v's bracket), and
// null/missing are placed where MongoDB sorts them: before every other value
// except MinKey. For scalar sort values this is exact, whatever mix of types,
// nulls and missing fields the collection holds. For array-valued sort
// fields it selects a superset (an array matches $gt when any element does,
// but sorts by its smallest): callers drop the documents at or before p with
// ComparePositions.
//
// skip lists BSON types the backend cannot store (see Codec.Unstorable); they
// are left out of the $type lists, because a backend that cannot store a type
// may also refuse to name it in $type.
func After(sort bson.D, p Position, skip []bson.Type) bson.D {
	return after(sort, p, Order{Unstorable: skip})
}

func after(sort bson.D, p Position, o Order) bson.D {
	var or bson.A
	for i := range sort {
		var and bson.A
		for j := 0; j < i; j++ {
			and = append(and, equal(sort[j].Key, p, j, o))
		}
		and = append(and, beyond(sort[i].Key, p, i, direction(sort[i].Value) < 0, o))
		if len(and) == 1 {
			or = append(or, and[0])
		} else {
			or = append(or, bson.D{{Key: "$and", Value: and}})
		}
	}
	return bson.D{{Key: "$or", Value: or}}
}

func equal(key string, p Position, i int, o Order) bson.D {
	if p.Missing[i] {
		// {k: null} matches null and missing, which sort as one value.
		if o.EmptyArrayAsNull {
			return bson.D{{Key: "$or", Value: bson.A{bson.D{{Key: key, Value: nil}}, emptyArray(key)}}}
		}
		return bson.D{{Key: key, Value: nil}}
	}
	if isEmptyArrayKey(p.Values[i]) {
		return emptyArray(key)
	}
	return bson.D{{Key: key, Value: bson.D{{Key: "$eq", Value: p.Values[i]}}}}
}

func emptyArray(key string) bson.D {
	return bson.D{{Key: key, Value: bson.D{{Key: "$size", Value: 0}}}}
}

// beyond selects values of key strictly after position i's value.
func beyond(key string, p Position, i int, desc bool, o Order) bson.D {
	var alts bson.A
	b := nullBracket
	if !p.Missing[i] {
		v := p.Values[i]
		b = mongosem.Bracket(v.Type)
		if b != mongosem.Bracket(bson.TypeMinKey) && b != mongosem.Bracket(bson.TypeMaxKey) && !isEmptyArrayKey(v) {
			op := "$gt"
			if desc {
				op = "$lt"
			}
			alts = append(alts, bson.D{{Key: key, Value: bson.D{{Key: op, Value: v}}}})
		}
	}
	if types := typesBeyond(b, desc, o.Unstorable); len(types) > 0 {
		alts = append(alts, bson.D{{Key: key, Value: bson.D{{Key: "$type", Value: types}}}})
	}
	if (desc && b > nullBracket) || (!desc && b < nullBracket) {
		// Null and missing sort just above MinKey: after every bracket
		// above null when descending, after MinKey when ascending.
		alts = append(alts, bson.D{{Key: key, Value: nil}})
		if o.EmptyArrayAsNull {
			alts = append(alts, emptyArray(key))
		}
	}
	if !o.EmptyArrayAsNull && ((desc && b >= nullBracket) || (!desc && b < emptyBracket)) {
		// Empty arrays sort between MinKey and null.
		alts = append(alts, emptyArray(key))
	}
	switch len(alts) {
	case 0:
		// Nothing sorts after this value: match nothing. _id always exists.
		return bson.D{{Key: "_id", Value: bson.D{{Key: "$exists", Value: false}}}}
	case 1:
		return alts[0].(bson.D)
	}
	return bson.D{{Key: "$or", Value: alts}}
}

// After is the package function After in the codec's Order.
func (c *Codec) After(sort bson.D, p Position) bson.D { return after(sort, p, c.Order) }

// PositionOf is the package function PositionOf in the codec's Order.
func (c *Codec) PositionOf(doc bson.Raw, sort bson.D) Position {
	p := PositionOf(doc, sort)
	if c.EmptyArrayAsNull {
		emptyAsNull(p)
	}
	return p
}

// Order is how the connected backend's sort order departs from MongoDB's,
// which keyset filters must follow or pages skip documents. The zero value is
// MongoDB's order.
type Order struct {
	// Unstorable lists BSON types the backend cannot store and refuses to
	// name in $type; keyset filters leave them out.
	Unstorable []bson.Type
	// EmptyArrayAsNull: the backend sorts an empty array as null (tied with
	// null and missing fields, then by _id) instead of below null.
	EmptyArrayAsNull bool
}

// FerretDBUnstorable are the types the FerretDB backend (v1, SQLite) cannot
// store and refuses in $type: Decimal128, MinKey, MaxKey and JavaScript.
var FerretDBUnstorable = []bson.Type{bson.TypeDecimal128, bson.TypeMinKey, bson.TypeMaxKey, bson.TypeJavaScript}

// OrderOf returns the sort order of a backend by the name store.Probe
// reports: FerretDB v1 cannot store some types; FerretDB v2 on DocumentDB
// sorts empty arrays as null (measured with the driver: ascending on a field
// holding MinKey, [null], [], missing and null gives MinKey, then the other
// four by _id). Unknown names get MongoDB's order.
func OrderOf(backend string) Order {
	switch backend {
	case "ferretdb":
		return Order{Unstorable: FerretDBUnstorable}
	case "documentdb":
		return Order{EmptyArrayAsNull: true}
	}
	return Order{}
}

// emptyAsNull makes p's empty-array keys missing, for a backend that sorts
// an empty array like null (Order.EmptyArrayAsNull).
func emptyAsNull(p Position) {
	for i, v := range p.Values {
		if !p.Missing[i] && isEmptyArrayKey(v) {
			p.Values[i], p.Missing[i] = bson.RawValue{}, true
		}
	}
}
