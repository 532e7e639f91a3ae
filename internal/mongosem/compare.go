// Package mongosem reproduces the parts of MongoDB's query semantics that the
// proxy must evaluate itself: the cross-type ordering of BSON values and the
// way a dotted path reaches values inside documents and arrays.
//
// The policy engine uses it for the in-memory check of a document, which must
// give the same answer as the MongoDB filter it also emits; pagination uses it
// to order sort keys exactly as the server does.
package mongosem

import (
	"bytes"
	"cmp"
	"math"
	"math/big"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Bracket is the canonical type order of MongoDB: values of different
// brackets never compare equal, and comparison operators ($lt, $gt, ...) only
// match values of the query value's bracket.
func Bracket(t bson.Type) int {
	switch t {
	case bson.TypeMinKey:
		return -1
	case bson.TypeUndefined:
		return 0
	case bson.TypeNull:
		return 5
	case bson.TypeDouble, bson.TypeInt32, bson.TypeInt64, bson.TypeDecimal128:
		return 10
	case bson.TypeString, bson.TypeSymbol:
		return 15
	case bson.TypeEmbeddedDocument:
		return 20
	case bson.TypeArray:
		return 25
	case bson.TypeBinary:
		return 30
	case bson.TypeObjectID:
		return 35
	case bson.TypeBoolean:
		return 40
	case bson.TypeDateTime:
		return 45
	case bson.TypeTimestamp:
		return 47
	case bson.TypeRegex:
		return 50
	case bson.TypeDBPointer:
		return 55
	case bson.TypeJavaScript:
		return 60
	case bson.TypeCodeWithScope:
		return 65
	case bson.TypeMaxKey:
		return 127
	}
	return 200
}

// Compare orders two BSON values the way MongoDB sorts them: first by
// bracket, then by value within it. Numbers of different BSON types compare
// by numeric value (int32(5) == 5.0).
func Compare(a, b bson.RawValue) int {
	ba, bb := Bracket(a.Type), Bracket(b.Type)
	if ba != bb {
		return cmp.Compare(ba, bb)
	}
	switch ba {
	case 0, 5, -1, 127: // undefined, null, minkey, maxkey: one value each
		return 0
	case 10:
		return compareNumbers(a, b)
	case 15:
		return bytes.Compare(stringBytes(a), stringBytes(b))
	case 20:
		return compareDocs(a.Value, b.Value, true)
	case 25:
		return compareDocs(a.Value, b.Value, false)
	case 30:
		sa, da, _ := a.BinaryOK()
		sb, db, _ := b.BinaryOK()
		if len(da) != len(db) {
			return cmp.Compare(len(da), len(db))
		}
		if sa != sb {
			return cmp.Compare(int(sa), int(sb))
		}
		return bytes.Compare(da, db)
	case 40:
		x, _ := a.BooleanOK()
		y, _ := b.BooleanOK()
		return cmp.Compare(b2i(x), b2i(y))
	case 45:
		x, _ := a.DateTimeOK()
		y, _ := b.DateTimeOK()
		return cmp.Compare(x, y)
	case 47:
		t1, i1, _ := a.TimestampOK()
		t2, i2, _ := b.TimestampOK()
		return cmp.Or(cmp.Compare(t1, t2), cmp.Compare(i1, i2))
	case 50:
		p1, o1, _ := a.RegexOK()
		p2, o2, _ := b.RegexOK()
		return cmp.Or(cmp.Compare(p1, p2), cmp.Compare(o1, o2))
	}
	// ObjectID, DBPointer, code: byte order of the encoded value is the
	// server's order for ObjectIDs and a stable order for the rest.
	return bytes.Compare(a.Value, b.Value)
}

// Equal reports whether two values are equal under MongoDB's equality
// (numeric types compare by value; documents compare field by field in order).
func Equal(a, b bson.RawValue) bool { return Compare(a, b) == 0 }

func stringBytes(v bson.RawValue) []byte {
	// String and symbol share the encoding: int32 length, bytes, NUL.
	if len(v.Value) < 5 {
		return nil
	}
	return v.Value[4 : len(v.Value)-1]
}

func compareDocs(a, b []byte, withNames bool) int {
	ea, erra := bson.Raw(a).Elements()
	eb, errb := bson.Raw(b).Elements()
	if erra != nil || errb != nil {
		return bytes.Compare(a, b)
	}
	for i := 0; i < len(ea) && i < len(eb); i++ {
		va, vb := ea[i].Value(), eb[i].Value()
		if c := cmp.Compare(Bracket(va.Type), Bracket(vb.Type)); c != 0 {
			return c
		}
		if withNames {
			if c := cmp.Compare(ea[i].Key(), eb[i].Key()); c != 0 {
				return c
			}
		}
		if c := Compare(va, vb); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(ea), len(eb))
}

// numeric is a BSON number in the widest form needed to compare it exactly.
type numeric struct {
	isInt bool
	i     int64
	f     float64
	dec   *big.Float // only for Decimal128 values
	nan   bool
}

func toNumeric(v bson.RawValue) numeric {
	switch v.Type {
	case bson.TypeInt32:
		x, _ := v.Int32OK()
		return numeric{isInt: true, i: int64(x)}
	case bson.TypeInt64:
		x, _ := v.Int64OK()
		return numeric{isInt: true, i: x}
	case bson.TypeDouble:
		x, _ := v.DoubleOK()
		return numeric{f: x, nan: math.IsNaN(x)}
	case bson.TypeDecimal128:
		d, _ := v.Decimal128OK()
		s := d.String()
		if s == "NaN" || s == "-NaN" {
			return numeric{nan: true}
		}
		bf, _, err := big.ParseFloat(s, 10, 200, big.ToNearestEven)
		if err != nil {
			// Infinity spellings.
			switch s {
			case "Infinity", "+Infinity", "Inf":
				return numeric{f: math.Inf(1)}
			case "-Infinity", "-Inf":
				return numeric{f: math.Inf(-1)}
			}
			return numeric{nan: true}
		}
		return numeric{dec: bf}
	}
	return numeric{nan: true}
}

// compareNumbers orders numbers exactly (no float rounding of large int64s);
// NaN sorts below every other number and equals itself, as in MongoDB.
func compareNumbers(a, b bson.RawValue) int {
	x, y := toNumeric(a), toNumeric(b)
	if x.nan || y.nan {
		return cmp.Compare(b2i(!x.nan), b2i(!y.nan))
	}
	if x.isInt && y.isInt {
		return cmp.Compare(x.i, y.i)
	}
	return x.big().Cmp(y.big())
}

func (n numeric) big() *big.Float {
	switch {
	case n.dec != nil:
		return n.dec
	case n.isInt:
		return new(big.Float).SetInt64(n.i)
	}
	return new(big.Float).SetFloat64(n.f)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
