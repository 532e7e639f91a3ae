package query

import (
	"fmt"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
)

// The hostile-request suite for filters (ARCHITECTURE.md, security rules 3,
// 4, 8, 9, 10). Each refused operator is tried in every position a filter can hold
// one; none may be accepted.

var refusedForTest = []string{
	"$where", "$expr", "$function", "$accumulator", "$text", "$jsonSchema",
	"$near", "$nearSphere", "$geoWithin", "$geoIntersects", "$comment",
	"$bitsAllSet", "$sampleRate", "$lookup", "$regexFind", "$foo", "$",
	"$$ROOT", "$eval",
}

// positions wrap an operator document {op: v} into every place it could hide.
var positions = map[string]func(op string) string{
	"top level":              func(op string) string { return fmt.Sprintf(`{%q: "x"}`, op) },
	"on a field":             func(op string) string { return fmt.Sprintf(`{"a": {%q: "x"}}`, op) },
	"after an allowed op":    func(op string) string { return fmt.Sprintf(`{"a": {"$gt": 1, %q: "x"}}`, op) },
	"in $or":                 func(op string) string { return fmt.Sprintf(`{"$or": [{"a": 1}, {%q: "x"}]}`, op) },
	"in $and on field":       func(op string) string { return fmt.Sprintf(`{"$and": [{"a": {%q: "x"}}]}`, op) },
	"in $nor":                func(op string) string { return fmt.Sprintf(`{"$nor": [{%q: "x"}]}`, op) },
	"in $not":                func(op string) string { return fmt.Sprintf(`{"a": {"$not": {%q: "x"}}}`, op) },
	"in $elemMatch query":    func(op string) string { return fmt.Sprintf(`{"a": {"$elemMatch": {"b": 1, %q: "x"}}}`, op) },
	"in $elemMatch operator": func(op string) string { return fmt.Sprintf(`{"a": {"$elemMatch": {%q: "x"}}}`, op) },
	"in $elemMatch field":    func(op string) string { return fmt.Sprintf(`{"a": {"$elemMatch": {"b": {%q: "x"}}}}`, op) },
	"in $all $elemMatch":     func(op string) string { return fmt.Sprintf(`{"a": {"$all": [{"$elemMatch": {%q: "x"}}]}}`, op) },
	"deep in logical": func(op string) string {
		return fmt.Sprintf(`{"$or": [{"$and": [{"$nor": [{"x": {"$elemMatch": {"$or": [{%q: "x"}]}}}]}]}]}`, op)
	},
	"as $eq value key":      func(op string) string { return fmt.Sprintf(`{"a": {"$eq": {%q: "x"}}}`, op) },
	"as $in element key":    func(op string) string { return fmt.Sprintf(`{"a": {"$in": [{%q: "x"}]}}`, op) },
	"nested in value":       func(op string) string { return fmt.Sprintf(`{"a": {"b": {"c": {%q: "x"}}}}`, op) },
	"in value array":        func(op string) string { return fmt.Sprintf(`{"a": [{"b": [{%q: "x"}]}]}`, op) },
	"in $not inside $or":    func(op string) string { return fmt.Sprintf(`{"$or": [{"a": {"$not": {"$not": {%q: "x"}}}}]}`, op) },
	"dotted field with op":  func(op string) string { return fmt.Sprintf(`{"a.b.0": {%q: "x"}}`, op) },
	"unicode field with op": func(op string) string { return fmt.Sprintf(`{"ünï.çødé": {%q: "x"}}`, op) },
	"in $elemMatch in $elemM": func(op string) string {
		return fmt.Sprintf(`{"a": {"$elemMatch": {"b": {"$elemMatch": {%q: "x"}}}}}`, op)
	},
}

func TestHostileRefusedOperatorsEverywhere(t *testing.T) {
	for _, op := range refusedForTest {
		for pos, wrap := range positions {
			in := wrap(op)
			t.Run(op+"/"+pos, func(t *testing.T) {
				f := mustDoc(t, in)
				err := CheckFilter(f, Limits{}, func(string) bool { return true })
				checkErr(t, err, apperr.KindInvalid, op)
			})
		}
	}
}

// Operator injection: a value the client meant as "a string" arriving as an
// operator document must be treated as one, and its path still checked.
func TestHostileOperatorInjection(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want apperr.Kind
	}{
		{"ne null on hidden", `{"secret": {"$ne": null}}`, apperr.KindForbidden},
		{"gt empty string on hidden", `{"secret": {"$gt": ""}}`, apperr.KindForbidden},
		{"regex on hidden", `{"address.ssn": {"$regex": "^1"}}`, apperr.KindForbidden},
		{"exists on hidden in or", `{"$or": [{"secret": {"$exists": true}}, {"a": 1}]}`, apperr.KindForbidden},
		{"type probe", `{"secret": {"$type": "string"}}`, apperr.KindForbidden},
		{"size probe", `{"items.secret": {"$size": 0}}`, apperr.KindForbidden},
		{"not probe", `{"secret": {"$not": {"$gt": 1}}}`, apperr.KindForbidden},
		{"elemMatch probe", `{"items": {"$elemMatch": {"secret": {"$gt": 1}}}}`, apperr.KindForbidden},
		{"parent equality probe", `{"address": {"city": "x", "ssn": "1"}}`, apperr.KindForbidden},
		{"indexed probe", `{"items.3.secret": 1}`, apperr.KindForbidden},
		{"owner ne null accepted on readable field", `{"owner": {"$ne": null}}`, ok},
		{"dollar key mixed in value", `{"owner": {"name": "x", "$ne": null}}`, apperr.KindInvalid},
		{"dollar key deep in value", `{"owner": {"name": {"$ne": null}}}`, apperr.KindInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var asked []string
			err := CheckFilter(mustDoc(t, tc.in), Limits{}, func(p string) bool {
				asked = append(asked, p)
				return policyAllows(p)
			})
			checkErr(t, err, tc.want, "")
			if tc.want == ok && len(asked) == 0 {
				t.Fatal("readable was never asked")
			}
		})
	}
}

func TestHostileWrongTypes(t *testing.T) {
	for _, in := range []string{
		`{"$or": {}}`, `{"$or": null}`, `{"$or": "a"}`, `{"$or": [[]]}`, `{"$or": [null]}`,
		`{"$and": {"a": 1}}`, `{"$nor": 1}`, `{"a": {"$in": {}}}`, `{"a": {"$nin": "x"}}`,
		`{"a": {"$all": {}}}`, `{"a": {"$elemMatch": []}}`, `{"a": {"$not": []}}`, `{"a": {"$not": null}}`,
		`{"a": {"$size": "1"}}`, `{"a": {"$size": {}}}`, `{"a": {"$mod": {}}}`, `{"a": {"$mod": [1, 2, 3]}}`,
		`{"a": {"$exists": {}}}`, `{"a": {"$type": []}}`, `{"a": {"$type": [[1]]}}`, `{"a": {"$regex": {}}}`,
		`{"a": {"$regex": "x", "$options": 1}}`,
	} {
		t.Run(in, func(t *testing.T) {
			checkErr(t, CheckFilter(mustDoc(t, in), Limits{}, policyAllows), apperr.KindInvalid, "")
		})
	}
}

func TestHostileHugeDepth(t *testing.T) {
	// Built in Go, far deeper than any parser would allow: the depth check
	// must stop early instead of recursing 100k levels.
	var v any = int32(1)
	for i := 0; i < 100_000; i++ {
		v = bson.D{{Key: "$or", Value: bson.A{bson.D{{Key: "a", Value: v}}}}}
	}
	checkErr(t, CheckFilter(v.(bson.D), Limits{MaxDepth: 20}, policyAllows), apperr.KindInvalid, "nested deeper")
	_, err := FilterPaths(v.(bson.D))
	checkErr(t, err, apperr.KindInvalid, "nested deeper")

	deepNot := `{"a": ` + strings.Repeat(`{"$not": `, 40) + `{"$gt": 1}` + strings.Repeat("}", 40) + `}`
	checkErr(t, CheckFilter(mustDoc(t, deepNot), Limits{MaxDepth: 20}, policyAllows), apperr.KindInvalid, "nested deeper")
}

func TestHostileHugeRegex(t *testing.T) {
	huge := strings.Repeat("(a+)+", 200_000)
	for _, f := range []bson.D{
		{{Key: "a", Value: bson.D{{Key: "$regex", Value: huge}}}},
		{{Key: "a", Value: bson.Regex{Pattern: huge}}},
		{{Key: "$or", Value: bson.A{bson.D{{Key: "a", Value: bson.D{{Key: "$not", Value: bson.Regex{Pattern: huge}}}}}}}},
		{{Key: "a", Value: bson.D{{Key: "$elemMatch", Value: bson.D{{Key: "$regex", Value: huge}}}}}},
	} {
		checkErr(t, CheckFilter(f, Limits{MaxRegexLength: 1000}, policyAllows), apperr.KindTooLarge, "regular expression")
	}
}

func TestHostileUnicode(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want apperr.Kind
	}{
		{"fullwidth dollar is a field", `{"＄where": 1}`, ok},
		{"RTL override in field", "{\"a\u202eb\": 1}", ok},
		{"lone surrogate value", `{"a": "\ud800"}`, ok},
		{"unicode regex", `{"名前": {"$regex": "^値", "$options": "i"}}`, ok},
		{"unicode hidden lookalike", `{"sеcret": 1}`, ok}, // Cyrillic е: a different field, asked as-is
		{"dollar after unicode", `{"名前": {"$where": "1"}}`, apperr.KindInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, CheckFilter(mustDoc(t, tc.in), Limits{}, policyAllows), tc.want, "")
		})
	}
	// A multi-byte regex is measured in bytes, so the limit cannot be
	// stretched four-fold with wide characters.
	f := bson.D{{Key: "a", Value: bson.D{{Key: "$regex", Value: strings.Repeat("値", 20)}}}}
	checkErr(t, CheckFilter(f, Limits{MaxRegexLength: 50}, policyAllows), apperr.KindTooLarge, "")
}
