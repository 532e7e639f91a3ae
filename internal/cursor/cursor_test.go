package cursor

import (
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
)

func testBinding() Binding {
	f, _ := bson.Marshal(bson.D{{Key: "a", Value: 1}})
	return Binding{Caller: "u1\x00t1", Collection: "c", Filter: f, Sort: bson.D{{Key: "v", Value: 1}, {Key: "_id", Value: 1}}}
}

func TestRoundTrip(t *testing.T) {
	c := NewCodec([]byte(strings.Repeat("x", 32)))
	b := testBinding()
	doc, _ := bson.Marshal(bson.D{{Key: "_id", Value: "z"}, {Key: "v", Value: 2.5}})
	pos := PositionOf(doc, b.Sort)
	s, err := c.Encode(b, pos)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Decode(s, b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Missing[0] || got.Values[0].Double() != 2.5 || got.Values[1].StringValue() != "z" {
		t.Fatalf("decoded %+v", got)
	}

	// Missing sort value survives the trip as missing.
	doc, _ = bson.Marshal(bson.D{{Key: "_id", Value: "y"}})
	s, _ = c.Encode(b, PositionOf(doc, b.Sort))
	got, err = c.Decode(s, b)
	if err != nil || !got.Missing[0] || got.Missing[1] {
		t.Fatalf("missing: %+v %v", got, err)
	}

	// An empty array's key (below null) survives the trip and still sorts
	// before a missing value.
	doc, _ = bson.Marshal(bson.D{{Key: "_id", Value: "x"}, {Key: "v", Value: bson.A{}}})
	empty := PositionOf(doc, b.Sort)
	s, _ = c.Encode(b, empty)
	got, err = c.Decode(s, b)
	if err != nil || got.Missing[0] || got.Values[0].Type != bson.TypeUndefined {
		t.Fatalf("empty array: %+v %v", got, err)
	}
	missing, _ := bson.Marshal(bson.D{{Key: "_id", Value: "a"}})
	if ComparePositions(got, PositionOf(missing, b.Sort), b.Sort) >= 0 {
		t.Fatalf("an empty array must sort before a missing value")
	}
}

func TestRefused(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c := NewCodec([]byte(strings.Repeat("x", 32)))
	c.Now = func() time.Time { return now }
	b := testBinding()
	doc, _ := bson.Marshal(bson.D{{Key: "_id", Value: "z"}, {Key: "v", Value: 1}})
	s, _ := c.Encode(b, PositionOf(doc, b.Sort))

	other := func(f func(*Binding)) Binding { x := testBinding(); f(&x); return x }
	cases := map[string]struct {
		token string
		b     Binding
		codec *Codec
	}{
		"other caller":     {s, other(func(x *Binding) { x.Caller = "u2\x00t1" }), c},
		"other collection": {s, other(func(x *Binding) { x.Collection = "d" }), c},
		"other filter":     {s, other(func(x *Binding) { x.Filter = nil }), c},
		"other sort":       {s, other(func(x *Binding) { x.Sort = bson.D{{Key: "v", Value: -1}, {Key: "_id", Value: -1}} }), c},
		"other key":        {s, b, NewCodec([]byte(strings.Repeat("y", 32)))},
		"garbage":          {"!!", b, c},
		"no mac":           {strings.Split(s, ".")[0], b, c},
		"flipped":          {"A" + s[1:], b, c},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if tc.codec.Now == nil {
				tc.codec.Now = c.Now
			}
			if _, err := tc.codec.Decode(tc.token, tc.b); apperr.KindOf(err) != apperr.KindInvalidCursor {
				t.Fatalf("err = %v", err)
			}
		})
	}
	now = now.Add(DefaultTTL + time.Second)
	if _, err := c.Decode(s, b); apperr.KindOf(err) != apperr.KindInvalidCursor {
		t.Fatalf("expired cursor accepted: %v", err)
	}
}

func TestAfterShape(t *testing.T) {
	sort := bson.D{{Key: "v", Value: 1}, {Key: "_id", Value: 1}}
	doc, _ := bson.Marshal(bson.D{{Key: "_id", Value: "z"}, {Key: "v", Value: "m"}})
	f := After(sort, PositionOf(doc, sort), nil)
	got, _ := bson.MarshalExtJSON(f, false, false)
	// v > "m" within strings, or v in a later bracket, or v == "m" and _id > "z".
	for _, want := range []string{`{"v":{"$gt":"m"}}`, `"$type":[3,5,7,8,9,17,11,13,127]`, `{"$and":[{"v":{"$eq":"m"}},{"$or":[{"_id":{"$gt":"z"}}`} {
		if !strings.Contains(string(got), want) {
			t.Fatalf("filter %s lacks %s", got, want)
		}
	}
}
