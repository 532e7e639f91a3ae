package store_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/permission-mongo/permission-mongo/internal/store"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

// sjsonCorpus is one document per edge of what FerretDB v1 stores: every
// BSON type it keeps, the values whose JSON form is delicate, nesting and
// unusual keys. NaN and ±Inf are not here, nor arrays directly in arrays:
// FerretDB v1 refuses to store them. It stores -0 as 0 (its find answers
// 0); the decoder's reading of a stored -0 is checked in
// TestSJSONRefusesWhatItDoesNotKnow.
func sjsonCorpus() map[string]bson.D {
	oid := bson.NewObjectIDFromTimestamp(time.Unix(1_700_000_000, 0))
	return map[string]bson.D{
		"doubles": {{Key: "zero", Value: 0.0}, {Key: "negzero", Value: math.Copysign(0, -1)}, {Key: "half", Value: 1.5},
			{Key: "tiny", Value: 5e-324}, {Key: "small", Value: 1e-7}, {Key: "max", Value: math.MaxFloat64},
			{Key: "big", Value: 1e21}, {Key: "almostbig", Value: 1e20}, {Key: "tenth", Value: 0.1},
			{Key: "neg", Value: -123456789.123456789}, {Key: "whole", Value: 3.0}, {Key: "minnorm", Value: -2.2250738585072014e-308}},
		"strings": {{Key: "empty", Value: ""}, {Key: "accents", Value: "héllo wörld"}, {Key: "cjk", Value: "日本語"},
			{Key: "emoji", Value: "😀 and 🎉"}, {Key: "nul", Value: "a\x00b"}, {Key: "controls", Value: "\n\t\r\b\f\x01\x1f\x7f"},
			{Key: "quotes", Value: `"quoted" \back\slash\ /slash`}, {Key: "html", Value: "<a href='x'>&amp;</a>"},
			{Key: "separators", Value: "\u2028\u2029"}, {Key: "bom", Value: "\ufeff"}, {Key: "replacement", Value: "\ufffd"},
			{Key: "invalid", Value: "a\xffb\xc3"}, {Key: "escapes", Value: `\u0041 \n`}, {Key: "long", Value: strings.Repeat("xyz", 2000)}},
		"binaries": {{Key: "generic", Value: bson.Binary{Subtype: 0, Data: []byte{0, 1, 2, 255}}},
			{Key: "function", Value: bson.Binary{Subtype: 1, Data: []byte("f")}},
			{Key: "old", Value: bson.Binary{Subtype: 2, Data: []byte("old binary")}},
			{Key: "uuidold", Value: bson.Binary{Subtype: 3, Data: bytes.Repeat([]byte{7}, 16)}},
			{Key: "uuid", Value: bson.Binary{Subtype: 4, Data: bytes.Repeat([]byte{9}, 16)}},
			{Key: "md5", Value: bson.Binary{Subtype: 5, Data: bytes.Repeat([]byte{1}, 16)}},
			{Key: "encrypted", Value: bson.Binary{Subtype: 6, Data: []byte{1, 2}}},
			{Key: "user", Value: bson.Binary{Subtype: 0x80, Data: []byte{0xfe}}},
			{Key: "empty", Value: bson.Binary{Subtype: 0, Data: []byte{}}},
			{Key: "padded", Value: bson.Binary{Subtype: 0, Data: []byte{1, 2, 3, 4, 5}}}},
		"scalars": {{Key: "oid", Value: oid}, {Key: "t", Value: true}, {Key: "f", Value: false}, {Key: "null", Value: nil},
			{Key: "epoch", Value: bson.DateTime(0)}, {Key: "before1970", Value: bson.DateTime(-2_208_988_800_123)},
			{Key: "justbefore", Value: bson.DateTime(-1)}, {Key: "now", Value: bson.DateTime(1_764_000_000_999)},
			{Key: "mindate", Value: bson.DateTime(math.MinInt64)}, {Key: "maxdate", Value: bson.DateTime(math.MaxInt64)},
			{Key: "regex", Value: bson.Regex{Pattern: `^a.*"b"\d+$`, Options: "imsx"}},
			{Key: "regexplain", Value: bson.Regex{Pattern: "", Options: ""}},
			{Key: "regexunicode", Value: bson.Regex{Pattern: "é+<>", Options: "u"}},
			{Key: "i32", Value: int32(42)}, {Key: "i32min", Value: int32(math.MinInt32)}, {Key: "i32max", Value: int32(math.MaxInt32)},
			{Key: "i32neg", Value: int32(-1)}, {Key: "i32zero", Value: int32(0)},
			{Key: "i64", Value: int64(42)}, {Key: "i64min", Value: int64(math.MinInt64)}, {Key: "i64max", Value: int64(math.MaxInt64)},
			{Key: "i64big", Value: int64(1<<53 + 1)}, {Key: "i64neg", Value: int64(-1)},
			{Key: "ts", Value: bson.Timestamp{T: 1_700_000_000, I: 7}}, {Key: "tsmax", Value: bson.Timestamp{T: math.MaxUint32, I: math.MaxUint32}},
			{Key: "tszero", Value: bson.Timestamp{}}},
		"nested": {{Key: "doc", Value: bson.D{{Key: "a", Value: int32(1)}, {Key: "b", Value: bson.D{{Key: "c", Value: bson.A{int64(1), "x", nil}}}}}},
			{Key: "emptydoc", Value: bson.D{}}, {Key: "emptyarr", Value: bson.A{}},
			{Key: "mixed", Value: bson.A{1.5, "s", bson.D{{Key: "k", Value: bson.A{}}}, bson.D{{Key: "inner", Value: bson.A{int32(1), bson.D{}}}}, nil, true,
				bson.DateTime(-5), oid, bson.Binary{Subtype: 4, Data: bytes.Repeat([]byte{3}, 16)}, bson.Regex{Pattern: "p", Options: "i"},
				int32(-7), bson.Timestamp{T: 1, I: 2}, int64(-8), math.Copysign(0, -1)}},
			{Key: "arrofdocs", Value: bson.A{bson.D{{Key: "z", Value: nil}}, bson.D{{Key: "z", Value: bson.D{}}}}},
			{Key: "deep", Value: bson.D{{Key: "l1", Value: bson.D{{Key: "l2", Value: bson.D{{Key: "l3", Value: bson.A{bson.D{{Key: "l4", Value: bson.A{"bottom"}}}}}}}}}}}},
		"keys": {{Key: "", Value: "empty key"}, {Key: "with space", Value: int32(1)}, {Key: "ünïcødé", Value: int32(2)},
			{Key: "日本", Value: int32(3)}, {Key: "<tag>&", Value: int32(4)}, {Key: "a/b", Value: int32(5)}, {Key: "😀", Value: int32(6)},
			{Key: "nested", Value: bson.D{{Key: "", Value: int32(7)}, {Key: "<&>", Value: bson.D{{Key: "é", Value: int32(8)}}}}},
			{Key: "Z", Value: int32(9)}, {Key: "a", Value: int32(10)}}, // not sorted: the stored order is kept
		"reordered": {{Key: "b", Value: int32(1)}, {Key: "a", Value: int32(2)}, {Key: "_z", Value: int32(3)}},
		"idonly":    {},
	}
}

// sjsonRandom returns n documents built from seed: every type, nested up
// to four levels, fields in random order.
func sjsonRandom(seed uint64, n int) []bson.D {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	keys := []string{"a", "b", "tenant_id", "name", "é", "x y", "<k>", "n1", "n2", "deep", "list", "Z", "_private", "日"}
	strs := []string{"", "t1", "t2", "héllo", "a\"b", `c\d`, "\n", "<&>", "😀", "\x00", "long " + strings.Repeat("-", 100)}
	var value func(depth int, inArray bool) any
	value = func(depth int, inArray bool) any {
		k := r.IntN(16)
		if depth >= 3 && k >= 14 || inArray && k == 15 { // FerretDB v1 stores no array in an array
			k = r.IntN(14)
		}
		switch k {
		case 0:
			return r.NormFloat64() * math.Pow(10, float64(r.IntN(40)-20))
		case 1:
			return strs[r.IntN(len(strs))]
		case 2:
			b := make([]byte, r.IntN(40))
			for i := range b {
				b[i] = byte(r.UintN(256))
			}
			return bson.Binary{Subtype: []byte{0, 2, 3, 4, 5, 0x80}[r.IntN(6)], Data: b}
		case 3:
			var id bson.ObjectID
			for i := range id {
				id[i] = byte(r.UintN(256))
			}
			return id
		case 4:
			return r.IntN(2) == 0
		case 5:
			return bson.DateTime(r.Int64N(1<<45) - 1<<44)
		case 6:
			return nil
		case 7:
			return bson.Regex{Pattern: strs[r.IntN(len(strs)-2)] + "[a-z]+", Options: []string{"", "i", "ms", "imsx"}[r.IntN(4)]}
		case 8:
			return r.Int32() - math.MaxInt32/2
		case 9:
			return bson.Timestamp{T: r.Uint32(), I: r.Uint32()}
		case 10:
			return r.Int64() - math.MaxInt64/2
		case 11:
			return []any{0.0, 1e300, -1e-300, 0.5, 1e21}[r.IntN(5)]
		case 12:
			return int32(r.IntN(3) - 1)
		case 13:
			return int64(r.IntN(3) - 1)
		case 14:
			d := bson.D{}
			for _, i := range r.Perm(len(keys))[:r.IntN(5)] {
				d = append(d, bson.E{Key: keys[i], Value: value(depth+1, false)})
			}
			return d
		default:
			a := bson.A{}
			for range r.IntN(6) {
				a = append(a, value(depth+1, true))
			}
			return a
		}
	}
	docs := make([]bson.D, n)
	for i := range docs {
		for _, k := range r.Perm(len(keys))[:1+r.IntN(len(keys)-1)] {
			docs[i] = append(docs[i], bson.E{Key: keys[k], Value: value(0, false)})
		}
	}
	return docs
}

// The decoder of FerretDB's stored form answers, for every document of
// the corpus and of a few hundred random ones, the very bytes FerretDB's
// find answers with: same keys in the same order, same types, same values.
func TestEmbeddedSJSONDecodesAsFerretDBFinds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	names := map[bson.ObjectID]string{}
	var docs []any
	add := func(name string, d bson.D) {
		id := bson.NewObjectIDFromTimestamp(time.Unix(int64(1_800_000_000+len(docs)), 0))
		names[id] = name
		docs = append(docs, append(bson.D{{Key: "_id", Value: id}}, d...))
	}
	for name, d := range sjsonCorpus() {
		add(name, d)
	}
	for i, d := range sjsonRandom(20261127, 300) {
		add(fmt.Sprintf("random %d", i), d)
	}
	_, order, c := storeIndexed(t, "corpus", docs)

	stored, ok := order.AfterDocs(ctx, "corpus", bson.ObjectID{}, len(docs)+10, nil)
	require.True(t, ok)
	require.Len(t, stored, len(docs))
	types := map[bson.Type]int{}
	var beforeEpoch int
	for _, sd := range stored {
		want, err := c.FindOne(ctx, bson.D{{Key: "_id", Value: sd.ID}}).Raw()
		require.NoError(t, err)
		got, ok := sd.Doc()
		require.True(t, ok, "%s: not decoded: %s", names[sd.ID], sd.Stored)
		if !bytes.Equal(want, got) {
			require.Failf(t, "decoded document differs from FerretDB's", "%s\nstored: %s\nfind:    %x\ndecoded: %x\nfind:    %s\ndecoded: %s",
				names[sd.ID], sd.Stored, []byte(want), []byte(got), want, got)
		}
		countTypes(t, want, types, &beforeEpoch)
	}
	// The corpus holds what it says it does.
	for _, typ := range []bson.Type{bson.TypeDouble, bson.TypeString, bson.TypeEmbeddedDocument, bson.TypeArray, bson.TypeBinary,
		bson.TypeObjectID, bson.TypeBoolean, bson.TypeDateTime, bson.TypeNull, bson.TypeRegex, bson.TypeInt32,
		bson.TypeTimestamp, bson.TypeInt64} {
		require.Greater(t, types[typ], 10, "values of type %s", typ)
	}
	require.Positive(t, beforeEpoch, "dates before 1970")
}

// storeIndexed stores docs in the collection coll of database app of an
// embedded backend of t's own, and returns once its _id order answers.
func storeIndexed(t *testing.T, coll string, docs []any) (*store.Embedded, *store.IDOrder, *mongo.Collection) {
	t.Helper()
	ctx := context.Background()
	e, client := testenv.Embedded(t)
	c := client.Database("app").Collection(coll)
	order := e.IDOrder("app")
	_, err := c.InsertMany(ctx, docs)
	require.NoError(t, err)
	testenv.WaitIDOrder(t, order, coll)
	return e, order, c
}

// countTypes counts the types of the values in doc, nested ones included.
func countTypes(t *testing.T, doc bson.Raw, types map[bson.Type]int, beforeEpoch *int) {
	t.Helper()
	vals, err := doc.Values()
	require.NoError(t, err)
	for _, v := range vals {
		types[v.Type]++
		switch v.Type {
		case bson.TypeEmbeddedDocument, bson.TypeArray:
			countTypes(t, v.Value, types, beforeEpoch)
		case bson.TypeDateTime:
			if v.DateTime() < 0 {
				*beforeEpoch++
			}
		}
	}
}

func bsonString(s string) bson.RawValue {
	v := binary.LittleEndian.AppendUint32(nil, uint32(len(s)+1)) //nolint:gosec // G115: a short test string
	return bson.RawValue{Type: bson.TypeString, Value: append(append(v, s...), 0)}
}

// What the decoder does not know it refuses, rather than guessing: an
// unknown type, malformed JSON, a schema FerretDB would not write, values
// out of their type's range, strings encoding/json would alter. What it
// accepts it reads as FerretDB's reader (encoding/json) does.
func TestSJSONRefusesWhatItDoesNotKnow(t *testing.T) {
	t.Parallel()
	const id = `"_id":"656600000000000000000001"`
	const idSchema = `"_id":{"t":"objectId"}`
	doc := func(props, keys, fields string) string {
		return `{"$s":{"p":{` + idSchema + props + `},"$k":["_id"` + keys + `]},` + id + fields + `}`
	}
	good := doc(`,"n":{"t":"long"}`, `,"n"`, `,"n":42`)
	raw, ok := store.StoredDoc{Stored: []byte(good)}.Doc()
	require.True(t, ok)
	require.Equal(t, int64(42), raw.Lookup("n").Int64())
	// White space where JSON allows it, and the fields in another order
	// than the keys: the keys give the order.
	spaced := " { \"$s\" : {\"$k\":[\"_id\", \"n\"], \"p\":{\"n\":{\"t\":\"int\"}, " + idSchema + "}} , \"n\" : -7 ,\n" + id + " } "
	raw, ok = store.StoredDoc{Stored: []byte(spaced)}.Doc()
	require.True(t, ok)
	require.Equal(t, int32(-7), raw.Lookup("n").Int32())
	keys, err := raw.Elements()
	require.NoError(t, err)
	require.Equal(t, "_id", keys[0].Key())

	// Values read as encoding/json reads them.
	for stored, want := range map[string]bson.RawValue{
		doc(`,"n":{"t":"double"}`, `,"n"`, `,"n":-0`): {Type: bson.TypeDouble,
			Value: binary.LittleEndian.AppendUint64(nil, math.Float64bits(math.Copysign(0, -1)))},
		doc(`,"n":{"t":"double"}`, `,"n"`, `,"n":1E2`):                            {Type: bson.TypeDouble, Value: binary.LittleEndian.AppendUint64(nil, math.Float64bits(100))},
		doc(`,"n":{"t":"long"}`, `,"n"`, `,"n":-0`):                               {Type: bson.TypeInt64, Value: make([]byte, 8)},
		doc(`,"n":{"t":"string"}`, `,"n"`, `,"n":"\ud83d\ude00\u00e9\/\u003c\""`): bsonString("😀é/<\""),
		doc(`,"n":{"t":"objectId"}`, `,"n"`, `,"n":"ABCDEF0123456789abcdef01"`): {Type: bson.TypeObjectID,
			Value: []byte{0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01}},
		doc(`,"n":{"t":"objectId"}`, `,"n"`, `,"n":null`): {Type: bson.TypeNull, Value: []byte{}},
		doc(``, `,"n"`, `,"n":null`):                      {Type: bson.TypeNull, Value: []byte{}},
		doc(`,"n":{"t":"object","$s":{"p":{"a":{"t":"int"}},"$k":["a"]}}`, `,"n"`, `,"n":{}`): {Type: bson.TypeEmbeddedDocument,
			Value: []byte{5, 0, 0, 0, 0}},
	} {
		raw, ok := store.StoredDoc{Stored: []byte(stored)}.Doc()
		require.True(t, ok, stored)
		got := raw.Lookup("n")
		require.Equal(t, want.Type, got.Type, stored)
		require.Equal(t, want.Value, got.Value, stored)
	}

	for name, stored := range map[string]string{
		"unknown type":             doc(`,"n":{"t":"decimal"}`, `,"n"`, `,"n":42`),
		"no type":                  doc(`,"n":{}`, `,"n"`, `,"n":42`),
		"type in another case":     doc(`,"n":{"T":"long"}`, `,"n"`, `,"n":42`),
		"unknown schema field":     doc(`,"n":{"t":"long","x":1}`, `,"n"`, `,"n":42`),
		"unknown top schema field": `{"$s":{"p":{` + idSchema + `},"$k":["_id"],"v":1},` + id + `}`,
		"no schema":                `{` + id + `}`,
		"two schemas":              `{"$s":{"p":{` + idSchema + `},"$k":["_id"]},"$s":{"p":{` + idSchema + `},"$k":["_id"]},` + id + `}`,
		"truncated":                good[:len(good)-1],
		"trailing text":            good + "x",
		"two values":               good + "{}",
		"not an object":            `[` + id + `]`,
		"field without key":        doc(``, ``, `,"n":42`),
		"key without field":        doc(`,"n":{"t":"long"}`, `,"n"`, ``),
		"repeated key":             doc(`,"n":{"t":"long"}`, `,"n","n"`, `,"n":42`),
		"repeated field":           doc(`,"n":{"t":"long"}`, `,"n"`, `,"n":42,"n":43`),
		"repeated property":        doc(`,"n":{"t":"long"},"n":{"t":"int"}`, `,"n"`, `,"n":42`),
		"int out of range":         doc(`,"n":{"t":"int"}`, `,"n"`, `,"n":2147483648`),
		"long out of range":        doc(`,"n":{"t":"long"}`, `,"n"`, `,"n":9223372036854775808`),
		"long with fraction":       doc(`,"n":{"t":"long"}`, `,"n"`, `,"n":1.0`),
		"long with exponent":       doc(`,"n":{"t":"long"}`, `,"n"`, `,"n":1e3`),
		"leading zero":             doc(`,"n":{"t":"long"}`, `,"n"`, `,"n":012`),
		"plus sign":                doc(`,"n":{"t":"double"}`, `,"n"`, `,"n":+1`),
		"double out of range":      doc(`,"n":{"t":"double"}`, `,"n"`, `,"n":1e400`),
		"NaN":                      doc(`,"n":{"t":"double"}`, `,"n"`, `,"n":NaN`),
		"negative timestamp":       doc(`,"n":{"t":"timestamp"}`, `,"n"`, `,"n":-1`),
		"string as number":         doc(`,"n":{"t":"long"}`, `,"n"`, `,"n":"42"`),
		"number as string":         doc(`,"n":{"t":"string"}`, `,"n"`, `,"n":42`),
		"bool as number":           doc(`,"n":{"t":"bool"}`, `,"n"`, `,"n":1`),
		"null type with value":     doc(`,"n":{"t":"null"}`, `,"n"`, `,"n":1`),
		"lone surrogate":           doc(`,"n":{"t":"string"}`, `,"n"`, `,"n":"a\ud800b"`),
		"low surrogate first":      doc(`,"n":{"t":"string"}`, `,"n"`, `,"n":"\udc00\ud800"`),
		"invalid UTF-8":            doc(`,"n":{"t":"string"}`, `,"n"`, ",\"n\":\"a\xffb\""),
		"raw control character":    doc(`,"n":{"t":"string"}`, `,"n"`, ",\"n\":\"a\tb\""),
		"unknown escape":           doc(`,"n":{"t":"string"}`, `,"n"`, `,"n":"\x"`),
		"short objectId":           doc(`,"n":{"t":"objectId"}`, `,"n"`, `,"n":"6566"`),
		"objectId not hex":         doc(`,"n":{"t":"objectId"}`, `,"n"`, `,"n":"65660000000000000000000g"`),
		"binData without subtype":  doc(`,"n":{"t":"binData"}`, `,"n"`, `,"n":"AAE="`),
		"binData subtype too big":  doc(`,"n":{"t":"binData","s":256}`, `,"n"`, `,"n":"AAE="`),
		"binData not base64":       doc(`,"n":{"t":"binData","s":0}`, `,"n"`, `,"n":"A!=="`),
		"regex without options":    doc(`,"n":{"t":"regex"}`, `,"n"`, `,"n":"a+"`),
		"regex with NUL":           doc(`,"n":{"t":"regex","o":""}`, `,"n"`, `,"n":"a\u0000"`),
		"key with NUL":             doc(`,"a\u0000b":{"t":"long"}`, `,"a\u0000b"`, `,"a\u0000b":1`),
		"object without schema":    doc(`,"n":{"t":"object"}`, `,"n"`, `,"n":{"a":1}`),
		"object as array":          doc(`,"n":{"t":"object","$s":{}}`, `,"n"`, `,"n":[]`),
		"array without items":      doc(`,"n":{"t":"array"}`, `,"n"`, `,"n":[]`),
		"array too long":           doc(`,"n":{"t":"array","i":[{"t":"int"}]}`, `,"n"`, `,"n":[1,2]`),
		"array too short":          doc(`,"n":{"t":"array","i":[{"t":"int"},{"t":"int"}]}`, `,"n"`, `,"n":[1]`),
		"array item without type":  doc(`,"n":{"t":"array","i":[null]}`, `,"n"`, `,"n":[1]`),
		"nested unknown type":      doc(`,"n":{"t":"object","$s":{"p":{"a":{"t":"minKey"}},"$k":["a"]}}`, `,"n"`, `,"n":{"a":1}`),
		"field without property":   doc(``, `,"n"`, `,"n":42`),
	} {
		_, ok := store.StoredDoc{Stored: []byte(stored)}.Doc()
		require.False(t, ok, "%s: %s", name, stored)
	}
}

// A document FerretDB reads but the decoder refuses (a lone surrogate
// escape, which encoding/json turns into U+FFFD, written into the SQLite
// file behind FerretDB's back) comes back from AfterDocs undecoded, so the
// caller asks FerretDB, which answers it; the other documents decode.
func TestEmbeddedSJSONUndecodableLeftToFerretDB(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var ids []bson.ObjectID
	var docs []any
	for i := range 3 {
		id := bson.NewObjectIDFromTimestamp(time.Unix(int64(1_800_000_000+i), 0))
		ids = append(ids, id)
		docs = append(docs, bson.D{{Key: "_id", Value: id}, {Key: "s", Value: "MARK"}})
	}
	e, order, c := storeIndexed(t, "c", docs)

	u := url.URL{Scheme: "file", Path: filepath.ToSlash(filepath.Join(store.DirOf(e), "app.sqlite")), OmitHost: true,
		RawQuery: "mode=rw&_pragma=busy_timeout(10000)"}
	db, err := sql.Open("sqlite", u.String())
	require.NoError(t, err)
	defer func() { _ = db.Close() }()
	var table string
	require.NoError(t, db.QueryRowContext(ctx, `SELECT table_name FROM _ferretdb_collections WHERE name = 'c'`).Scan(&table))
	res, err := db.ExecContext(ctx, fmt.Sprintf(`UPDATE %q SET _ferretdb_sjson = replace(_ferretdb_sjson, 'MARK', 'a\ud800b')
		WHERE _ferretdb_sjson->>'$._id' = ?`, table), ids[1].Hex())
	require.NoError(t, err)
	n, err := res.RowsAffected()
	require.NoError(t, err)
	require.EqualValues(t, 1, n)

	stored, ok := order.AfterDocs(ctx, "c", bson.ObjectID{}, 10, nil)
	require.True(t, ok)
	require.Len(t, stored, 3)
	for i, sd := range stored {
		require.Equal(t, ids[i], sd.ID)
		got, decoded := sd.Doc()
		want, err := c.FindOne(ctx, bson.D{{Key: "_id", Value: sd.ID}}).Raw()
		require.NoError(t, err)
		if i == 1 {
			require.False(t, decoded, "%s", sd.Stored)
			require.Equal(t, "a\ufffdb", want.Lookup("s").StringValue(), "FerretDB reads it")
			continue
		}
		require.True(t, decoded)
		require.Equal(t, []byte(want), []byte(got))
	}
}
