package api_test

import (
	"net/url"
	"reflect"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Client mistakes are a 400 with a message on every engine, never a 500 or
// a 503: an invalid regular expression, a Decimal128 in a filter or as a
// $mod divisor (the embedded FerretDB drops the connection on it), an
// update path through a scalar, positional operators that match nothing.
// Nothing is written, and the proxy keeps answering afterwards.
func TestClientMistakesAre400(t *testing.T) {
	e := newEnv(t)
	seedEmployees(e)
	hr := e.user("h1", "t1", "hr")
	before := map[string]bson.M{}
	for _, id := range []string{"e1", "e2", "e3"} {
		before[id] = e.raw("employees", id)
	}
	find := func(filter string) [3]string {
		return [3]string{"POST", "/collections/employees/find", `{"filter": ` + filter + `}`}
	}
	patch := func(update string) [3]string {
		return [3]string{"PATCH", "/collections/employees/e1", update}
	}
	cases := []struct {
		name string
		req  [3]string
	}{
		{"regex in query string", [3]string{"GET", "/collections/employees?filter=" + url.QueryEscape(`{"name": {"$regex": "("}}`), ""}},
		{"regex in count", [3]string{"POST", "/collections/employees/count", `{"filter": {"name": {"$regex": "("}}}`}},
		{"regex in batch delete filter", [3]string{"POST", "/collections/employees/batch/delete", `{"filter": {"name": {"$regex": "("}}}`}},
		{"decimal in aggregate $match", [3]string{"POST", "/collections/employees/aggregate", `{"pipeline": [{"$match": {"salary": {"$numberDecimal": "100"}}}]}`}},
		{"regex in aggregate $match", [3]string{"POST", "/collections/employees/aggregate", `{"pipeline": [{"$match": {"name": {"$regex": "("}}}]}`}},
		{"regex unbalanced", find(`{"name": {"$regex": "("}}`)},
		{"regex unterminated class", find(`{"name": {"$regex": "[a"}}`)},
		{"regex nothing to repeat in $or", find(`{"$or": [{"name": "x"}, {"name": {"$regex": "*a"}}]}`)},
		{"regex in $in", find(`{"name": {"$in": [{"$regularExpression": {"pattern": "(", "options": ""}}]}}`)},
		{"decimal equality", find(`{"salary": {"$numberDecimal": "100"}}`)},
		{"decimal $gt", find(`{"salary": {"$gt": {"$numberDecimal": "1"}}}`)},
		{"decimal in $in", find(`{"salary": {"$in": [1, {"$numberDecimal": "1"}]}}`)},
		{"decimal $mod divisor", find(`{"salary": {"$mod": [{"$numberDecimal": "2"}, 0]}}`)},
		{"decimal $mod remainder", find(`{"salary": {"$mod": [2, {"$numberDecimal": "0"}]}}`)},
		{"fractional $mod divisor", find(`{"salary": {"$mod": [0.5, 0]}}`)},
		{"huge $mod divisor", find(`{"salary": {"$mod": [1e300, 0]}}`)},
		{"decimal in $pull condition", patch(`{"$pull": {"tags": {"$numberDecimal": "1"}}}`)},
		{"set through a string", patch(`{"$set": {"name.x": 1}}`)},
		{"set index through a string", patch(`{"$set": {"name.0": 1}}`)},
		{"set through a number in a document", patch(`{"$set": {"profile.level.x": 1}}`)},
		{"positional on a string", patch(`{"$set": {"name.$": 1}}`)},
		{"all positional on a string", patch(`{"$set": {"name.$[]": 1}}`)},
		{"filtered positional without filter", patch(`{"$set": {"profile.$[x]": 1}}`)},
		{"positional on a missing field", patch(`{"$set": {"nope.$": 1}}`)},
		{"all positional on a missing field", patch(`{"$set": {"nope.$[]": 1}}`)},
		{"currentDate through a string", patch(`{"$currentDate": {"name.0": true}}`)},
		{"rename into an array element", patch(`{"$rename": {"name": "title.0"}}`)},
		{"rename from an array element", patch(`{"$rename": {"profile.0": "x"}}`)},
		{"inc on a string", patch(`{"$inc": {"name": 1}}`)},
		{"push on a string", patch(`{"$push": {"name": 1}}`)},
		{"addToSet on a string", patch(`{"$addToSet": {"name": 1}}`)},
		{"pop on a string", patch(`{"$pop": {"name": 1}}`)},
		{"pull on a string", patch(`{"$pull": {"name": 1}}`)},
		{"pullAll on a string", patch(`{"$pullAll": {"name": [1]}}`)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body any
			if c.req[2] != "" {
				body = c.req[2]
			}
			r := e.do(c.req[0], c.req[1], hr, body)
			expect(t, r, 400, "BAD_REQUEST")
			if msg, _ := r.json(t)["error"].(map[string]any)["message"].(string); msg == "" {
				t.Fatalf("no message: %s", r.Body)
			}
			// The proxy still answers: no connection was lost.
			expect(t, e.do("GET", "/collections/employees/e2", hr, nil), 200, "")
		})
	}

	// The same update mistakes through a batch: every document fails on
	// its own with 400, none with 500.
	for _, upd := range []string{`{"$set": {"name.x": 1}}`, `{"$set": {"name.$": 1}}`, `{"$inc": {"name": 1}}`} {
		r := e.do("PATCH", "/collections/employees/batch", hr, `{"filter": {"tenant_id": "t1"}, "update": `+upd+`}`)
		expect(t, r, 200, "")
		failed, _ := r.data(t)["failed"].([]any)
		if len(failed) != 3 {
			t.Fatalf("%s: want 3 failed items: %s", upd, r.Body)
		}
		for _, f := range failed {
			if code := f.(map[string]any)["error"].(map[string]any)["code"]; code != "BAD_REQUEST" {
				t.Fatalf("%s: item failed with %v: %s", upd, code, r.Body)
			}
		}
	}
	expect(t, e.do("PATCH", "/collections/employees/batch", hr, `{"filter": {"tenant_id": "t1"}, "update": {"$rename": {"name": "title.0"}}}`), 400, "BAD_REQUEST")

	for id, want := range before {
		if got := e.raw("employees", id); !reflect.DeepEqual(got, want) {
			t.Errorf("document %s changed:\nbefore %v\nafter  %v", id, want, got)
		}
	}
}
