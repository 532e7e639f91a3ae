package pipeline

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/policy"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// goldenCases cover every allowed stage kind, including those FerretDB
// cannot run, on collections with every kind of field rules. The golden
// files are the proof of what is sent to the server for a member of tenant
// t1 (see testPolicy).
var goldenCases = []struct {
	name, coll, pipeline string
}{
	{"empty", "people", `[]`},
	{"match", "people", `[{"$match": {"name": "Ann", "age": {"$gte": 18}}}]`},
	{"match_expr", "people", `[{"$match": {"$expr": {"$gt": ["$age", {"$add": [1, 2]}]}, "dept": "x"}}]`},
	{"project_inclusion", "people", `[{"$project": {"name": 1, "address.city": 1}}]`},
	{"project_exclusion", "people", `[{"$project": {"age": 0, "ssn": 0}}]`},
	{"project_computed", "people", `[{"$project": {"full": {"$concat": ["$first", " ", "$last"]}, "n": {"$size": {"$ifNull": ["$tags", []]}}}}]`},
	{"addFields", "people", `[{"$addFields": {"x": {"$multiply": ["$age", 2]}}}, {"$sort": {"x": -1}}]`},
	{"set", "people", `[{"$set": {"email": "$name"}}, {"$group": {"_id": "$email"}}]`},
	{"unset", "people", `[{"$unset": ["age", "address.zip"]}]`},
	{"sort", "people", `[{"$sort": {"age": -1, "name": 1}}]`},
	{"limit", "people", `[{"$limit": 5}]`},
	{"limit_clamped", "people", `[{"$limit": 1000000}]`},
	{"skip", "people", `[{"$skip": 10}]`},
	{"count", "people", `[{"$match": {"age": {"$gt": 30}}}, {"$count": "n"}]`},
	{"group", "people", `[{"$group": {"_id": "$dept", "n": {"$sum": 1}, "ages": {"$sum": "$age"}}}]`},
	{"group_accumulators", "people", `[{"$group": {"_id": {"d": "$dept", "y": {"$year": "$born"}}, "avg": {"$avg": "$age"}, "mn": {"$min": "$age"}, "mx": {"$max": "$age"}, "f": {"$first": "$name"}, "l": {"$last": "$name"}, "all": {"$push": "$name"}, "set": {"$addToSet": "$dept"}, "c": {"$count": {}}}}, {"$sort": {"avg": 1}}]`},
	{"unwind", "people", `[{"$unwind": "$tags"}, {"$group": {"_id": "$tags", "n": {"$sum": 1}}}]`},
	{"unwind_doc", "people", `[{"$unwind": {"path": "$tags", "includeArrayIndex": "i", "preserveNullAndEmptyArrays": true}}, {"$sort": {"i": 1}}]`},
	{"lookup_local", "people", `[{"$lookup": {"from": "orders", "localField": "_id", "foreignField": "person_id", "as": "orders"}}]`},
	{"lookup_pipeline", "people", `[{"$lookup": {"from": "orders", "let": {"pid": "$_id"}, "pipeline": [{"$match": {"$expr": {"$eq": ["$person_id", "$$pid"]}}}, {"$sort": {"total": -1}}], "as": "orders"}}, {"$sort": {"orders.total": -1}}]`},
	{"lookup_into_fields", "orders", `[{"$lookup": {"from": "people", "localField": "person_id", "foreignField": "_id", "as": "person"}}, {"$unwind": "$person"}]`},
	{"lookup_nested", "orders", `[{"$lookup": {"from": "people", "pipeline": [{"$lookup": {"from": "cards", "pipeline": [], "as": "cards"}}], "as": "people"}}]`},
	{"lookup_allow_list", "people", `[{"$lookup": {"from": "cards", "localField": "name", "foreignField": "name", "as": "cards"}}]`},
	{"graphLookup", "orders", `[{"$graphLookup": {"from": "nodes", "startWith": "$node", "connectFromField": "parent", "connectToField": "_id", "as": "ancestors", "maxDepth": 3, "depthField": "d", "restrictSearchWithMatch": {"kind": "dir"}}}]`},
	{"graphLookup_no_filter", "orders", `[{"$graphLookup": {"from": "public", "startWith": "$node", "connectFromField": "parent", "connectToField": "_id", "as": "a"}}]`},
	{"unionWith_string", "people", `[{"$unionWith": "orders"}, {"$sort": {"_id": 1}}]`},
	{"unionWith_pipeline", "orders", `[{"$unionWith": {"coll": "people", "pipeline": [{"$project": {"name": 1}}]}}]`},
	{"facet", "people", `[{"$facet": {"byDept": [{"$group": {"_id": "$dept", "n": {"$sum": 1}}}], "top": [{"$sort": {"age": -1}}, {"$limit": 3}], "orders": [{"$lookup": {"from": "orders", "localField": "_id", "foreignField": "person_id", "as": "o"}}]}}]`},
	{"replaceRoot", "people", `[{"$replaceRoot": {"newRoot": {"$mergeObjects": [{"name": "$name"}, "$address"]}}}]`},
	{"replaceWith", "people", `[{"$replaceWith": "$$ROOT"}]`},
	{"sortByCount", "people", `[{"$sortByCount": "$dept"}]`},
	{"bucket", "people", `[{"$bucket": {"groupBy": "$age", "boundaries": [0, 18, 65, 200], "default": "other", "output": {"n": {"$sum": 1}, "names": {"$push": "$name"}}}}]`},
	{"bucketAuto", "people", `[{"$bucketAuto": {"groupBy": "$age", "buckets": 4, "output": {"avg": {"$avg": "$age"}}}}]`},
	{"sample", "people", `[{"$sample": {"size": 3}}]`},
	{"root_tricks", "people", `[{"$project": {"kv": {"$objectToArray": "$$ROOT"}, "s": {"$getField": {"field": {"$literal": "x"}, "input": {"$literal": {"ssn": 1}}}}, "lit": {"$literal": "$ssn"}}}]`},
	{"allow_list_root", "cards", `[{"$match": {"contact.city": "Oslo"}}]`},
	{"no_filter_root", "public", `[{"$match": {"a": 1}}]`},
}

func TestGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			acc := member(t)
			in := parsePipeline(t, tc.pipeline)
			inCopy := toJSON(t, in)
			out, err := Rewrite(tc.coll, in, acc, Limits{MaxLimit: 100})
			require.NoError(t, err)
			checkInvariants(t, out)
			require.Equal(t, inCopy, toJSON(t, in), "Rewrite must not modify its input")
			got := toJSON(t, out)
			file := filepath.Join("testdata", tc.name+".golden")
			if *update {
				require.NoError(t, os.WriteFile(file, []byte(got), 0o644))
				return
			}
			want, err := os.ReadFile(file)
			require.NoError(t, err, "run go test ./internal/pipeline -run TestGolden -update")
			require.Equal(t, string(want), got)
		})
	}
}

// neverAccess: the caller can read the collection but no document of it
// (a decision whose state is Never), with field rules.
type neverAccess struct{}

func (neverAccess) For(string) (*Target, error) {
	return &Target{Never: true, Fields: policy.FieldRules{Deny: []string{"ssn"}}, Readable: func(string) bool { return true }}, nil
}

func TestGoldenNever(t *testing.T) {
	out, err := Rewrite("people", parsePipeline(t, `[{"$unionWith": "other"}]`), neverAccess{}, Limits{MaxLimit: 100})
	require.NoError(t, err)
	checkInvariants(t, out)
	got := toJSON(t, out)
	file := filepath.Join("testdata", "never.golden")
	if *update {
		require.NoError(t, os.WriteFile(file, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(file)
	require.NoError(t, err)
	require.Equal(t, string(want), got)
}

// A decision that is Never must never be read as "no restriction", even
// when the Access implementation leaves Filter nil.
func TestNeverIsNotAlways(t *testing.T) {
	out, err := Rewrite("x", bson.A{}, neverAccess{}, Limits{})
	require.NoError(t, err)
	require.Equal(t, bson.D{{Key: "$match", Value: neverFilter()}}, out[0])
}

func TestStripStages(t *testing.T) {
	st := stripStages(&Target{Fields: policy.FieldRules{
		Allow: []string{"a", "a.b", "c", "n"},
		Deny:  []string{"c.d", "c.d.e", "_id", "n"},
		Mask: map[string]string{
			"c.d.x": "redact", // under a denied path: gone already
			"a.m":   "email",  // under a masked top-level field
			"a":     "redact",
			"c.k":   "phone",  // nested: removed (see stripStages)
			"n":     "redact", // denied
			"z":     "redact", // outside the allow list
			"_id":   "redact", // never hidden
		},
	}})
	require.Equal(t, []bson.D{
		{{Key: "$project", Value: bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: 1}, {Key: "c", Value: 1}, {Key: "n", Value: 1}}}},
		{{Key: "$unset", Value: bson.A{"c.d", "c.k", "n"}}},
		{{Key: "$set", Value: bson.D{{Key: "a", Value: MaskedValue}}}},
	}, st)
	require.Empty(t, stripStages(&Target{}))
}

func TestStagesUsed(t *testing.T) {
	p := parsePipeline(t, `[{"$match": {}}, {"$facet": {"a": [{"$lookup": {"from": "x", "pipeline": [{"$unionWith": {"coll": "y", "pipeline": [{"$bucket": {"groupBy": "$a", "boundaries": [1, 2], "output": {"n": {"$avg": 1}}}}]}}], "as": "z"}}], "b": [{"$group": {"_id": null, "s": {"$sum": 1}, "a": {"$avg": "$x"}}}, {"$match": {}}]}}, "junk", {"$out": "x"}]`)
	require.Equal(t, []string{"$match", "$facet", "$lookup", "$unionWith", "$bucket", "$bucket $avg", "$group", "$group $sum", "$group $avg", "$out"}, StagesUsed(p))
	require.Empty(t, StagesUsed(nil))
}
