package pipeline

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/principal"
)

const (
	forbidden = apperr.KindForbidden
	invalid   = apperr.KindInvalid
	tooLarge  = apperr.KindTooLarge
)

// hostile are pipelines that try to read what the caller (a member of
// tenant t1, see testPolicy) may not, or to write, or to run code. Each must
// be refused with the given kind and a message naming the problem.
var hostile = []struct {
	name, coll, pipeline string
	kind                 apperr.Kind
	msg                  string
}{
	// --- another collection, through every stage and nesting -------------
	{"lookup local secrets", "people", `[{"$lookup": {"from": "secrets", "localField": "a", "foreignField": "b", "as": "x"}}]`, forbidden, `"secrets"`},
	{"lookup pipeline secrets", "people", `[{"$lookup": {"from": "secrets", "pipeline": [], "as": "x"}}]`, forbidden, `"secrets"`},
	{"lookup unlisted collection", "people", `[{"$lookup": {"from": "nosuch", "pipeline": [], "as": "x"}}]`, forbidden, `"nosuch"`},
	{"graphLookup secrets", "people", `[{"$graphLookup": {"from": "secrets", "startWith": "$a", "connectFromField": "a", "connectToField": "b", "as": "x"}}]`, forbidden, `"secrets"`},
	{"unionWith string secrets", "people", `[{"$unionWith": "secrets"}]`, forbidden, `"secrets"`},
	{"unionWith doc secrets", "people", `[{"$unionWith": {"coll": "secrets", "pipeline": [{"$limit": 1}]}}]`, forbidden, `"secrets"`},
	{"facet lookup secrets", "people", `[{"$facet": {"a": [{"$lookup": {"from": "secrets", "localField": "a", "foreignField": "b", "as": "x"}}]}}]`, forbidden, `"secrets"`},
	{"facet unionWith secrets", "people", `[{"$facet": {"a": [{"$match": {}}], "b": [{"$unionWith": "secrets"}]}}]`, forbidden, `"secrets"`},
	{"facet graphLookup secrets", "people", `[{"$facet": {"a": [{"$graphLookup": {"from": "secrets", "startWith": "$a", "connectFromField": "a", "connectToField": "b", "as": "x"}}]}}]`, forbidden, `"secrets"`},
	{"lookup in lookup secrets", "people", `[{"$lookup": {"from": "orders", "pipeline": [{"$lookup": {"from": "secrets", "pipeline": [], "as": "y"}}], "as": "x"}}]`, forbidden, `"secrets"`},
	{"unionWith in lookup secrets", "people", `[{"$lookup": {"from": "orders", "pipeline": [{"$unionWith": "secrets"}], "as": "x"}}]`, forbidden, `"secrets"`},
	{"graphLookup in lookup secrets", "people", `[{"$lookup": {"from": "orders", "pipeline": [{"$graphLookup": {"from": "secrets", "startWith": "$a", "connectFromField": "a", "connectToField": "b", "as": "x"}}], "as": "x"}}]`, forbidden, `"secrets"`},
	{"lookup in unionWith secrets", "people", `[{"$unionWith": {"coll": "orders", "pipeline": [{"$lookup": {"from": "secrets", "pipeline": [], "as": "y"}}]}}]`, forbidden, `"secrets"`},
	{"facet in lookup in facet", "people", `[{"$facet": {"a": [{"$lookup": {"from": "orders", "pipeline": [{"$facet": {"b": [{"$unionWith": "secrets"}]}}], "as": "x"}}]}}]`, forbidden, `"secrets"`},
	{"lookup from document", "people", `[{"$lookup": {"from": {"db": "admin", "coll": "system.users"}, "pipeline": [], "as": "x"}}]`, invalid, "collection name must be a string"},
	{"lookup from empty", "people", `[{"$lookup": {"from": "", "pipeline": [], "as": "x"}}]`, invalid, "not a valid collection name"},
	{"lookup unknown key", "people", `[{"$lookup": {"from": "orders", "pipeline": [], "as": "x", "unsafe": true}}]`, invalid, `unknown argument "unsafe"`},
	{"lookup without as", "people", `[{"$lookup": {"from": "orders", "pipeline": []}}]`, invalid, "requires as"},
	{"unionWith unknown key", "people", `[{"$unionWith": {"coll": "orders", "x": 1}}]`, invalid, `unknown argument "x"`},
	{"graphLookup on fields-ruled collection", "orders", `[{"$graphLookup": {"from": "people", "startWith": "$p", "connectFromField": "boss", "connectToField": "_id", "as": "chain"}}]`, forbidden, "$graphLookup cannot hide"},
	{"lookup foreignField hidden", "orders", `[{"$lookup": {"from": "people", "localField": "x", "foreignField": "ssn", "as": "p"}}]`, forbidden, `"ssn"`},
	{"lookup foreignField masked", "orders", `[{"$lookup": {"from": "people", "localField": "x", "foreignField": "email", "as": "p"}}]`, forbidden, `"email"`},
	{"lookup sub-pipeline hidden", "orders", `[{"$lookup": {"from": "people", "pipeline": [{"$match": {"ssn": "1"}}], "as": "p"}}]`, forbidden, `"ssn"`},
	{"lookup sub-pipeline masked sort", "orders", `[{"$lookup": {"from": "people", "pipeline": [{"$sort": {"phone": 1}}], "as": "p"}}]`, forbidden, `"phone"`},
	{"unionWith then masked sort", "orders", `[{"$unionWith": "people"}, {"$sort": {"email": 1}}]`, forbidden, `"email"`},
	{"unionWith then hidden group", "people", `[{"$unionWith": "orders"}, {"$group": {"_id": "$ssn"}}]`, forbidden, `"ssn"`},

	// --- hidden fields, at every place a path can hide --------------------
	{"match hidden", "people", `[{"$match": {"ssn": "123"}}]`, forbidden, `"ssn"`},
	{"match or hidden", "people", `[{"$match": {"$or": [{"a": 1}, {"ssn": {"$exists": true}}]}}]`, forbidden, `"ssn"`},
	{"match elemMatch hidden", "people", `[{"$match": {"bank": {"$elemMatch": {"iban": "x"}}}}]`, forbidden, `"bank`},
	{"match index hidden", "people", `[{"$match": {"bank.0.iban": "x"}}]`, forbidden, `"bank.iban"`},
	{"match parent of hidden", "people", `[{"$match": {"bank": {"iban": "x"}}}]`, forbidden, `"bank"`},
	{"expr hidden", "people", `[{"$match": {"$expr": {"$eq": ["$ssn", "1"]}}}]`, forbidden, `"ssn"`},
	{"expr ROOT hidden", "people", `[{"$match": {"$expr": {"$eq": ["$$ROOT.ssn", "1"]}}}]`, forbidden, `"ssn"`},
	{"expr CURRENT nested hidden", "people", `[{"$match": {"$expr": {"$eq": ["$$CURRENT.bank.iban", 1]}}}]`, forbidden, `"bank.iban"`},
	{"project hidden", "people", `[{"$project": {"x": "$ssn"}}]`, forbidden, `"ssn"`},
	{"project include hidden parent", "people", `[{"$project": {"bank": 1}}]`, forbidden, `"bank"`},
	{"project nested include", "people", `[{"$project": {"bank": {"iban": 1}}}]`, forbidden, `"bank.iban"`},
	{"getField shorthand", "people", `[{"$project": {"x": {"$getField": "ssn"}}}]`, forbidden, `"ssn"`},
	{"getField ROOT", "people", `[{"$project": {"x": {"$getField": {"field": "ssn", "input": "$$ROOT"}}}}]`, forbidden, `"ssn"`},
	{"getField literal", "people", `[{"$project": {"x": {"$getField": {"field": {"$literal": "ssn"}, "input": "$$CURRENT"}}}}]`, forbidden, `"ssn"`},
	{"getField of sub-document", "people", `[{"$project": {"x": {"$getField": {"field": "iban", "input": "$bank"}}}}]`, forbidden, `"bank`},
	{"getField masked", "people", `[{"$project": {"x": {"$getField": "email"}}}]`, forbidden, `"email"`},
	{"addFields hidden", "people", `[{"$addFields": {"x": "$bank.iban"}}]`, forbidden, `"bank.iban"`},
	{"set deep in expression", "people", `[{"$set": {"x": {"$cond": [true, {"$concat": ["a", {"$toString": "$ssn"}]}, 1]}}}]`, forbidden, `"ssn"`},
	{"map over hidden", "people", `[{"$project": {"x": {"$map": {"input": "$tags", "as": "t", "in": "$ssn"}}}}]`, forbidden, `"ssn"`},
	{"filter cond hidden", "people", `[{"$project": {"x": {"$filter": {"input": "$tags", "as": "t", "cond": {"$eq": ["$$t", "$ssn"]}}}}}]`, forbidden, `"ssn"`},
	{"let hidden", "people", `[{"$project": {"x": {"$let": {"vars": {"s": "$ssn"}, "in": "$$s"}}}}]`, forbidden, `"ssn"`},
	{"sort hidden", "people", `[{"$sort": {"ssn": 1}}]`, forbidden, `"ssn"`},
	{"sort hidden index", "people", `[{"$sort": {"bank.3.iban": 1}}]`, forbidden, `"bank.iban"`},
	{"group hidden", "people", `[{"$group": {"_id": "$ssn"}}]`, forbidden, `"ssn"`},
	{"group key document hidden", "people", `[{"$group": {"_id": {"s": "$ssn"}}}]`, forbidden, `"ssn"`},
	{"group accumulator hidden", "people", `[{"$group": {"_id": null, "all": {"$push": "$ssn"}}}]`, forbidden, `"ssn"`},
	{"unwind hidden", "people", `[{"$unwind": "$bank"}]`, forbidden, `"bank"`},
	{"sortByCount hidden", "people", `[{"$sortByCount": "$ssn"}]`, forbidden, `"ssn"`},
	{"bucket hidden", "people", `[{"$bucket": {"groupBy": "$ssn", "boundaries": [0, 1]}}]`, forbidden, `"ssn"`},
	{"bucketAuto hidden output", "people", `[{"$bucketAuto": {"groupBy": "$age", "buckets": 2, "output": {"s": {"$max": "$ssn"}}}}]`, forbidden, `"ssn"`},
	{"replaceRoot partial", "people", `[{"$replaceRoot": {"newRoot": "$bank"}}]`, forbidden, `"bank"`},
	{"lookup localField hidden", "people", `[{"$lookup": {"from": "orders", "localField": "ssn", "foreignField": "x", "as": "o"}}]`, forbidden, `"ssn"`},
	{"lookup let hidden", "people", `[{"$lookup": {"from": "orders", "let": {"s": "$ssn"}, "pipeline": [], "as": "o"}}]`, forbidden, `"ssn"`},
	{"graphLookup startWith hidden", "people", `[{"$graphLookup": {"from": "nodes", "startWith": "$ssn", "connectFromField": "a", "connectToField": "b", "as": "x"}}]`, forbidden, `"ssn"`},
	{"hidden in facet", "people", `[{"$facet": {"a": [{"$group": {"_id": "$ssn"}}]}}]`, forbidden, `"ssn"`},
	{"hidden after unset", "people", `[{"$unset": "age"}, {"$sort": {"ssn": 1}}]`, forbidden, `"ssn"`},
	{"hidden after exclusion project", "people", `[{"$project": {"age": 0}}, {"$sort": {"ssn": 1}}]`, forbidden, `"ssn"`},
	{"hidden after unrelated addFields", "people", `[{"$addFields": {"bank.x": 1}}, {"$sort": {"bank.iban": 1}}]`, forbidden, `"bank.iban"`},

	// --- masked fields: no grouping, sorting or filtering ----------------
	{"group masked", "people", `[{"$group": {"_id": "$email"}}]`, forbidden, `"email"`},
	{"sort masked", "people", `[{"$sort": {"email": 1}}]`, forbidden, `"email"`},
	{"match masked regex", "people", `[{"$match": {"email": {"$regex": "^a"}}}]`, forbidden, `"email"`},
	{"sortByCount masked", "people", `[{"$sortByCount": "$phone"}]`, forbidden, `"phone"`},
	{"addToSet masked", "people", `[{"$group": {"_id": null, "s": {"$addToSet": "$email"}}}]`, forbidden, `"email"`},
	{"masked in facet", "people", `[{"$facet": {"a": [{"$sort": {"email": 1}}]}}]`, forbidden, `"email"`},
	{"masked after replaceWith ROOT", "people", `[{"$replaceWith": "$$ROOT"}, {"$sort": {"email": 1}}]`, forbidden, `"email"`},
	{"masked after replaceRoot CURRENT", "people", `[{"$replaceRoot": {"newRoot": "$$CURRENT"}}, {"$group": {"_id": "$phone"}}]`, forbidden, `"phone"`},
	{"allow list outside", "cards", `[{"$sort": {"number": 1}}]`, forbidden, `"number"`},
	{"allow list masked", "cards", `[{"$group": {"_id": "$contact.zip"}}]`, forbidden, `"contact.zip"`},
	{"allow list partial parent", "cards", `[{"$group": {"_id": "$contact"}}]`, forbidden, `"contact"`},

	// --- writing, diagnostic and JavaScript stages, anywhere --------------
	{"out", "people", `[{"$out": "copy"}]`, invalid, "$out"},
	{"merge", "people", `[{"$merge": {"into": "copy"}}]`, invalid, "$merge"},
	{"out in facet", "people", `[{"$facet": {"a": [{"$out": "copy"}]}}]`, invalid, "$out"},
	{"merge in lookup", "people", `[{"$lookup": {"from": "orders", "pipeline": [{"$merge": "copy"}], "as": "x"}}]`, invalid, "$merge"},
	{"out in unionWith", "people", `[{"$unionWith": {"coll": "orders", "pipeline": [{"$out": "copy"}]}}]`, invalid, "$out"},
	{"out last after facet", "people", `[{"$facet": {"a": []}}, {"$out": "copy"}]`, invalid, "$out"},
	{"collStats", "people", `[{"$collStats": {"count": {}}}]`, invalid, "$collStats"},
	{"indexStats", "people", `[{"$indexStats": {}}]`, invalid, "$indexStats"},
	{"currentOp", "people", `[{"$currentOp": {}}]`, invalid, "$currentOp"},
	{"planCacheStats", "people", `[{"$planCacheStats": {}}]`, invalid, "$planCacheStats"},
	{"listSessions", "people", `[{"$listSessions": {}}]`, invalid, "$listSessions"},
	{"changeStream", "people", `[{"$changeStream": {}}]`, invalid, "$changeStream"},
	{"documents", "people", `[{"$documents": [{"a": 1}]}]`, invalid, "$documents"},
	{"unknown stage", "people", `[{"$redact": "$$KEEP"}]`, invalid, "unknown or unsupported stage $redact"},
	{"geoNear", "people", `[{"$geoNear": {}}]`, invalid, "$geoNear"},
	{"function in project", "people", `[{"$project": {"x": {"$function": {"body": "function(){return 1}", "args": [], "lang": "js"}}}}]`, invalid, "$function"},
	{"function in expr in match in facet", "people", `[{"$facet": {"a": [{"$match": {"$expr": {"$function": {"body": "function(){return true}", "args": [], "lang": "js"}}}}]}}]`, invalid, "$function"},
	{"function deep in lookup let", "people", `[{"$lookup": {"from": "orders", "let": {"v": {"$add": [1, {"$function": {"body": "x", "args": [], "lang": "js"}}]}}, "pipeline": [], "as": "x"}}]`, invalid, "$function"},
	{"accumulator in group", "people", `[{"$group": {"_id": null, "x": {"$accumulator": {"init": "function(){}", "lang": "js"}}}}]`, invalid, "$accumulator"},
	{"where in match", "people", `[{"$match": {"$where": "this.ssn == '1'"}}]`, invalid, "$where"},
	{"where in lookup match", "people", `[{"$lookup": {"from": "orders", "pipeline": [{"$match": {"$where": "1"}}], "as": "x"}}]`, invalid, "$where"},
	{"where as expression", "people", `[{"$addFields": {"x": {"$where": "1"}}}]`, invalid, "$where"},
	{"code value", "people", `[{"$addFields": {"x": {"$code": "function(){}"}}}]`, invalid, "JavaScript"},
	{"code in match", "people", `[{"$match": {"a": {"$code": "function(){}"}}}]`, invalid, "JavaScript"},
	{"unknown operator", "people", `[{"$project": {"x": {"$evil": 1}}}]`, invalid, "$evil"},
	{"unknown accumulator", "people", `[{"$group": {"_id": null, "x": {"$top": {"sortBy": {"email": 1}, "output": "$email"}}}}]`, invalid, "$top"},
	{"user roles variable", "people", `[{"$addFields": {"r": "$$USER_ROLES"}}]`, invalid, "$$USER_ROLES"},
	{"search meta variable", "people", `[{"$addFields": {"r": "$$SEARCH_META.count"}}]`, invalid, "$$SEARCH_META"},
	{"expr inside and", "people", `[{"$match": {"$and": [{"$expr": {"$eq": ["$ssn", 1]}}]}}]`, invalid, "$expr"},
	{"meta sort", "people", `[{"$sort": {"score": {"$meta": "textScore"}}}]`, invalid, "$meta"},
	{"facet in facet", "people", `[{"$facet": {"a": [{"$facet": {"b": []}}]}}]`, invalid, "$facet cannot be used inside $facet"},
	{"two-key stage", "people", `[{"$match": {}, "$out": "x"}]`, invalid, "exactly one key"},
	{"stage not a document", "people", `["$out"]`, invalid, "exactly one key"},
	{"operator object with two keys", "people", `[{"$project": {"x": {"$add": [1], "$function": {}}}}]`, invalid, "exactly one key"},
	{"dollar key in object literal", "people", `[{"$project": {"x": {"a": 1, "$function": {}}}}]`, invalid, "$function"},
	{"lookup let shadows ROOT", "people", `[{"$lookup": {"from": "orders", "let": {"ROOT": 1}, "pipeline": [], "as": "x"}}]`, invalid, "variable name"},
	{"unwind variable", "people", `[{"$unwind": "$$ROOT"}]`, invalid, "field path"},

	// --- limits -------------------------------------------------------------
	{"limit zero", "people", `[{"$limit": 0}]`, invalid, "at least 1"},
	{"limit string", "people", `[{"$limit": "5"}]`, invalid, "integer"},
	{"skip negative", "people", `[{"$skip": -1}]`, invalid, "at least 0"},
	{"regex operator too long", "people", `[{"$project": {"x": {"$regexMatch": {"input": "$name", "regex": "` + strings.Repeat("a", 600) + `"}}}}]`, tooLarge, "regular expression"},
	{"regex too long", "people", `[{"$match": {"name": {"$regex": "` + strings.Repeat("a", 600) + `"}}}]`, tooLarge, "regular expression"},
}

func TestHostilePipelines(t *testing.T) {
	for _, tc := range hostile {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Rewrite(tc.coll, parsePipeline(t, tc.pipeline), member(t), Limits{})
			requireKind(t, err, tc.kind, tc.msg)
			require.Nil(t, out)
		})
	}
}

// harmless are pipelines that look like attacks but cannot leak: they run
// after the policy $match and the strip stages, so $$ROOT, computed field
// names and $literal only ever see stripped documents. The test proves the
// order: policy $match, strip, then the client's stages unchanged.
var harmless = []struct{ name, coll, pipeline string }{
	{"replaceWith ROOT", "people", `[{"$replaceWith": "$$ROOT"}]`},
	{"objectToArray ROOT", "people", `[{"$project": {"kv": {"$objectToArray": "$$ROOT"}}}]`},
	{"getField computed name", "people", `[{"$project": {"x": {"$getField": {"$concat": ["ss", "n"]}}}}]`},
	{"push whole documents", "people", `[{"$group": {"_id": null, "docs": {"$push": "$$ROOT"}}}]`},
	{"literal dollar string", "people", `[{"$project": {"x": {"$literal": "$ssn"}}}]`},
	{"literal hides code", "people", `[{"$project": {"x": {"$literal": {"$function": {"body": "x"}}}}}]`},
	{"literal in expr", "people", `[{"$match": {"$expr": {"$eq": ["$name", {"$literal": "$$ROOT.ssn"}]}}}]`},
	{"dollar string in query is a value", "people", `[{"$match": {"name": "$ssn"}}]`},
	{"renamed hidden after ROOT copy", "people", `[{"$replaceWith": {"copy": "$$ROOT"}}, {"$sort": {"copy.ssn": 1}}]`},
	{"redefined masked field", "people", `[{"$set": {"email": "$name"}}, {"$sort": {"email": 1}}]`},
	{"lookup result paths", "orders", `[{"$lookup": {"from": "people", "localField": "pid", "foreignField": "_id", "as": "p"}}, {"$sort": {"p.email": 1}}]`},
	{"mergeObjects ROOT", "people", `[{"$replaceRoot": {"newRoot": {"$mergeObjects": ["$$ROOT", {"x": 1}]}}}]`},
}

func TestHarmlessPipelines(t *testing.T) {
	for _, tc := range harmless {
		t.Run(tc.name, func(t *testing.T) {
			acc := member(t)
			in := parsePipeline(t, tc.pipeline)
			out, err := Rewrite(tc.coll, in, acc, Limits{})
			require.NoError(t, err)
			checkInvariants(t, out)
			tgt, err := acc.For(tc.coll)
			require.NoError(t, err)
			pre := prefix(tgt)
			require.Equal(t, toJSON(t, pre), toJSON(t, out[:len(pre)]), "policy stages first")
			// The client's stages follow unchanged (except stages that read
			// another collection, which get that collection's policy).
			for i, st := range in {
				name := st.(bson.D)[0].Key
				if name == "$lookup" {
					continue
				}
				require.Equal(t, toJSON(t, st), toJSON(t, out[len(pre)+i]))
			}
			if tc.coll == "people" {
				require.Contains(t, toJSON(t, out[:len(pre)]), `"ssn"`, "ssn is removed before the client's stages")
			}
		})
	}
}

// Masks are constants, and the strip stages hide what the policy hides.
func TestStripForPeople(t *testing.T) {
	tgt, err := member(t).For("people")
	require.NoError(t, err)
	require.Equal(t, []bson.D{
		{{Key: "$unset", Value: bson.A{"bank.iban", "ssn"}}},
		{{Key: "$set", Value: bson.D{{Key: "email", Value: "****"}, {Key: "phone", Value: "****"}}}},
	}, stripStages(tgt))
}

func TestLimits(t *testing.T) {
	acc := member(t)
	// Stage count includes sub-pipelines.
	_, err := Rewrite("people", parsePipeline(t, `[{"$match": {}}, {"$match": {}}, {"$match": {}}]`), acc, Limits{MaxStages: 3})
	require.NoError(t, err)
	_, err = Rewrite("people", parsePipeline(t, `[{"$match": {}}, {"$match": {}}, {"$match": {}}, {"$match": {}}]`), acc, Limits{MaxStages: 3})
	requireKind(t, err, tooLarge, "more than 3 stages")
	_, err = Rewrite("people", parsePipeline(t, `[{"$facet": {"a": [{"$match": {}}, {"$match": {}}], "b": [{"$match": {}}]}}]`), acc, Limits{MaxStages: 3})
	requireKind(t, err, tooLarge, "more than 3 stages")

	// Nesting depth.
	nested := func(n int) string {
		s := `[]`
		for range n {
			s = `[{"$lookup": {"from": "orders", "pipeline": ` + s + `, "as": "x"}}]`
		}
		return s
	}
	_, err = Rewrite("people", parsePipeline(t, nested(2)), acc, Limits{MaxDepth: 2})
	require.NoError(t, err)
	_, err = Rewrite("people", parsePipeline(t, nested(3)), acc, Limits{MaxDepth: 2})
	requireKind(t, err, tooLarge, "nested deeper than 2")
	_, err = Rewrite("people", parsePipeline(t, `[{"$facet": {"a": [{"$unionWith": {"coll": "orders", "pipeline": []}}]}}]`), acc, Limits{MaxDepth: 1})
	requireKind(t, err, tooLarge, "nested deeper than 1")
	_, err = Rewrite("people", parsePipeline(t, `[{"$graphLookup": {"from": "nodes", "startWith": "$a", "connectFromField": "a", "connectToField": "b", "as": "x"}}]`), acc, Limits{MaxDepth: -1})
	require.NoError(t, err, "zero or negative means the default")

	// Expression depth.
	deep := `1`
	for range 40 {
		deep = `{"$add": [` + deep + `]}`
	}
	_, err = Rewrite("people", parsePipeline(t, `[{"$project": {"x": `+deep+`}}]`), acc, Limits{})
	requireKind(t, err, tooLarge, "nested deeper than 64")

	// Result cap.
	for _, tc := range []struct {
		p    string
		last bson.D
	}{
		{`[]`, bson.D{{Key: "$limit", Value: int64(7)}}},
		{`[{"$limit": 3}]`, bson.D{{Key: "$limit", Value: int32(3)}}},
		{`[{"$limit": 8}]`, bson.D{{Key: "$limit", Value: int64(7)}}},
		{`[{"$count": "n"}]`, bson.D{{Key: "$count", Value: "n"}}},
		{`[{"$sort": {"a": 1}}]`, bson.D{{Key: "$limit", Value: int64(7)}}},
	} {
		out, err := Rewrite("people", parsePipeline(t, tc.p), acc, Limits{MaxLimit: 7})
		require.NoError(t, err)
		require.Equal(t, tc.last, out[len(out)-1], tc.p)
	}
}

// Access is asked once per collection, however often the pipeline names it,
// and an error from it is returned as it is.
func TestAccessAskedOnce(t *testing.T) {
	acc := member(t)
	_, err := Rewrite("people", parsePipeline(t, `[{"$unionWith": "orders"}, {"$lookup": {"from": "orders", "pipeline": [{"$unionWith": "people"}], "as": "o"}}]`), acc, Limits{})
	require.NoError(t, err)
	require.Equal(t, []string{"people", "orders"}, acc.asked)

	_, err = Rewrite("secrets", bson.A{}, acc, Limits{})
	requireKind(t, err, forbidden, `"secrets"`)

	_, err = Rewrite("people", bson.A{}, nil, Limits{})
	requireKind(t, err, apperr.KindInternal, "without Access")
}

// A caller without an id can never match the "mine" rule: the sub-pipeline
// gets the match-nothing filter, not an empty one.
func TestNeverTargetInLookup(t *testing.T) {
	acc := member(t)
	acc.caller = &principal.Principal{TenantID: "t1", Roles: []string{"member"}}
	out, err := Rewrite("people", parsePipeline(t, `[{"$lookup": {"from": "mine", "pipeline": [], "as": "m"}}]`), acc, Limits{})
	require.NoError(t, err)
	lk := out[3].(bson.D)[0].Value.(bson.D)
	sub, _ := get(lk, "pipeline")
	require.Equal(t, bson.D{{Key: "$match", Value: neverFilter()}}, sub.(bson.A)[0])
}

// A nil Readable fails closed.
func TestNilReadableFailsClosed(t *testing.T) {
	acc := accessFunc(func(string) (*Target, error) { return &Target{}, nil })
	_, err := Rewrite("x", parsePipeline(t, `[{"$sort": {"a": 1}}]`), acc, Limits{})
	requireKind(t, err, forbidden, `"a"`)
	_, err = Rewrite("x", parsePipeline(t, `[{"$sort": {"_id": 1}}]`), acc, Limits{})
	requireKind(t, err, forbidden, `"_id"`)
}

type accessFunc func(string) (*Target, error)

func (f accessFunc) For(c string) (*Target, error) { return f(c) }

// Every message names where in the tree the problem is.
func TestErrorsNameTheLocation(t *testing.T) {
	_, err := Rewrite("people", parsePipeline(t, `[{"$match": {}}, {"$lookup": {"from": "orders", "pipeline": [{"$match": {}}, {"$out": "x"}], "as": "o"}}]`), member(t), Limits{})
	requireKind(t, err, invalid, "pipeline[1] $lookup.pipeline[1] $out")
	_, err = Rewrite("people", parsePipeline(t, `[{"$facet": {"f": [{"$sort": {"email": 1}}]}}]`), member(t), Limits{})
	requireKind(t, err, forbidden, fmt.Sprintf("pipeline[0] $facet.f[0] $sort uses field %q", "email"))
}
