package cursor

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
)

// marshalToken is the token as the driver's struct codec wrote it.
type marshalToken struct {
	V   int32    `bson:"v"`
	Exp int64    `bson:"e"`
	Pos bson.Raw `bson:"p"`
	N   int32    `bson:"n"`
}

// marshalEncode is Encode as it was written with bson.Marshal (token,
// position and sort through the driver): the reference the raw encoder must
// match byte for byte, or every cursor issued before a restart would stop
// verifying.
func marshalEncode(t *testing.T, c *Codec, b Binding, p Position) string {
	t.Helper()
	pos := bson.D{}
	for i, v := range p.Values {
		if !p.Missing[i] {
			pos = append(pos, bson.E{Key: strconv.Itoa(i), Value: v})
		}
	}
	posRaw, err := bson.Marshal(pos)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := bson.Marshal(marshalToken{V: version, Exp: c.now().Add(DefaultTTL).Unix(), Pos: posRaw, N: int32(len(p.Values))})
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	for _, part := range [][]byte{[]byte(b.Caller), []byte(b.Collection), b.Filter} {
		var n [8]byte
		for i := range n {
			n[i] = byte(uint64(len(part)) >> (8 * i))
		}
		h.Write(n[:])
		h.Write(part)
	}
	sortBytes, _ := bson.Marshal(b.Sort)
	h.Write(sortBytes)
	m := hmac.New(sha256.New, c.key)
	m.Write(h.Sum(nil))
	m.Write(payload)
	return base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func TestEncodeMatchesMarshal(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c := NewCodec([]byte(strings.Repeat("k", 32)))
	c.Now = func() time.Time { return now }
	oid := bson.NewObjectID()
	dec, _ := bson.ParseDecimal128("12.50")
	doc, err := bson.Marshal(bson.D{
		{Key: "_id", Value: oid}, {Key: "s", Value: "héllo\x00"}, {Key: "d", Value: 2.5}, {Key: "i", Value: int32(-7)},
		{Key: "l", Value: int64(1) << 40}, {Key: "t", Value: bson.NewDateTimeFromTime(now)}, {Key: "b", Value: true},
		{Key: "n", Value: nil}, {Key: "e", Value: bson.A{}}, {Key: "a", Value: bson.A{3, "x", 1.5}},
		{Key: "o", Value: bson.D{{Key: "x", Value: bson.A{bson.D{{Key: "y", Value: 4}}, bson.D{{Key: "y", Value: 2}}}}}},
		{Key: "dec", Value: dec}, {Key: "bin", Value: bson.Binary{Subtype: 4, Data: []byte("0123456789abcdef")}},
		{Key: "re", Value: bson.Regex{Pattern: "^a", Options: "i"}}, {Key: "ts", Value: bson.Timestamp{T: 5, I: 6}},
		{Key: "u", Value: bson.Undefined{}}, {Key: "mk", Value: bson.MinKey{}},
	})
	if err != nil {
		t.Fatal(err)
	}
	filter, _ := bson.Marshal(bson.D{{Key: "a", Value: 1}})
	var keys bson.D
	for _, k := range []string{"s", "d", "i", "l", "t", "b", "n", "e", "a", "o.x.y", "dec", "bin", "re", "ts", "u", "mk", "missing"} {
		keys = append(keys, bson.E{Key: k, Value: 1})
	}
	sorts := []bson.D{
		{{Key: "_id", Value: 1}},
		{{Key: "_id", Value: -1}},
		append(keys, bson.E{Key: "_id", Value: 1}),
		{{Key: "a", Value: -1}, {Key: "o.x.y", Value: -1}, {Key: "_id", Value: -1}},
		// Values the query parser never produces take the driver's path.
		{{Key: "s", Value: int64(1)}, {Key: "_id", Value: int32(-1)}},
		{{Key: "s", Value: 1 << 40}, {Key: "_id", Value: 1}},
		{{Key: "s", Value: "asc"}, {Key: "_id", Value: 1.0}},
	}
	for i, sort := range sorts {
		for _, bind := range []Binding{{Caller: "u\x00t", Collection: "c", Sort: sort}, {Caller: "", Collection: "c", Filter: filter, Sort: sort}} {
			for _, emptyAsNull := range []bool{false, true} {
				c.EmptyArrayAsNull = emptyAsNull
				p := c.PositionOf(doc, sort)
				got, err := c.Encode(bind, p)
				if err != nil {
					t.Fatalf("sort %d: %v", i, err)
				}
				if want := marshalEncode(t, c, bind, p); got != want {
					t.Fatalf("sort %d (%v): raw encoding\n%s\ndiffers from the driver's\n%s", i, sort, got, want)
				}
				back, err := c.Decode(got, bind)
				if err != nil {
					t.Fatalf("sort %d: own cursor refused: %v", i, err)
				}
				for j := range p.Values {
					if back.Missing[j] != p.Missing[j] || (!p.Missing[j] && !p.Values[j].Equal(back.Values[j])) {
						t.Fatalf("sort %d, key %d: decoded %v (missing %v), encoded %v (missing %v)", i, j, back.Values[j], back.Missing[j], p.Values[j], p.Missing[j])
					}
				}
			}
		}
	}
}

func TestEncodeRefusesInvalidType(t *testing.T) {
	c := NewCodec([]byte(strings.Repeat("k", 32)))
	p := Position{Values: []bson.RawValue{{}}, Missing: []bool{false}}
	if _, err := c.Encode(testBinding(), p); err == nil {
		t.Fatal("a value without a BSON type was encoded")
	}
}

func BenchmarkEncode(b *testing.B) {
	c := NewCodec([]byte(strings.Repeat("k", 32)))
	bind := Binding{Caller: "u\x00t", Collection: "employees", Sort: bson.D{{Key: "_id", Value: 1}}}
	doc, _ := bson.Marshal(bson.D{{Key: "_id", Value: bson.NewObjectID()}, {Key: "name", Value: "x"}})
	p := c.PositionOf(doc, bind.Sort)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Encode(bind, p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPositions: the position of each document of a page after a
// cursor, one PositionOf per document or one Keyer for the page.
func BenchmarkPositions(b *testing.B) {
	c := NewCodec([]byte(strings.Repeat("k", 32)))
	sort := bson.D{{Key: "name", Value: 1}, {Key: "_id", Value: 1}}
	var docs []bson.Raw
	for i := range 21 {
		d, _ := bson.Marshal(bson.D{{Key: "_id", Value: bson.NewObjectID()}, {Key: "name", Value: strconv.Itoa(i)}, {Key: "n", Value: i}})
		docs = append(docs, d)
	}
	b.Run("PositionOf", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, d := range docs {
				_ = c.PositionOf(d, sort)
			}
		}
	})
	b.Run("Keyer", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			k := c.Keyer(sort)
			for _, d := range docs {
				_ = k.Of(d)
			}
		}
	})
}

// A payload signed with the codec's key but not of the token's layout (as
// no Encode writes it) is refused, not read with zero values or defaults.
func TestDecodeRefusesSignedMalformedTokens(t *testing.T) {
	c := NewCodec([]byte(strings.Repeat("k", 32)))
	b := testBinding()
	exp := time.Now().Add(time.Hour).Unix()
	pos, _ := bson.Marshal(bson.D{{Key: "1", Value: "z"}})
	sign := func(payload []byte) string {
		return base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(c.mac(b, payload))
	}
	good, _ := bson.Marshal(bson.D{{Key: "v", Value: int32(version)}, {Key: "e", Value: exp}, {Key: "p", Value: bson.Raw(pos)}, {Key: "n", Value: int32(2)}})
	got, err := c.Decode(sign(good), b)
	if err != nil || !got.Missing[0] || got.Values[1].StringValue() != "z" {
		t.Fatalf("well-formed token: %+v %v", got, err)
	}
	for name, d := range map[string]bson.D{
		"version as int64": {{Key: "v", Value: int64(version)}, {Key: "e", Value: exp}, {Key: "p", Value: bson.Raw(pos)}, {Key: "n", Value: int32(2)}},
		"expiry as double": {{Key: "v", Value: int32(version)}, {Key: "e", Value: float64(exp)}, {Key: "p", Value: bson.Raw(pos)}, {Key: "n", Value: int32(2)}},
		"position array":   {{Key: "v", Value: int32(version)}, {Key: "e", Value: exp}, {Key: "p", Value: bson.A{"z"}}, {Key: "n", Value: int32(2)}},
		"no count":         {{Key: "v", Value: int32(version)}, {Key: "e", Value: exp}, {Key: "p", Value: bson.Raw(pos)}},
		"no version":       {{Key: "e", Value: exp}, {Key: "p", Value: bson.Raw(pos)}, {Key: "n", Value: int32(2)}},
	} {
		payload, _ := bson.Marshal(d)
		if _, err := c.Decode(sign(payload), b); apperr.KindOf(err) != apperr.KindInvalidCursor {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	if _, err := c.Decode(sign(good[:len(good)-3]), b); apperr.KindOf(err) != apperr.KindInvalidCursor {
		t.Errorf("truncated: err = %v", err)
	}
}

// BenchmarkDecode: verify and read the cursor of a next page.
func BenchmarkDecode(b *testing.B) {
	c := NewCodec([]byte(strings.Repeat("k", 32)))
	bind := Binding{Caller: "u\x00t", Collection: "employees", Sort: bson.D{{Key: "_id", Value: 1}}}
	doc, _ := bson.Marshal(bson.D{{Key: "_id", Value: bson.NewObjectID()}, {Key: "name", Value: "x"}})
	s, _ := c.Encode(bind, c.PositionOf(doc, bind.Sort))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Decode(s, bind); err != nil {
			b.Fatal(err)
		}
	}
}
