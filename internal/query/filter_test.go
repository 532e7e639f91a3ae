package query

import (
	"fmt"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

var testLimits = Limits{MaxDepth: 10, MaxRegexLength: 50, MaxInItems: 5}

func TestCheckFilter(t *testing.T) {
	cases := []struct {
		name  string
		in    string
		want  apperr.Kind
		msg   string
		paths []string // checked on success when non-nil
	}{
		// Accepted shapes, with the paths the policy is asked about.
		{"empty", `{}`, ok, "", []string{}},
		{"equality", `{"name": "x", "age": 3}`, ok, "", []string{"name", "age"}},
		{"dotted", `{"address.city": "Paris"}`, ok, "", []string{"address.city"}},
		{"numeric index normalized", `{"tags.0": "a", "a.0.b": 1, "a.12.c.3": 2}`, ok, "", []string{"tags", "a.b", "a.c"}},
		{"numeric first segment kept", `{"0": 1}`, ok, "", []string{"0"}},
		{"comparison ops", `{"n": {"$gt": 1, "$lte": {"$numberLong": "9"}}, "m": {"$ne": null}}`, ok, "", []string{"n", "m"}},
		{"in nin", `{"s": {"$in": ["a", {"$regularExpression": {"pattern": "^b", "options": "i"}}]}, "t": {"$nin": []}}`, ok, "", []string{"s", "t"}},
		{"exists type", `{"a": {"$exists": true}, "b": {"$type": "string"}, "c": {"$type": [2, "number"]}}`, ok, "", []string{"a", "b", "c"}},
		{"regex op", `{"name": {"$regex": "^ab", "$options": "imsx"}}`, ok, "", []string{"name"}},
		{"regex value", `{"name": {"$regularExpression": {"pattern": "^ab", "options": "i"}}}`, ok, "", []string{"name"}},
		{"not with ops", `{"age": {"$not": {"$gt": 5}}}`, ok, "", []string{"age"}},
		{"not with regex", `{"name": {"$not": {"$regularExpression": {"pattern": "x", "options": ""}}}}`, ok, "", []string{"name"}},
		{"logical", `{"$and": [{"a": 1}, {"$or": [{"b": 2}, {"$nor": [{"c": 3}]}]}]}`, ok, "", []string{"a", "b", "c"}},
		{"all size mod", `{"tags": {"$all": ["a", "b"], "$size": 2}, "n": {"$mod": [4, 0]}}`, ok, "", []string{"tags", "n"}},
		{"elemMatch query form", `{"items": {"$elemMatch": {"sku": "a", "qty": {"$gt": 1}}}}`, ok, "", []string{"items.sku", "items.qty"}},
		{"elemMatch operator form", `{"scores": {"$elemMatch": {"$gte": 80, "$lt": 85}}}`, ok, "", []string{"scores"}},
		{"elemMatch logical inside", `{"items": {"$elemMatch": {"$or": [{"sku": "a"}, {"qty": 2}]}}}`, ok, "", []string{"items.sku", "items.qty"}},
		{"elemMatch empty", `{"tags": {"$elemMatch": {}}}`, ok, "", []string{"tags"}},
		{"elemMatch empty on parent of hidden", `{"items": {"$elemMatch": {}}}`, apperr.KindForbidden, `"items"`, nil},
		{"nested elemMatch", `{"a": {"$elemMatch": {"b": {"$elemMatch": {"c": 1}}}}}`, ok, "", []string{"a.b.c"}},
		{"all with elemMatch", `{"items": {"$all": [{"$elemMatch": {"sku": "a"}}]}}`, ok, "", []string{"items.sku"}},
		{"document equality", `{"address": {"city": "x"}}`, apperr.KindForbidden, "address", nil},
		{"document equality readable", `{"meta": {"k": "v", "n": [1, {"z": 2}]}}`, ok, "", []string{"meta"}},
		{"empty document equality", `{"meta": {}}`, ok, "", []string{"meta"}},
		{"unicode field", `{"名前": "値"}`, ok, "", []string{"名前"}},
		{"extjson values", `{"_id": {"$oid": "5f0000000000000000000000"}, "at": {"$gte": {"$date": "2020-01-01T00:00:00Z"}}}`, ok, "", []string{"_id", "at"}},

		// Readability: every position.
		{"hidden top", `{"secret": 1}`, apperr.KindForbidden, `"secret"`, nil},
		{"hidden dotted", `{"address.ssn": "1"}`, apperr.KindForbidden, "address.ssn", nil},
		{"hidden parent", `{"address": null}`, apperr.KindForbidden, `"address"`, nil},
		{"hidden parent exists", `{"address": {"$exists": true}}`, apperr.KindForbidden, `"address"`, nil},
		{"hidden below", `{"secret.x": 1}`, apperr.KindForbidden, "secret.x", nil},
		{"hidden via index", `{"address.0.ssn": 1}`, apperr.KindForbidden, "address.ssn", nil},
		{"hidden in or", `{"$or": [{"a": 1}, {"secret": 1}]}`, apperr.KindForbidden, "secret", nil},
		{"hidden in nor", `{"$nor": [{"secret": {"$exists": true}}]}`, apperr.KindForbidden, "secret", nil},
		{"hidden in and in or", `{"$or": [{"$and": [{"x": 1}, {"address.ssn": {"$regex": "^1"}}]}]}`, apperr.KindForbidden, "address.ssn", nil},
		{"hidden in not", `{"secret": {"$not": {"$eq": 1}}}`, apperr.KindForbidden, "secret", nil},
		{"hidden in elemMatch", `{"items": {"$elemMatch": {"secret": 1}}}`, apperr.KindForbidden, "items.secret", nil},
		{"hidden in elemMatch or", `{"items": {"$elemMatch": {"$or": [{"sku": 1}, {"secret": 2}]}}}`, apperr.KindForbidden, "items.secret", nil},
		{"hidden in elemMatch dotted prefix", `{"address": {"$elemMatch": {"ssn": 1}}}`, apperr.KindForbidden, "address.ssn", nil},
		{"hidden in all elemMatch", `{"items": {"$all": [{"$elemMatch": {"secret": 1}}]}}`, apperr.KindForbidden, "items.secret", nil},
		{"hidden elemMatch sibling ok", `{"items": {"$elemMatch": {"sku": 1}}}`, ok, "", []string{"items.sku"}},
		{"hidden array equality", `{"items": [{"sku": 1}]}`, apperr.KindForbidden, `"items"`, nil},
		{"hidden size", `{"items": {"$size": 1}}`, apperr.KindForbidden, `"items"`, nil},
		{"operator injection", `{"secret": {"$ne": null}}`, apperr.KindForbidden, "secret", nil},

		// Operator allowlist.
		{"where", `{"$where": "sleep(1000)"}`, apperr.KindInvalid, "$where", nil},
		{"expr", `{"$expr": {"$eq": ["$a", 1]}}`, apperr.KindInvalid, "$expr", nil},
		{"text", `{"$text": {"$search": "x"}}`, apperr.KindInvalid, "$text", nil},
		{"comment", `{"a": 1, "$comment": "x"}`, apperr.KindInvalid, "$comment", nil},
		{"jsonSchema", `{"$jsonSchema": {}}`, apperr.KindInvalid, "$jsonSchema", nil},
		{"function in field", `{"a": {"$function": {}}}`, apperr.KindInvalid, "$function", nil},
		{"near", `{"loc": {"$near": [0, 0]}}`, apperr.KindInvalid, "$near", nil},
		{"geoWithin", `{"loc": {"$geoWithin": {}}}`, apperr.KindInvalid, "$geoWithin", nil},
		{"unknown top", `{"$foo": 1}`, apperr.KindInvalid, "$foo", nil},
		{"unknown field op", `{"a": {"$foo": 1}}`, apperr.KindInvalid, "$foo", nil},
		{"field op at top", `{"$eq": 1}`, apperr.KindInvalid, "$eq", nil},
		{"not at top", `{"$not": {"a": 1}}`, apperr.KindInvalid, "$not", nil},
		{"logical on field", `{"a": {"$or": [{"b": 1}]}}`, apperr.KindInvalid, "$or", nil},
		{"mixed op and field", `{"a": {"$gt": 1, "b": 2}}`, apperr.KindInvalid, "mix", nil},
		{"mixed field and op", `{"a": {"b": 2, "$gt": 1}}`, apperr.KindInvalid, "mix", nil},
		{"nested dollar key in value", `{"a": {"b": {"$gt": 1}}}`, apperr.KindInvalid, "$gt", nil},
		{"dollar key in eq value", `{"a": {"$eq": {"$where": "x"}}}`, apperr.KindInvalid, "$where", nil},
		{"dollar key in in value", `{"a": {"$in": [{"$gt": 1}]}}`, apperr.KindInvalid, "$gt", nil},
		{"dotted key in value", `{"a": {"b.c": 1}}`, apperr.KindInvalid, "b.c", nil},
		{"dollar path segment", `{"a.$id": 1}`, apperr.KindInvalid, "$id", nil},
		{"empty segment", `{"a..b": 1}`, apperr.KindInvalid, "empty", nil},
		{"leading dot", `{".a": 1}`, apperr.KindInvalid, "empty", nil},
		{"trailing dot", `{"a.": 1}`, apperr.KindInvalid, "empty", nil},
		{"empty key", `{"": 1}`, apperr.KindInvalid, "empty", nil},
		{"javascript value", `{"a": {"$code": "sleep(1)"}}`, apperr.KindInvalid, "JavaScript", nil},

		// Operand types.
		{"or not array", `{"$or": {}}`, apperr.KindInvalid, "$or", nil},
		{"or empty", `{"$or": []}`, apperr.KindInvalid, "non-empty", nil},
		{"and scalar elements", `{"$and": [1]}`, apperr.KindInvalid, "$and", nil},
		{"nor string", `{"$nor": "x"}`, apperr.KindInvalid, "$nor", nil},
		{"in not array", `{"a": {"$in": 1}}`, apperr.KindInvalid, "$in", nil},
		{"exists string", `{"a": {"$exists": "yes"}}`, apperr.KindInvalid, "$exists", nil},
		{"type bad name", `{"a": {"$type": "nope"}}`, apperr.KindInvalid, "nope", nil},
		{"type bad number", `{"a": {"$type": 99}}`, apperr.KindInvalid, "99", nil},
		{"type doc", `{"a": {"$type": {}}}`, apperr.KindInvalid, "$type", nil},
		{"regex not string", `{"a": {"$regex": 1}}`, apperr.KindInvalid, "$regex", nil},
		{"options without regex", `{"a": {"$options": "i"}}`, apperr.KindInvalid, "$options", nil},
		{"bad options", `{"a": {"$regex": "x", "$options": "g"}}`, apperr.KindInvalid, "g", nil},
		{"bad regex value options", `{"a": {"$regularExpression": {"pattern": "x", "options": "u"}}}`, apperr.KindInvalid, "u", nil},
		{"options twice", `{"a": {"$regex": {"$regularExpression": {"pattern": "x", "options": "i"}}, "$options": "m"}}`, apperr.KindInvalid, "both", nil},
		{"not empty", `{"a": {"$not": {}}}`, apperr.KindInvalid, "$not", nil},
		{"not string", `{"a": {"$not": "x"}}`, apperr.KindInvalid, "$not", nil},
		{"not field doc", `{"a": {"$not": {"b": 1}}}`, apperr.KindInvalid, "$not", nil},
		{"not where", `{"a": {"$not": {"$where": "x"}}}`, apperr.KindInvalid, "$where", nil},
		{"size negative", `{"a": {"$size": -1}}`, apperr.KindInvalid, "$size", nil},
		{"size fraction", `{"a": {"$size": 1.5}}`, apperr.KindInvalid, "$size", nil},
		{"mod shape", `{"a": {"$mod": [1]}}`, apperr.KindInvalid, "$mod", nil},
		{"mod zero", `{"a": {"$mod": [0, 1]}}`, apperr.KindInvalid, "divisor", nil},
		{"mod strings", `{"a": {"$mod": ["a", "b"]}}`, apperr.KindInvalid, "$mod", nil},
		{"mod NaN", `{"a": {"$mod": [{"$numberDouble": "NaN"}, 1]}}`, apperr.KindInvalid, "finite", nil},
		{"mod Infinity", `{"a": {"$mod": [2, {"$numberDouble": "Infinity"}]}}`, apperr.KindInvalid, "finite", nil},
		{"size huge float", `{"a": {"$size": 1e300}}`, apperr.KindInvalid, "$size", nil},
		{"size float integral", `{"a": {"$size": 2.0}}`, ok, "", []string{"a"}},
		{"elemMatch scalar", `{"a": {"$elemMatch": 1}}`, apperr.KindInvalid, "$elemMatch", nil},
		{"all not array", `{"a": {"$all": 1}}`, apperr.KindInvalid, "$all", nil},
		{"all with other op doc", `{"a": {"$all": [{"$gt": 1}]}}`, apperr.KindInvalid, "$all", nil},

		// Limits.
		{"regex at limit", fmt.Sprintf(`{"a": {"$regex": %q}}`, strings.Repeat("a", 50)), ok, "", nil},
		{"regex over limit", fmt.Sprintf(`{"a": {"$regex": %q}}`, strings.Repeat("a", 51)), apperr.KindTooLarge, "regular expression", nil},
		{"regex value over limit", fmt.Sprintf(`{"a": {"$regularExpression": {"pattern": %q, "options": ""}}}`, strings.Repeat("a", 51)), apperr.KindTooLarge, "", nil},
		{"regex in $in over limit", fmt.Sprintf(`{"a": {"$in": [{"$regularExpression": {"pattern": %q, "options": ""}}]}}`, strings.Repeat("a", 51)), apperr.KindTooLarge, "", nil},
		{"regex in not over limit", fmt.Sprintf(`{"a": {"$not": {"$regularExpression": {"pattern": %q, "options": ""}}}}`, strings.Repeat("a", 51)), apperr.KindTooLarge, "", nil},
		{"in at limit", `{"a": {"$in": [1, 2, 3, 4, 5]}}`, ok, "", nil},
		{"in over limit", `{"a": {"$in": [1, 2, 3, 4, 5, 6]}}`, apperr.KindTooLarge, "$in", nil},
		{"nin over limit", `{"a": {"$nin": [1, 2, 3, 4, 5, 6]}}`, apperr.KindTooLarge, "$nin", nil},
		{"all over limit", `{"a": {"$all": [1, 2, 3, 4, 5, 6]}}`, apperr.KindTooLarge, "$all", nil},
		{"depth at limit", strings.Repeat(`{"$and": [`, 3) + `{"a": {"$in": [[1]]}}` + strings.Repeat("]}", 3), ok, "", nil},
		{"depth over limit", strings.Repeat(`{"$and": [`, 5) + `{"a": 1}` + strings.Repeat("]}", 5), apperr.KindInvalid, "nested deeper", nil},
		{"depth in value", `{"a": ` + strings.Repeat(`[`, 10) + strings.Repeat(`]`, 10) + `}`, apperr.KindInvalid, "nested deeper", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := mustDoc(t, tc.in)
			var asked []string
			err := CheckFilter(f, testLimits, func(p string) bool {
				asked = append(asked, p)
				return policyAllows(p)
			})
			checkErr(t, err, tc.want, tc.msg)
			if tc.want == ok && tc.paths != nil {
				if !equalStrings(asked, tc.paths) {
					t.Fatalf("readable asked %q, want %q", asked, tc.paths)
				}
				got, err := FilterPaths(f)
				if err != nil || !equalStrings(got, tc.paths) {
					t.Fatalf("FilterPaths = %q, %v; want %q", got, err, tc.paths)
				}
			}
		})
	}
}

func TestCheckFilterNilCallback(t *testing.T) {
	checkErr(t, CheckFilter(bson.D{}, Limits{}, nil), apperr.KindInternal, "")
}

func TestCheckFilterZeroLimitsUseDefaults(t *testing.T) {
	long := bson.D{{Key: "a", Value: bson.D{{Key: "$regex", Value: strings.Repeat("a", DefaultLimits.MaxRegexLength+1)}}}}
	checkErr(t, CheckFilter(long, Limits{}, policyAllows), apperr.KindTooLarge, "")
	in := make(bson.A, DefaultLimits.MaxInItems+1)
	for i := range in {
		in[i] = i
	}
	checkErr(t, CheckFilter(bson.D{{Key: "a", Value: bson.D{{Key: "$in", Value: in}}}}, Limits{}, policyAllows), apperr.KindTooLarge, "")
}

// TestCheckFilterGoValues covers filters built in Go rather than parsed.
func TestCheckFilterGoValues(t *testing.T) {
	cases := []struct {
		name string
		f    bson.D
		want apperr.Kind
	}{
		{"bson.M operator doc", bson.D{{Key: "secret", Value: bson.M{"$ne": nil}}}, apperr.KindForbidden},
		{"map operator doc", bson.D{{Key: "a", Value: map[string]any{"$where": "x"}}}, apperr.KindInvalid},
		{"[]any or", bson.D{{Key: "$or", Value: []any{bson.D{{Key: "secret", Value: 1}}}}}, apperr.KindForbidden},
		{"[]bson.D and", bson.D{{Key: "$and", Value: []bson.D{{{Key: "a", Value: 1}}}}}, ok},
		{"raw doc", bson.D{{Key: "a", Value: testenv.Raw(t, bson.D{{Key: "$where", Value: "x"}})}}, apperr.KindInvalid},
		{"struct value refused", bson.D{{Key: "a", Value: struct{ X int }{1}}}, apperr.KindInvalid},
		{"int and float", bson.D{{Key: "a", Value: 1}, {Key: "b", Value: float32(2)}}, ok},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, CheckFilter(tc.f, Limits{}, policyAllows), tc.want, "")
		})
	}
}

func TestNormalizePath(t *testing.T) {
	cases := map[string]string{
		"a": "a", "a.b": "a.b", "a.0": "a", "a.0.b": "a.b", "0": "0", "0.1.a": "0.a",
		"items.$.price": "items.price", "a.$[].b": "a.b", "a.$[x1].b": "a.b", "a.$[X].b": "a.$[X].b",
		"a.01b": "a.01b",
	}
	for in, want := range cases {
		if got := NormalizePath(in); got != want {
			t.Errorf("NormalizePath(%q) = %q, want %q", in, got, want)
		}
	}
}

// A limit left at zero, or set below it, takes the default; a limit is
// never off.
func TestLimitsDefaults(t *testing.T) {
	for _, l := range []Limits{{}, {MaxDepth: -1, MaxRegexLength: -5, MaxInItems: -1 << 40}} {
		if got := l.withDefaults(); got != DefaultLimits {
			t.Errorf("%+v.withDefaults() = %+v, want %+v", l, got, DefaultLimits)
		}
	}
	set := Limits{MaxDepth: 1, MaxRegexLength: 2, MaxInItems: 3}
	if got := set.withDefaults(); got != set {
		t.Errorf("set limits changed: %+v", got)
	}
}
