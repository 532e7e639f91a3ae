package api

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// driverExtJSON is the encoder the API used before appendExtJSON: the
// reference its output must equal byte for byte.
func driverExtJSON(doc bson.Raw) ([]byte, error) {
	return bson.MarshalExtJSON(doc, false, true)
}

func extJSONCorpus(t testing.TB) []bson.Raw {
	t.Helper()
	dec := func(s string) bson.Decimal128 {
		d, err := bson.ParseDecimal128(s)
		require.NoError(t, err)
		return d
	}
	oid, err := bson.ObjectIDFromHex("65a1b2c3d4e5f60718293a4b")
	require.NoError(t, err)
	ms := func(y int, mo time.Month, d, h, mi, s, ns int) bson.DateTime {
		return bson.DateTime(time.Date(y, mo, d, h, mi, s, ns, time.UTC).UnixMilli())
	}
	docs := []any{
		bson.D{},
		bson.D{{Key: "_id", Value: oid}, {Key: "name", Value: "Ann"}, {Key: "tenant_id", Value: "t1"}},
		// Numbers: every BSON numeric type and the doubles whose text form
		// is delicate (integral, exponent, negative zero, non-finite).
		bson.D{
			{Key: "i32", Value: int32(-7)}, {Key: "i32max", Value: int32(math.MaxInt32)}, {Key: "i32min", Value: int32(math.MinInt32)},
			{Key: "i64", Value: int64(1) << 60}, {Key: "i64min", Value: int64(math.MinInt64)}, {Key: "i64small", Value: int64(3)},
			{Key: "f", Value: 1.5}, {Key: "fint", Value: 3.0}, {Key: "fneg0", Value: math.Copysign(0, -1)}, {Key: "fzero", Value: 0.0},
			{Key: "fbig", Value: 1e21}, {Key: "fhuge", Value: 1.7976931348623157e308}, {Key: "ftiny", Value: 5e-324},
			{Key: "fsmall", Value: 0.000001}, {Key: "fsmaller", Value: 1e-7}, {Key: "f20", Value: 1e20}, {Key: "fthird", Value: 1.0 / 3},
			{Key: "inf", Value: math.Inf(1)}, {Key: "ninf", Value: math.Inf(-1)}, {Key: "nan", Value: math.NaN()},
			{Key: "dec", Value: dec("1234.5678")}, {Key: "decneg", Value: dec("-0.000001")}, {Key: "decexp", Value: dec("1E+300")},
			{Key: "decnan", Value: dec("NaN")}, {Key: "decinf", Value: dec("-Infinity")}, {Key: "deczero", Value: dec("0E-10")},
		},
		// Dates inside and outside the years relaxed mode writes as text.
		bson.D{
			{Key: "d", Value: ms(2026, 1, 2, 3, 4, 5, 0)}, {Key: "dms", Value: ms(2026, 11, 27, 17, 42, 1, 123000000)},
			{Key: "dms10", Value: ms(2026, 11, 27, 17, 42, 1, 100000000)}, {Key: "epoch", Value: bson.DateTime(0)},
			{Key: "before", Value: bson.DateTime(-1)}, {Key: "old", Value: ms(1900, 1, 1, 0, 0, 0, 0)},
			{Key: "y9999", Value: ms(9999, 12, 31, 23, 59, 59, 999000000)}, {Key: "y10000", Value: ms(10000, 1, 1, 0, 0, 0, 0)},
			{Key: "max", Value: bson.DateTime(math.MaxInt64)}, {Key: "min", Value: bson.DateTime(math.MinInt64)},
			{Key: "ts", Value: bson.Timestamp{T: 1700000000, I: 7}}, {Key: "tsmax", Value: bson.Timestamp{T: math.MaxUint32, I: math.MaxUint32}},
		},
		// Strings and keys that need escaping: HTML, control bytes, quotes,
		// line separators, invalid UTF-8, multi-byte runes.
		bson.D{
			{Key: "html", Value: "<script>alert('x')</script> & \"q\" \\ /"},
			{Key: "ctl", Value: "a\x00b\x01\x1f\x7f\n\r\t\b\f"},
			{Key: "seps", Value: "x\u2028y\u2029z"}, {Key: "bad", Value: "ok\xff\xfe\xc3(end"},
			{Key: "uni", Value: "é 日本 🙂"}, {Key: "", Value: ""},
			{Key: "<k>&\"\u2028\xff", Value: "v"}, {Key: "long", Value: strings.Repeat("abc<", 300)},
		},
		// Binary of each common subtype, regex with options in any order,
		// the other types a document can hold.
		bson.D{
			{Key: "b0", Value: bson.Binary{Subtype: 0, Data: []byte{1, 2, 3}}},
			{Key: "bempty", Value: bson.Binary{Subtype: 0, Data: []byte{}}},
			{Key: "uuid", Value: bson.Binary{Subtype: 4, Data: []byte("0123456789abcdef")}},
			{Key: "user", Value: bson.Binary{Subtype: 0x80, Data: []byte{0xff, 0xfe}}},
			{Key: "re", Value: bson.Regex{Pattern: `^a.*"<b>\d+$`, Options: "xsmi"}},
			{Key: "re0", Value: bson.Regex{Pattern: "", Options: ""}},
			{Key: "t", Value: true}, {Key: "fa", Value: false}, {Key: "null", Value: nil},
			{Key: "js", Value: bson.JavaScript("function() { return a < b && c; }")},
			{Key: "min", Value: bson.MinKey{}}, {Key: "max", Value: bson.MaxKey{}},
			{Key: "oid", Value: oid},
		},
		// The deprecated types, written by the driver's fallback.
		bson.D{
			{Key: "a", Value: int32(1)},
			{Key: "undef", Value: bson.Undefined{}}, {Key: "sym", Value: bson.Symbol("s<")},
			{Key: "dbp", Value: bson.DBPointer{DB: "db.c", Pointer: oid}},
			{Key: "cws", Value: bson.CodeWithScope{Code: "x", Scope: bson.D{{Key: "y", Value: int32(1)}}}},
			{Key: "old", Value: bson.Binary{Subtype: 2, Data: []byte{9, 8, 7}}},
		},
		// Nesting: arrays of arrays, empty containers, documents in arrays.
		bson.D{
			{Key: "nested", Value: bson.D{{Key: "a", Value: bson.A{"x", nil, true, bson.D{{Key: "<k>", Value: "&"}}}}}},
			{Key: "grid", Value: bson.A{bson.A{int32(1), int32(2)}, bson.A{}, bson.A{bson.A{bson.A{1.5}}}}},
			{Key: "emptyd", Value: bson.D{}}, {Key: "emptya", Value: bson.A{}},
			{Key: "deep", Value: bson.D{{Key: "a", Value: bson.D{{Key: "b", Value: bson.D{{Key: "c", Value: bson.A{bson.D{}, bson.D{{Key: "d", Value: int64(5)}}}}}}}}}},
			{Key: "mixed", Value: bson.A{int32(1), int64(2), 3.0, "4", dec("5"), ms(2026, 5, 5, 5, 5, 5, 5000000), oid, bson.Binary{Data: []byte("x")}}},
		},
		// What the service hands back after a policy: fields removed (the
		// document simply lacks them) and masked values in their place.
		bson.D{
			{Key: "_id", Value: oid}, {Key: "name", Value: "Bob"},
			{Key: "salary", Value: "***"}, {Key: "email", Value: "b***@example.com"},
			{Key: "address", Value: bson.D{{Key: "city", Value: "Oslo"}}},
		},
	}
	out := make([]bson.Raw, 0, len(docs))
	for _, d := range docs {
		b, err := bson.Marshal(d)
		require.NoError(t, err)
		out = append(out, b)
	}
	return out
}

func TestAppendExtJSONMatchesDriver(t *testing.T) {
	for i, doc := range extJSONCorpus(t) {
		want, err := driverExtJSON(doc)
		require.NoError(t, err, "document %d", i)
		got, err := appendExtJSON(nil, doc)
		require.NoError(t, err, "document %d", i)
		require.Equal(t, string(want), string(got), "document %d", i)

		// Appending keeps what dst held.
		got, err = appendExtJSON([]byte("prefix"), doc)
		require.NoError(t, err)
		require.Equal(t, "prefix"+string(want), string(got))
	}
}

// The fast path, not the fallback, writes every non-deprecated type: a
// document of them is accepted by appendRawContainer itself.
func TestAppendExtJSONFastPathCoversCommonTypes(t *testing.T) {
	corpus := extJSONCorpus(t)
	for i, doc := range corpus {
		deprecated := false
		for _, e := range mustElements(t, doc) {
			switch e.Value().Type {
			case bson.TypeUndefined, bson.TypeSymbol, bson.TypeDBPointer, bson.TypeCodeWithScope:
				deprecated = true
			case bson.TypeBinary:
				if st, _ := e.Value().Binary(); st == 0x02 {
					deprecated = true
				}
			}
		}
		_, ok := appendRawContainer(nil, doc, false)
		require.Equal(t, !deprecated, ok, "document %d", i)
	}
}

func mustElements(t *testing.T, doc bson.Raw) []bson.RawElement {
	t.Helper()
	els, err := doc.Elements()
	require.NoError(t, err)
	return els
}

// Malformed BSON is an error, as it was with the driver alone, never a
// panic or half a document.
func TestAppendExtJSONMalformed(t *testing.T) {
	good := extJSONCorpus(t)[1]
	cases := map[string][]byte{
		"empty":     {},
		"short":     {5, 0, 0},
		"truncated": good[:len(good)-3],
		"no nul":    append(append([]byte{}, good[:len(good)-1]...), 1),
		"len big":   append([]byte{0xff, 0, 0, 0}, good[4:]...),
	}
	for name, b := range cases {
		_, wantErr := driverExtJSON(b)
		got, err := appendExtJSON([]byte("x"), b)
		if wantErr != nil {
			require.Error(t, err, name)
			require.Equal(t, "x", string(got), name)
		}
	}
}

// FuzzAppendExtJSON checks that, on any bytes, appendExtJSON fails where
// the driver fails and otherwise writes exactly the driver's output.
func FuzzAppendExtJSON(f *testing.F) {
	for _, d := range extJSONCorpus(f) {
		f.Add([]byte(d))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want, wantErr := driverExtJSON(b)
		got, err := appendExtJSON(nil, b)
		if wantErr != nil {
			if err == nil {
				t.Fatalf("driver refused %x (%v), appendExtJSON wrote %s", b, wantErr, got)
			}
			return
		}
		if err != nil {
			t.Fatalf("driver wrote %s, appendExtJSON failed: %v", want, err)
		}
		if string(got) != string(want) {
			t.Fatalf("on %x\ndriver: %s\n   got: %s", b, want, got)
		}
	})
}

func BenchmarkExtJSON(b *testing.B) {
	docs := extJSONCorpus(b)
	b.Run("driver", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, d := range docs[1:] {
				if _, err := driverExtJSON(d); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			for _, d := range docs[1:] {
				var err error
				if buf, err = appendExtJSON(buf[:0], d); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
