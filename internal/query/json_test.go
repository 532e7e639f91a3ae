package query

import (
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
)

func TestParseJSONDoc(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want apperr.Kind
		msg  string
	}{
		{"empty object", `{}`, ok, ""},
		{"relaxed types", `{"a": {"$date": "2020-01-01T00:00:00Z"}, "b": {"$oid": "5f0000000000000000000000"}, "c": {"$numberDecimal": "1.5"}, "d": {"$numberLong": "5"}}`, ok, ""},
		{"canonical types", `{"a": {"$date": {"$numberLong": "5"}}, "n": {"$numberInt": "1"}, "f": {"$numberDouble": "1.5"}}`, ok, ""},
		{"nested", `{"a": [1, {"b": [2, 3]}], "c": {"d": null}}`, ok, ""},
		{"unicode", `{"名前": "値", "emoji": "😀"}`, ok, ""},
		{"empty body", ``, apperr.KindInvalid, "empty"},
		{"whitespace body", "  \n ", apperr.KindInvalid, "empty"},
		{"null", `null`, apperr.KindInvalid, "must be an object"},
		{"array", `[{"a": 1}]`, apperr.KindInvalid, "must be an object"},
		{"string", `"x"`, apperr.KindInvalid, "must be an object"},
		{"syntax error", `{"a": }`, apperr.KindInvalid, "malformed JSON"},
		{"unterminated", `{"a": 1`, apperr.KindInvalid, "malformed JSON"},
		{"trailing garbage", `{"a": 1} x`, apperr.KindInvalid, "malformed JSON"},
		{"second object", `{"a": 1}{"b": 2}`, apperr.KindInvalid, "after the top-level object"},
		{"duplicate key", `{"owner": "me", "owner": {"$ne": null}}`, apperr.KindInvalid, "duplicate key"},
		{"duplicate nested key", `{"a": {"b": 1, "b": 2}}`, apperr.KindInvalid, "duplicate key"},
		{"same key in sibling objects", `{"a": {"b": 1}, "c": {"b": 2}}`, ok, ""},
		{"bad oid", `{"a": {"$oid": "zz"}}`, apperr.KindInvalid, "Extended JSON"},
		{"bad date", `{"a": {"$date": "yesterday"}}`, apperr.KindInvalid, "Extended JSON"},
		{"numberLong not string", `{"a": {"$numberLong": 5}}`, apperr.KindInvalid, "Extended JSON"},
		{"float overflow", `{"a": 1e400}`, apperr.KindInvalid, "Extended JSON"},
		{"NUL in key", `{"a\u0000b": 1}`, apperr.KindInvalid, "BSON"},
		{"NUL in regex", `{"a": {"$regularExpression": {"pattern": "x\u0000", "options": ""}}}`, apperr.KindInvalid, "BSON"},
		{"too deep", strings.Repeat(`{"a":`, MaxJSONDepth+1) + "1" + strings.Repeat("}", MaxJSONDepth+1), apperr.KindInvalid, "nested deeper"},
		{"very deep", strings.Repeat(`[`, 1_000_000), apperr.KindInvalid, "must be an object"},
		{"very deep object", strings.Repeat(`{"a":`, 1_000_000), apperr.KindInvalid, "nested deeper"},
		{"at depth limit", strings.Repeat(`{"a":`, MaxJSONDepth) + "1" + strings.Repeat("}", MaxJSONDepth), ok, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ParseJSONDoc([]byte(tc.in))
			checkErr(t, err, tc.want, tc.msg)
			if tc.want == ok && d == nil {
				t.Fatal("nil document on success")
			}
		})
	}
}

func TestParseJSONDocTypes(t *testing.T) {
	d := mustDoc(t, `{"id": {"$oid": "5f0000000000000000000000"}, "at": {"$date": "2020-01-01T00:00:00Z"}, "price": {"$numberDecimal": "1.50"}, "n": {"$numberLong": "7"}, "i": 3, "sub": {"x": [1]}}`)
	want := []struct {
		key string
		typ any
	}{{"id", bson.ObjectID{}}, {"at", bson.DateTime(0)}, {"price", bson.Decimal128{}}, {"n", int64(0)}, {"i", int32(0)}, {"sub", bson.D{}}}
	for i, w := range want {
		if d[i].Key != w.key {
			t.Fatalf("key %d = %q, want %q (order must be kept)", i, d[i].Key, w.key)
		}
		if gotT, wantT := fmtType(d[i].Value), fmtType(w.typ); gotT != wantT {
			t.Errorf("%s: type %s, want %s", w.key, gotT, wantT)
		}
	}
}

func fmtType(v any) string {
	switch v.(type) {
	case bson.ObjectID:
		return "oid"
	case bson.DateTime:
		return "date"
	case bson.Decimal128:
		return "decimal"
	case int64:
		return "int64"
	case int32:
		return "int32"
	case bson.D:
		return "doc"
	}
	return "other"
}
