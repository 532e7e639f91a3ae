package query

import (
	"fmt"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
)

func TestParseUpdate(t *testing.T) {
	cases := []struct {
		name  string
		in    string
		kind  apperr.Kind
		msg   string
		paths []string // written, checked on success
		reads []string // read, checked on success when non-nil
	}{
		// Merge patches.
		{"merge patch", `{"name": "x", "age": 3}`, ok, "", []string{"name", "age"}, []string{}},
		{"merge patch dotted", `{"address.city": "Paris"}`, ok, "", []string{"address.city"}, nil},
		{"merge patch nested value", `{"profile": {"name": "x", "tags": [{"k": 1}]}}`, ok, "", []string{"profile", "profile.name", "profile.tags", "profile.tags.k"}, nil},
		{"merge patch null", `{"nick": null}`, ok, "", []string{"nick"}, nil},
		{"merge patch index", `{"tags.0": "a"}`, ok, "", []string{"tags"}, nil},
		{"merge patch _id", `{"_id": 1}`, apperr.KindInvalid, "_id", nil, nil},
		{"merge patch _id sub", `{"_id.x": 1}`, apperr.KindInvalid, "_id", nil, nil},
		{"merge patch positional", `{"items.$.price": 1}`, apperr.KindInvalid, "'$'", nil, nil},
		{"merge patch dollar in value", `{"a": {"$gt": 1}}`, apperr.KindInvalid, "$gt", nil, nil},
		{"merge patch dbref refused", `{"a": {"$ref": "c", "$id": 1}}`, apperr.KindInvalid, "$ref", nil, nil},
		{"merge patch dotted value key", `{"a": {"b.c": 1}}`, apperr.KindInvalid, "b.c", nil, nil},
		{"merge patch conflict", `{"a": 1, "a.b": 2}`, apperr.KindInvalid, "conflict", nil, nil},
		{"merge patch empty segment", `{"a..b": 1}`, apperr.KindInvalid, "empty", nil, nil},
		{"merge patch dollar inside name", `{"price$usd": 1}`, ok, "", []string{"price$usd"}, nil},
		{"merge patch dollar segment", `{"a.$x": 1}`, apperr.KindInvalid, "$x", nil, nil},

		// Shape.
		{"empty", `{}`, apperr.KindInvalid, "empty", nil, nil},
		{"mixed", `{"$set": {"a": 1}, "b": 2}`, apperr.KindInvalid, "mixes", nil, nil},
		{"mixed reversed", `{"b": 2, "$set": {"a": 1}}`, apperr.KindInvalid, "mixes", nil, nil},
		{"empty operator", `{"$set": {}}`, apperr.KindInvalid, "$set is empty", nil, nil},
		{"operator not doc", `{"$set": 1}`, apperr.KindInvalid, "$set", nil, nil},
		{"operator array", `{"$set": [{"a": 1}]}`, apperr.KindInvalid, "$set", nil, nil},

		// Operators and their paths.
		{"set", `{"$set": {"a": 1, "b.c": {"d": 2}}}`, ok, "", []string{"a", "b.c", "b.c.d"}, nil},
		{"set positional", `{"$set": {"items.$.price": 1, "a.$[].b": 2, "c.$[x1].d": 3, "e.0": 4}}`, ok, "", []string{"items.price", "a.b", "c.d", "e"}, nil},
		{"unset", `{"$unset": {"a": "", "b.c": 1}}`, ok, "", []string{"a", "b.c"}, nil},
		{"unset dollar operand", `{"$unset": {"a": {"$x": 1}}}`, apperr.KindInvalid, "$x", nil, nil},
		{"inc mul", `{"$inc": {"n": 1}, "$mul": {"m": {"$numberDecimal": "1.5"}}}`, ok, "", []string{"n", "m"}, nil},
		{"inc string", `{"$inc": {"n": "1"}}`, apperr.KindInvalid, "number", nil, nil},
		{"min max", `{"$min": {"lo": 1}, "$max": {"hi": {"$date": "2020-01-01T00:00:00Z"}}}`, ok, "", []string{"lo", "hi"}, nil},
		{"rename both names", `{"$rename": {"old": "new.name"}}`, ok, "", []string{"old", "new.name"}, nil},
		{"rename to hidden", `{"$rename": {"nick": "secret"}}`, ok, "", []string{"nick", "secret"}, nil},
		{"rename not string", `{"$rename": {"a": 1}}`, apperr.KindInvalid, "string", nil, nil},
		{"rename positional", `{"$rename": {"a.$.b": "c"}}`, apperr.KindInvalid, "'$'", nil, nil},
		{"rename to dollar", `{"$rename": {"a": "$where"}}`, apperr.KindInvalid, "'$'", nil, nil},
		{"rename to self", `{"$rename": {"a": "a"}}`, apperr.KindInvalid, "itself", nil, nil},
		{"rename to id", `{"$rename": {"a": "_id"}}`, apperr.KindInvalid, "_id", nil, nil},
		{"rename from id", `{"$rename": {"_id": "a"}}`, apperr.KindInvalid, "_id", nil, nil},
		{"push value", `{"$push": {"tags": "x"}}`, ok, "", []string{"tags"}, nil},
		{"push doc value", `{"$push": {"items": {"sku": "a"}}}`, ok, "", []string{"items", "items.sku"}, nil},
		{"push each", `{"$push": {"items": {"$each": [{"sku": "a", "secret": 1}], "$slice": -5, "$position": 0, "$sort": {"sku": 1}}}}`, ok, "", []string{"items", "items.sku", "items.secret"}, []string{"items.sku", "items"}},
		{"push sort scalar", `{"$push": {"n": {"$each": [1], "$sort": -1}}}`, ok, "", []string{"n"}, []string{"n"}},
		{"push modifiers need each", `{"$push": {"tags": {"$slice": 1}}}`, apperr.KindInvalid, "$each", nil, nil},
		{"push each not array", `{"$push": {"tags": {"$each": 1}}}`, apperr.KindInvalid, "$each", nil, nil},
		{"push unknown modifier", `{"$push": {"tags": {"$each": [], "$where": "x"}}}`, apperr.KindInvalid, "$where", nil, nil},
		{"push mixed modifier", `{"$push": {"tags": {"$each": [], "x": 1}}}`, apperr.KindInvalid, "mix", nil, nil},
		{"push each dollar element", `{"$push": {"tags": {"$each": [{"$gt": 1}]}}}`, apperr.KindInvalid, "$gt", nil, nil},
		{"push bad sort", `{"$push": {"tags": {"$each": [], "$sort": 2}}}`, apperr.KindInvalid, "$sort", nil, nil},
		{"push bad slice", `{"$push": {"tags": {"$each": [], "$slice": "x"}}}`, apperr.KindInvalid, "$slice", nil, nil},
		{"addToSet each", `{"$addToSet": {"tags": {"$each": ["a", "b"]}}}`, ok, "", []string{"tags"}, nil},
		{"addToSet slice refused", `{"$addToSet": {"tags": {"$each": [], "$slice": 1}}}`, apperr.KindInvalid, "$slice", nil, nil},
		{"pull value", `{"$pull": {"tags": "a"}}`, ok, "", []string{"tags"}, []string{"tags"}},
		{"pull op condition", `{"$pull": {"scores": {"$gte": 6}}}`, ok, "", []string{"scores"}, []string{"scores"}},
		{"pull query condition", `{"$pull": {"items": {"secret": {"$gt": 5}, "sku": "a"}}}`, ok, "", []string{"items"}, []string{"items.secret", "items.sku", "items"}},
		{"pull where", `{"$pull": {"items": {"$where": "x"}}}`, apperr.KindInvalid, "$where", nil, nil},
		{"pull expr in or", `{"$pull": {"items": {"$or": [{"$expr": 1}]}}}`, apperr.KindInvalid, "$expr", nil, nil},
		{"pull positional path", `{"$pull": {"a.$[].b": 1}}`, ok, "", []string{"a.b"}, []string{"a.b"}},
		{"pullAll", `{"$pullAll": {"tags": ["a", "b"]}}`, ok, "", []string{"tags"}, nil},
		{"pullAll scalar", `{"$pullAll": {"tags": "a"}}`, apperr.KindInvalid, "array", nil, nil},
		{"pop", `{"$pop": {"tags": -1}}`, ok, "", []string{"tags"}, nil},
		{"pop bad", `{"$pop": {"tags": 2}}`, apperr.KindInvalid, "$pop", nil, nil},
		{"currentDate", `{"$currentDate": {"seen": true, "ts": {"$type": "timestamp"}}}`, ok, "", []string{"seen", "ts"}, nil},
		{"currentDate bad", `{"$currentDate": {"seen": {"$type": "string"}}}`, apperr.KindInvalid, "$currentDate", nil, nil},
		{"setOnInsert", `{"$setOnInsert": {"a": 1}}`, apperr.KindInvalid, "upserts", nil, nil},
		{"bit", `{"$bit": {"a": {"and": 1}}}`, apperr.KindInvalid, "$bit", nil, nil},
		{"unknown", `{"$foo": {"a": 1}}`, apperr.KindInvalid, "$foo", nil, nil},
		{"set _id", `{"$set": {"_id": 1}}`, apperr.KindInvalid, "_id", nil, nil},
		{"unset _id", `{"$unset": {"_id": 1}}`, apperr.KindInvalid, "_id", nil, nil},
		{"inc _id sub", `{"$inc": {"_id.n": 1}}`, apperr.KindInvalid, "_id", nil, nil},
		{"positional first", `{"$set": {"$.a": 1}}`, apperr.KindInvalid, "positional", nil, nil},
		{"bad identifier", `{"$set": {"a.$[X].b": 1}}`, apperr.KindInvalid, "$[X]", nil, nil},
		{"dollar segment", `{"$set": {"a.$where": 1}}`, apperr.KindInvalid, "$where", nil, nil},
		{"conflict across ops", `{"$set": {"a": 1}, "$inc": {"a.b": 1}}`, apperr.KindInvalid, "conflict", nil, nil},
		{"same path twice", `{"$set": {"a": 1}, "$unset": {"a": 1}}`, apperr.KindInvalid, "twice", nil, nil},
		{"rename conflict", `{"$rename": {"a": "b"}, "$set": {"b.c": 1}}`, apperr.KindInvalid, "conflict", nil, nil},
		{"positional siblings fine", `{"$set": {"items.$.a": 1, "items.$.b": 2}}`, ok, "", []string{"items.a", "items.b"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u, err := ParseUpdate(mustDoc(t, tc.in))
			checkErr(t, err, tc.kind, tc.msg)
			if tc.kind != ok {
				return
			}
			if !equalStrings(u.Paths, tc.paths) {
				t.Fatalf("Paths = %q, want %q", u.Paths, tc.paths)
			}
			if tc.reads != nil && !equalStrings(u.ReadPaths, tc.reads) {
				t.Fatalf("ReadPaths = %q, want %q", u.ReadPaths, tc.reads)
			}
			if len(u.Doc) == 0 || !strings.HasPrefix(u.Doc[0].Key, "$") {
				t.Fatalf("Doc is not an operator update: %v", u.Doc)
			}
		})
	}
}

func TestParseUpdateMergePatchBecomesSet(t *testing.T) {
	u, err := ParseUpdate(mustDoc(t, `{"a": 1, "b.c": 2}`))
	if err != nil {
		t.Fatal(err)
	}
	want := bson.D{{Key: "$set", Value: bson.D{{Key: "a", Value: int32(1)}, {Key: "b.c", Value: int32(2)}}}}
	if fmt.Sprint(u.Doc) != fmt.Sprint(want) {
		t.Fatalf("Doc = %v, want %v", u.Doc, want)
	}
}

func TestParseUpdatePipeline(t *testing.T) {
	_, err := ParseUpdateJSON([]byte(` [{"$set": {"a": "$secret"}}]`))
	checkErr(t, err, apperr.KindInvalid, "pipeline-style updates are not supported")
	_, err = ParseUpdateValue(bson.A{bson.D{{Key: "$set", Value: bson.D{{Key: "a", Value: 1}}}}})
	checkErr(t, err, apperr.KindInvalid, "pipeline-style updates are not supported")
	_, err = ParseUpdateValue("x")
	checkErr(t, err, apperr.KindInvalid, "document")
	u, err := ParseUpdateJSON([]byte(`{"$inc": {"n": 1}}`))
	if err != nil || !equalStrings(u.Paths, []string{"n"}) {
		t.Fatalf("ParseUpdateJSON: %v %v", u, err)
	}
	u, err = ParseUpdateValue(bson.D{{Key: "a", Value: 1}})
	if err != nil || !equalStrings(u.Paths, []string{"a"}) {
		t.Fatalf("ParseUpdateValue: %v %v", u, err)
	}
	_, err = ParseUpdateJSON([]byte(`{"a": 1, "a": 2}`))
	checkErr(t, err, apperr.KindInvalid, "duplicate")
}

// The write-denial half of the hostile suite (ARCHITECTURE.md, security rule 12): every
// update form that touches a denied field, or a parent of one, is refused.
func TestHostileWriteDenial(t *testing.T) {
	for _, in := range []string{
		`{"secret": 1}`,
		`{"profile.salary": 1}`,
		`{"profile": {"name": "x"}}`,
		`{"$set": {"profile": {}}}`,
		`{"$set": {"profile.salary": 1}}`,
		`{"$set": {"items.$.secret": 1}}`,
		`{"$set": {"items.$[].secret": 1}}`,
		`{"$set": {"items.$[x].secret": 1}}`,
		`{"$set": {"items.3.secret": 1}}`,
		`{"$set": {"items": [{"sku": "a"}]}}`,
		`{"$unset": {"secret": ""}}`,
		`{"$unset": {"profile": ""}}`,
		`{"$rename": {"secret": "public"}}`,
		`{"$rename": {"public": "secret"}}`,
		`{"$rename": {"public": "profile.salary"}}`,
		`{"$inc": {"profile.salary": 1}}`,
		`{"$mul": {"profile.salary": 2}}`,
		`{"$min": {"secret": 1}}`,
		`{"$max": {"secret": 1}}`,
		`{"$push": {"items": {"sku": "a"}}}`,
		`{"$push": {"items.secret": 1}}`,
		`{"$addToSet": {"items": {"$each": [{"sku": "a"}]}}}`,
		`{"$pull": {"items": {"sku": "a"}}}`,
		`{"$pullAll": {"items": []}}`,
		`{"$pop": {"items": 1}}`,
		`{"$currentDate": {"secret": true}}`,
		`{"$set": {"public": 1}, "$currentDate": {"profile.salary": true}}`,
	} {
		t.Run(in, func(t *testing.T) {
			u, err := ParseUpdate(mustDoc(t, in))
			if err != nil {
				t.Fatalf("ParseUpdate: %v", err)
			}
			checkErr(t, CheckWritable(u.Paths, policyAllows), apperr.KindForbidden, "not writable")
		})
	}
	u, err := ParseUpdate(mustDoc(t, `{"$set": {"items.$.sku": 1, "profile.name": "x"}}`))
	if err != nil {
		t.Fatal(err)
	}
	checkErr(t, CheckWritable(u.Paths, policyAllows), ok, "")
	checkErr(t, CheckWritable(u.Paths, nil), apperr.KindInternal, "")
}

// A $pull condition and a $push $sort read fields: a hidden one is an
// oracle, so ReadPaths must name it.
func TestHostileUpdateReadOracles(t *testing.T) {
	for _, in := range []string{
		`{"$pull": {"items": {"secret": {"$gt": 5}}}}`,
		`{"$pull": {"items": {"$or": [{"secret": 1}]}}}`,
		`{"$push": {"items": {"$each": [], "$sort": {"secret": 1}}}}`,
	} {
		u, err := ParseUpdate(mustDoc(t, in))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		denied := false
		for _, p := range u.ReadPaths {
			if !policyAllows(p) {
				denied = true
			}
		}
		if !denied {
			t.Errorf("%s: ReadPaths %q hide the read of items.secret", in, u.ReadPaths)
		}
	}
}

func TestReplacementPaths(t *testing.T) {
	d := mustDoc(t, `{"_id": 1, "name": "x", "profile": {"salary": 1, "tags": [{"k": 1}, {"k": 2, "v": [{"w": 1}]}, 3]}, "list": [[{"z": 1}]]}`)
	want := []string{"_id", "name", "profile", "profile.salary", "profile.tags", "profile.tags.k", "profile.tags.v", "profile.tags.v.w", "list", "list.z"}
	if got := ReplacementPaths(d); !equalStrings(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if got := ReplacementPaths(bson.D{}); got == nil || len(got) != 0 {
		t.Fatalf("empty doc: %q", got)
	}
	checkErr(t, CheckWritable(ReplacementPaths(d), policyAllows), apperr.KindForbidden, "profile")
}

func TestCheckDocument(t *testing.T) {
	cases := []struct {
		name string
		in   string
		kind apperr.Kind
	}{
		{"plain", `{"_id": {"$oid": "5f0000000000000000000000"}, "a": [1, {"b": {"c": null}}]}`, ok},
		{"dollar top", `{"$set": {"a": 1}}`, apperr.KindInvalid},
		{"dollar nested", `{"a": {"$where": "x"}}`, apperr.KindInvalid},
		{"dollar in array", `{"a": [{"$gt": 1}]}`, apperr.KindInvalid},
		{"dotted top", `{"a.b": 1}`, apperr.KindInvalid},
		{"dotted nested", `{"a": {"b.c": 1}}`, apperr.KindInvalid},
		{"empty key", `{"": 1}`, apperr.KindInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, CheckDocument(mustDoc(t, tc.in)), tc.kind, "")
		})
	}
	checkErr(t, CheckDocument(bson.D{{Key: "a", Value: struct{}{}}}), apperr.KindInvalid, "unsupported")
}

func TestUpdateHostileSizes(t *testing.T) {
	// Many paths: conflict detection must stay linear.
	var b strings.Builder
	b.WriteString(`{"$set": {`)
	for i := 0; i < 50_000; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"f%d.g": %d`, i, i)
	}
	b.WriteString(`}}`)
	u, err := ParseUpdate(mustDoc(t, b.String()))
	if err != nil || len(u.Paths) != 50_000 {
		t.Fatalf("wide update: %d paths, %v", len(u.Paths), err)
	}
	long := strings.Repeat("a.", 200) + "b"
	_, err = ParseUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: long, Value: 1}}}})
	checkErr(t, err, apperr.KindInvalid, "segments")
	_, err = ParseUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: strings.Repeat("a", 5000), Value: 1}}}})
	checkErr(t, err, apperr.KindInvalid, "bytes")
	var deep any = int32(1)
	for i := 0; i < 10_000; i++ {
		deep = bson.D{{Key: "a", Value: deep}}
	}
	_, err = ParseUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: deep}}}})
	checkErr(t, err, apperr.KindInvalid, "deeper")
}

// A $rename reads its source: the source must be checked like a filter path,
// or renaming a hidden field to a visible name would show its value.
func TestRenameSourceIsRead(t *testing.T) {
	u, err := ParseUpdate(bson.D{{Key: "$rename", Value: bson.D{{Key: "ssn", Value: "nick"}}}})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range u.ReadPaths {
		found = found || p == "ssn"
	}
	if !found {
		t.Fatalf("ReadPaths %v does not list the $rename source", u.ReadPaths)
	}
}
