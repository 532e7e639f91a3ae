package service

import (
	"bytes"
	"math"
	"math/rand"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/permission-mongo/permission-mongo/internal/cursor"
)

// rawDoc is {key: v} through appendValue; ok false when it declined.
func rawDoc(key string, v any) (bson.Raw, bool) {
	idx, dst := bsoncore.AppendDocumentStart(nil)
	dst, ok := appendValue(dst, key, v)
	if !ok {
		return nil, false
	}
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst, true
}

// randomValue builds filter-like trees of the types appendValue writes and
// a few it must leave to the driver.
func randomValue(r *rand.Rand, depth int) any {
	n := 14
	if depth > 3 {
		n = 10 // no more containers
	}
	switch r.Intn(n) {
	case 0:
		return nil
	case 1:
		return []string{"", "a", "x\x00y", "\xff not utf-8", "é✓"}[r.Intn(5)]
	case 2:
		return r.Intn(2) == 0
	case 3:
		return int32(r.Intn(1 << 20))
	case 4:
		return []int64{0, -1, math.MaxInt64, math.MinInt64}[r.Intn(4)]
	case 5:
		return []int{0, 1, -1, math.MaxInt32, math.MaxInt32 + 1, math.MinInt32, math.MinInt32 - 1, math.MaxInt64}[r.Intn(8)]
	case 6:
		return []float64{0, -0.5, math.Inf(1), math.NaN(), 1e300}[r.Intn(5)]
	case 7:
		return bson.NewObjectID()
	case 8:
		return bson.DateTime(r.Int63n(1 << 45))
	case 9:
		rv := []bson.RawValue{bson.RawValue{Type: bson.TypeString, Value: bsoncore.AppendString(nil, "v")},
			bson.RawValue{Type: bson.TypeUndefined}, bson.RawValue{Type: bson.TypeMaxKey}, bson.RawValue{Type: bson.TypeInt64, Value: bsoncore.AppendInt64(nil, 7)}}
		return rv[r.Intn(len(rv))]
	case 10, 11:
		var d bson.D
		for i := range r.Intn(4) {
			d = append(d, bson.E{Key: []string{"a", "$gt", "b.c", "", "$or"}[(i+r.Intn(5))%5], Value: randomValue(r, depth+1)})
		}
		return d
	case 12:
		var a bson.A
		for range r.Intn(4) {
			a = append(a, randomValue(r, depth+1))
		}
		return a
	}
	// Types left to the driver.
	return []any{time.Unix(5, 0).UTC(), bson.M{"k": 1}, bson.Regex{Pattern: "a"}, uint8(3), bson.RawValue{},
		bson.RawValue{Type: bson.TypeEmbeddedDocument, Value: bsoncore.NewDocumentBuilder().Build()}}[r.Intn(6)]
}

// appendValue writes the driver's bytes for every value it takes, and
// declines the rest whole (the driver then encodes or refuses them).
func TestAppendValueMatchesDriver(t *testing.T) {
	r := rand.New(rand.NewSource(13))
	written, declined := 0, 0
	check := func(key string, v any) {
		t.Helper()
		got, ok := rawDoc(key, v)
		want, err := bson.Marshal(bson.D{{Key: key, Value: v}})
		if !ok {
			declined++
			return
		}
		written++
		if err != nil {
			t.Fatalf("appendValue wrote %v, which the driver refuses: %v", v, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("value %#v:\n got %x\nwant %x", v, []byte(got), []byte(want))
		}
	}
	for range 3000 {
		check("f", randomValue(r, 0))
	}
	if written < 1000 || declined < 100 {
		t.Fatalf("the generator is off: %d written, %d declined", written, declined)
	}
	// Keys with a NUL byte are the driver's to refuse, at any depth.
	for _, v := range []any{1, bson.D{{Key: "a\x00", Value: 1}}, bson.A{bson.D{{Key: "\x00", Value: nil}}}} {
		if _, ok := rawDoc("k\x00", v); ok {
			t.Fatalf("key with NUL written: %v", v)
		}
		if _, ok := rawDoc("k", bson.D{{Key: "x", Value: v}, {Key: "y\x00", Value: 1}}); ok {
			t.Fatalf("nested key with NUL written: %v", v)
		}
	}
	// The keyset filters of next pages, over positions of every kind.
	var docs []bson.Raw
	for _, v := range []any{nil, "m", int32(3), 2.5, bson.NewObjectID(), true, bson.DateTime(5), bson.A{}, bson.A{1, "x"}, bson.MaxKey{}, bson.MinKey{}} {
		d, _ := bson.Marshal(bson.D{{Key: "_id", Value: bson.NewObjectID()}, {Key: "v", Value: v}})
		docs = append(docs, d)
	}
	for _, emptyAsNull := range []bool{false, true} {
		c := cursor.NewCodec([]byte("0123456789abcdef0123456789abcdef"))
		c.EmptyArrayAsNull = emptyAsNull
		c.Unstorable = []bson.Type{bson.TypeJavaScript}
		for _, sort := range []bson.D{{{Key: "_id", Value: 1}}, {{Key: "v", Value: -1}, {Key: "_id", Value: -1}}, {{Key: "v", Value: 1}, {Key: "_id", Value: 1}}} {
			for _, d := range docs {
				f := c.After(sort, c.PositionOf(d, sort))
				before := written
				check("0", f)
				if written == before {
					t.Fatalf("keyset filter %v left to the driver", f)
				}
			}
		}
	}
}
