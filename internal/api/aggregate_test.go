package api_test

import "testing"

func TestAggregate(t *testing.T) {
	e := newEnv(t)
	seedEmployees(e)
	hr := e.user("h1", "t1", "hr")
	alice := e.user("alice", "t1", "employee")
	reader := e.user("r", "", "reader")

	// The policy $match comes first: t2's document is not counted.
	r := e.do("POST", "/collections/employees/aggregate", hr, `{"pipeline": [{"$group": {"_id": "$tenant_id", "n": {"$sum": 1}}}]}`)
	expect(t, r, 200, "")
	if got := r.list(t); len(got) != 1 || got[0].(map[string]any)["_id"] != "t1" || got[0].(map[string]any)["n"] != float64(3) {
		t.Fatalf("group %s", r.Body)
	}
	// Hidden fields are stripped before the client's stages, masked ones
	// masked.
	r = e.do("POST", "/collections/employees/aggregate", alice, `{"pipeline": [{"$sort": {"name": 1}}]}`)
	expect(t, r, 200, "")
	if r.has("111-11-1111") || r.has("alice@example.com") {
		t.Fatalf("aggregate leaks: %s", r.Body)
	}
	if n := len(r.list(t)); n != 2 {
		t.Fatalf("alice aggregates over %d docs", n)
	}

	for name, c := range map[string]struct {
		key, body string
		status    int
		code      string
	}{
		"group on hidden":    {alice, `{"pipeline": [{"$group": {"_id": "$ssn"}}]}`, 403, "FORBIDDEN"},
		"sort on masked":     {alice, `{"pipeline": [{"$sort": {"email": 1}}]}`, 403, "FORBIDDEN"},
		"match on hidden":    {alice, `{"pipeline": [{"$match": {"ssn": {"$gt": ""}}}]}`, 403, "FORBIDDEN"},
		"$out":               {hr, `{"pipeline": [{"$out": "stolen"}]}`, 400, "BAD_REQUEST"},
		"$merge":             {hr, `{"pipeline": [{"$merge": {"into": "x"}}]}`, 400, "BAD_REQUEST"},
		"$where":             {hr, `{"pipeline": [{"$match": {"$where": "1"}}]}`, 400, "BAD_REQUEST"},
		"$function":          {hr, `{"pipeline": [{"$addFields": {"x": {"$function": {"body": "f", "args": [], "lang": "js"}}}}]}`, 400, "BAD_REQUEST"},
		"unknown stage":      {hr, `{"pipeline": [{"$bogus": {}}]}`, 400, "BAD_REQUEST"},
		"lookup not granted": {alice, `{"pipeline": [{"$lookup": {"from": "notes", "localField": "owner", "foreignField": "owner", "as": "n"}}]}`, 403, "FORBIDDEN"},
		"lookup reserved":    {hr, `{"pipeline": [{"$lookup": {"from": "pm_api_keys", "localField": "owner", "foreignField": "_id", "as": "k"}}]}`, 403, "FORBIDDEN"},
		"not granted":        {reader, `{"pipeline": []}`, 403, "FORBIDDEN"},
		"not an array":       {hr, `{"pipeline": {}}`, 400, "BAD_REQUEST"},
	} {
		t.Run(name, func(t *testing.T) {
			r := e.do("POST", "/collections/employees/aggregate", c.key, c.body)
			if name == "not granted" {
				r = e.do("POST", "/collections/items/aggregate", c.key, c.body)
			}
			expect(t, r, c.status, c.code)
		})
	}
}
