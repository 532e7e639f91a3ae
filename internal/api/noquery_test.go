package api_test

import (
	"strings"
	"testing"
)

// Every endpoint whose OpenAPI entry names no query parameter refuses one
// (docs/http-api.md), before anything else it checks: the route table
// enforces it for all of them, the webhook redelivery included, which once
// ignored a query string.
func TestEndpointsWithoutQueryParametersRefuseOne(t *testing.T) {
	e := newEnv(t)
	hr := e.user("h1", "t1", "hr")
	for _, ep := range []string{
		"POST /explain", "POST /admin/api-keys", "GET /admin/policies/tests", "POST /admin/policies/reload",
		"POST /grants", "GET /grants", "GET /grants/g1", "POST /grants/g1/renew", "DELETE /grants/g1",
		"POST /webhooks/deliveries/d1/redeliver",
		"POST /collections/employees", "POST /collections/employees/find", "POST /collections/employees/count",
		"POST /collections/employees/aggregate", "POST /collections/employees/batch", "PATCH /collections/employees/batch",
		"DELETE /collections/employees/batch", "POST /collections/employees/batch/delete", "POST /collections/employees/import",
		"PATCH /collections/employees/e1", "PUT /collections/employees/e1", "DELETE /collections/employees/e1",
		"GET /collections/employees/e1/versions", "POST /collections/employees/e1/versions/1/restore",
	} {
		method, path, _ := strings.Cut(ep, " ")
		r := e.do(method, path+"?x=1", hr, `{}`)
		expect(t, r, 400, "BAD_REQUEST")
		if !strings.Contains(string(r.Body), `unknown query parameter \"x\"`) {
			t.Fatalf("%s: %s", ep, r.Body)
		}
	}
}
