package mongosem

import (
	"math"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

func rv(t *testing.T, v any) bson.RawValue {
	t.Helper()
	if v == nil {
		return bson.RawValue{Type: bson.TypeNull}
	}
	typ, b, err := bson.MarshalValue(v)
	if err != nil {
		t.Fatal(err)
	}
	return bson.RawValue{Type: typ, Value: b}
}

// Facts of MongoDB's value order that the in-memory check and pagination
// depend on.
func TestCompare(t *testing.T) {
	lt := [][2]any{
		{nil, int32(-100)},                               // null before numbers
		{int64(5), "5"},                                  // numbers before strings
		{"z", bson.D{{Key: "a", Value: 1}}},              // strings before documents
		{bson.D{{Key: "a", Value: 1}}, bson.A{int32(1)}}, // documents before arrays
		{bson.A{int32(1)}, bson.Binary{Data: []byte{1}}},
		{bson.ObjectID{1}, false}, // ObjectId before bool
		{true, bson.DateTime(0)},  // bool before date
		{int32(2), 2.5},           // numbers by value across types
		{int64(math.MaxInt64 - 1), int64(math.MaxInt64)},
		{math.NaN(), math.Inf(-1)},                                   // NaN sorts below every number
		{"A", "a"},                                                   // binary string order
		{bson.D{{Key: "a", Value: 1}}, bson.D{{Key: "b", Value: 0}}}, // field names, in order
		{bson.D{{Key: "a", Value: int32(1)}}, bson.D{{Key: "a", Value: int32(1)}, {Key: "b", Value: 1}}},
	}
	for _, c := range lt {
		a, b := rv(t, c[0]), rv(t, c[1])
		if Compare(a, b) >= 0 || Compare(b, a) <= 0 {
			t.Errorf("want %v < %v", c[0], c[1])
		}
	}
	eq := [][2]any{
		{int32(5), 5.0}, {int64(5), int32(5)}, {math.NaN(), math.NaN()}, {nil, nil},
		{bson.D{{Key: "a", Value: int32(1)}}, bson.D{{Key: "a", Value: 1.0}}},
	}
	for _, c := range eq {
		if !Equal(rv(t, c[0]), rv(t, c[1])) {
			t.Errorf("want %v == %v", c[0], c[1])
		}
	}
	// 2^53+1 is not a float64: an exact comparison must not round it.
	if Compare(rv(t, int64(1<<53+1)), rv(t, float64(1<<53))) <= 0 {
		t.Error("int64 2^53+1 must be greater than double 2^53")
	}
}

func TestMatchPath(t *testing.T) {
	five := EqPred(rv(t, int32(5)))
	null := EqPred(rv(t, nil))
	gt3 := CmpPred("gt", rv(t, int32(3)))
	cases := []struct {
		name string
		doc  bson.D
		path []string
		pred Pred
		miss bool
		want bool
	}{
		{"scalar", bson.D{{Key: "a", Value: int32(5)}}, []string{"a"}, five, false, true},
		{"array element", bson.D{{Key: "a", Value: bson.A{int32(1), int32(5)}}}, []string{"a"}, five, false, true},
		{"nested array is not expanded", bson.D{{Key: "a", Value: bson.A{bson.A{int32(5)}}}}, []string{"a"}, five, false, false},
		{"through array of documents", bson.D{{Key: "a", Value: bson.A{bson.D{{Key: "b", Value: int32(1)}}, bson.D{{Key: "b", Value: int32(5)}}}}}, []string{"a", "b"}, five, false, true},
		{"missing matches null", bson.D{}, []string{"a"}, null, true, true},
		{"null matches null", bson.D{{Key: "a", Value: nil}}, []string{"a"}, null, true, true},
		{"array holding null", bson.D{{Key: "a", Value: bson.A{int32(1), nil}}}, []string{"a"}, null, true, true},
		{"empty array is not null", bson.D{{Key: "a", Value: bson.A{}}}, []string{"a"}, null, true, false},
		{"document lacking the field in an array", bson.D{{Key: "a", Value: bson.A{bson.D{{Key: "b", Value: int32(1)}}, bson.D{}}}}, []string{"a", "b"}, null, true, true},
		{"every document has the field", bson.D{{Key: "a", Value: bson.A{bson.D{{Key: "b", Value: int32(1)}}}}}, []string{"a", "b"}, null, true, false},
		{"scalar where a document is expected", bson.D{{Key: "a", Value: int32(5)}}, []string{"a", "b"}, null, true, true},
		{"comparison within the bracket only", bson.D{{Key: "a", Value: "9"}}, []string{"a"}, gt3, false, false},
		{"comparison on an element", bson.D{{Key: "a", Value: bson.A{int32(1), int32(10)}}}, []string{"a"}, gt3, false, true},
	}
	for _, c := range cases {
		if got := MatchPath(testenv.Raw(t, c.doc), c.path, c.pred, c.miss); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}
