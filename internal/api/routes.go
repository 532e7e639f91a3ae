package api

import (
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/permission-mongo/permission-mongo/internal/console"
	"github.com/permission-mongo/permission-mongo/internal/ratelimit"
)

// route is one endpoint, in one row: the router registers it, the audit
// middleware names it, the rate limiter classes it and the OpenAPI document
// describes it, all from this table. Adding an endpoint is adding a row;
// there is no second list for it to be missing from.
type route struct {
	method, path string // path in Echo form: /collections/:c/:id
	handler      echo.HandlerFunc
	// action is the audit action (docs/audit.md); "" for the routes that
	// are not audited (the probes, the document, the console's files).
	action string
	// class is the rate-limit class (docs/rate-limits.md): reads sent as
	// POST (find, count, explain) are reads. "" on public routes, which
	// authenticate no one and so are limited by no one's rule.
	class string
	// public routes need no credential.
	public bool
	doc    *op // its OpenAPI entry; nil for what is not API (console pages)
}

// authGroups are the prefixes registered as authenticated Echo groups, not
// route by route: a group also takes the paths under it that match no route,
// so those are authenticated before their 404 (401 without a credential, and
// a failed guess counts against the auth_failure limits) and audited as
// "unmatched".
var authGroups = []string{"/admin", "/grants", "/collections"}

// routeTable is every route of the server; the OpenAPI document lists the
// entries in this order.
func (s *Server) routeTable(g *grantAPI) []route {
	con := echo.WrapHandler(console.Handler())
	return []route{
		{"GET", "/healthz", s.healthz, "", "", true, &op{tag: "operations", summary: "The process is up", status: 200, result: data(obj(map[string]any{"status": tString}))}},
		{"GET", "/readyz", s.readyz, "", "", true, &op{tag: "operations", summary: "MongoDB (and required dependencies) answer", status: 200, result: data(tAnyObj)}},
		{"GET", "/metrics", s.metricsHandler(), "", "", true, &op{tag: "operations", summary: "Prometheus metrics", status: 200, result: tString, resultType: "text/plain"}},
		{"GET", "/openapi.json", s.openAPIJSON, "", "", true, &op{tag: "operations", summary: "This document, as JSON", status: 200, result: tAnyObj}},
		{"GET", "/openapi.yaml", s.openAPIYAML, "", "", true, &op{tag: "operations", summary: "This document, as YAML", status: 200, result: tString, resultType: "application/yaml"}},

		{"POST", "/explain", s.explain, "explain", ratelimit.ClassRead, false, &op{tag: "operations",
			summary: "The compiled policy for the caller, or with principal / api_key_id for another principal of the caller's tenant (needs explain.any_principal)",
			body: obj(map[string]any{"collection": tString, "action": tString,
				"principal":  obj(map[string]any{"id": tString, "tenant_id": tString, "roles": tStrArray, "claims": tAnyObj}, "id"),
				"api_key_id": tString}, "collection", "action"), status: 200,
			result: data(obj(map[string]any{"allowed": tBool, "state": tString, "filter": map[string]any{}, "fields": map[string]any{},
				"principal":          obj(map[string]any{"id": tString, "tenant_id": tString, "roles": tStrArray, "api_key_id": tString}),
				"hierarchy_resolved": tBool}, "allowed"))}},

		{"POST", "/admin/api-keys", s.createKey, "api_key.create", ratelimit.ClassAdmin, false, &op{tag: "api keys", summary: "Create an API key (the only time the key is shown)",
			body:   obj(map[string]any{"name": tString, "principal": ref("Principal"), "expires_in": map[string]any{"type": []string{"string", "integer"}}}, "name", "principal"),
			status: 201, result: data(ref("APIKey"))}},
		{"GET", "/admin/api-keys", s.listKeys, "api_key.list", ratelimit.ClassAdmin, false, &op{tag: "api keys", summary: "The API keys of the caller's tenant, or of the tenant named (needs api_keys.manage_any_tenant)",
			params: []string{"keyTenant"}, status: 200, result: data(arr(ref("APIKey")))}},
		{"DELETE", "/admin/api-keys/:id", s.revokeKey, "api_key.revoke", ratelimit.ClassAdmin, false, &op{tag: "api keys", summary: "Revoke an API key", params: []string{"keyId", "keyTenant"}, status: 200,
			result: data(obj(map[string]any{"revoked": tBool, "id": tString}, "revoked", "id"))}},
		{"GET", "/admin/policies/tests", s.policyTests, "policy.test", ratelimit.ClassAdmin, false, &op{tag: "operations", summary: "Run the loaded policy's test cases (needs policies.test)",
			status: 200, result: data(obj(map[string]any{"passed": tInt, "failed": tInt, "files": tStrArray,
				"cases": arr(obj(map[string]any{"file": tString, "line": tInt, "name": tString, "passed": tBool, "failures": tStrArray},
					"file", "line", "name", "passed", "failures")),
				"problems": arr(obj(map[string]any{"file": tString, "line": tInt, "column": tInt, "case": tString, "message": tString}, "file", "message")),
			}, "passed", "failed", "files", "cases", "problems"))}},
		{"POST", "/admin/policies/reload", s.reloadPolicies, "policy.reload", ratelimit.ClassAdmin, false, &op{tag: "operations", summary: "Reload the policies on this proxy and, through Redis, on every proxy (needs policies.reload)",
			status: 200, result: data(obj(map[string]any{"policy_hash": tString}, "policy_hash"))}},

		{"GET", "/audit", s.auditLog, "audit.read", ratelimit.ClassRead, false, &op{tag: "audit", summary: "Audit entries (needs audit.read)",
			params: []string{"auditCollection", "auditActor", "auditAction", "auditOutcome", "auditDocID", "from", "to", "limit", "cursor"},
			status: 200, result: ref("ListResponse")}},
		{"GET", "/audit/verify", s.auditVerify, "audit.verify", ratelimit.ClassRead, false, &op{tag: "audit", summary: "Verify the audit hash chain", params: []string{"from", "to"}, status: 200,
			result: data(obj(map[string]any{"ok": tBool, "checked": tInt, "first_bad_id": tString}, "ok", "checked"))}},

		{"POST", "/grants", g.issue, "grant.create", ratelimit.ClassWrite, false, &op{tag: "grants", summary: "Issue a temporary MongoDB credential", body: tAnyObj, status: 201, result: data(tAnyObj)}},
		{"GET", "/grants", g.list, "grant.list", ratelimit.ClassRead, false, &op{tag: "grants", summary: "Grants visible to the caller", status: 200, result: data(arr(tAnyObj))}},
		{"GET", "/webhooks/deliveries", s.webhookDeliveries, "webhooks.read", ratelimit.ClassRead, false, &op{tag: "webhooks", summary: "Delivery status of change events (needs webhooks.read)",
			params: []string{"webhookState", "limit"}, status: 200, result: data(arr(tAnyObj))}},
		{"POST", "/webhooks/deliveries/:id/redeliver", s.redeliverWebhook, "webhooks.redeliver", ratelimit.ClassWrite, false, &op{tag: "webhooks", summary: "Send a dead or delivered event again (needs webhooks.manage)",
			params: []string{"deliveryId"}, status: 200, result: data(tAnyObj)}},
		{"GET", "/grants/:id", g.get, "grant.read", ratelimit.ClassRead, false, &op{tag: "grants", summary: "One grant (never its password)", params: []string{"grantId"}, status: 200, result: data(tAnyObj)}},
		{"POST", "/grants/:id/renew", g.renew, "grant.renew", ratelimit.ClassWrite, false, &op{tag: "grants", summary: "Extend a grant", params: []string{"grantId"},
			body: obj(map[string]any{"ttl": tString}, "ttl"), status: 200, result: data(obj(map[string]any{"expires_at": tString}))}},
		{"DELETE", "/grants/:id", g.revoke, "grant.revoke", ratelimit.ClassWrite, false, &op{tag: "grants", summary: "Revoke a grant (idempotent)", params: []string{"grantId"}, status: 200,
			result: data(obj(map[string]any{"revoked": tBool}))}},

		{"POST", "/collections/:c", s.create, "create", ratelimit.ClassWrite, false, &op{tag: "documents", summary: "Create a document", params: []string{"c"},
			body: ref("Document"), status: 201, result: ref("DocumentResponse")}},
		{"GET", "/collections/:c", s.list, "find", ratelimit.ClassRead, false, &op{tag: "documents", summary: "List documents",
			params: []string{"c", "filter", "sort", "limit", "cursor", "fields", "count"}, status: 200, result: ref("ListResponse")}},
		{"POST", "/collections/:c/find", s.find, "find", ratelimit.ClassRead, false, &op{tag: "documents", summary: "List documents (query in the body)", params: []string{"c"},
			body:   obj(map[string]any{"filter": tAnyObj, "sort": tStrArray, "limit": tInt, "cursor": tString, "fields": tStrArray, "count": tBool}),
			status: 200, result: ref("ListResponse")}},
		{"POST", "/collections/:c/count", s.count, "count", ratelimit.ClassRead, false, &op{tag: "documents", summary: "Count documents", params: []string{"c"},
			body: obj(map[string]any{"filter": tAnyObj}), status: 200, result: data(obj(map[string]any{"count": tInt}, "count"))}},
		{"POST", "/collections/:c/aggregate", s.aggregate, "aggregate", ratelimit.ClassAggregate, false, &op{tag: "documents", summary: "Run an aggregation pipeline", params: []string{"c"},
			body: obj(map[string]any{"pipeline": arr(tAnyObj)}, "pipeline"), status: 200, result: data(arr(tAnyObj))}},
		{"POST", "/collections/:c/batch", s.createBatch, "batch.create", ratelimit.ClassWrite, false, &op{tag: "batches", summary: "Create documents, each checked on its own", params: []string{"c"},
			body: obj(map[string]any{"documents": arr(ref("Document"))}, "documents"), status: 200,
			result: data(obj(map[string]any{"created": arr(map[string]any{}), "failed": arr(ref("ItemError"))}, "created", "failed"))}},
		{"PATCH", "/collections/:c/batch", s.updateBatch, "batch.update", ratelimit.ClassWrite, false, &op{tag: "batches", summary: "Update selected documents", params: []string{"c"},
			body: ref("BatchSelection"), status: 200, result: data(obj(map[string]any{"matched": tInt, "modified": tInt}, "matched", "modified"))}},
		{"DELETE", "/collections/:c/batch", s.deleteBatch, "batch.delete", ratelimit.ClassWrite, false, &op{tag: "batches", summary: "Delete selected documents", params: []string{"c"},
			body: ref("BatchSelection"), status: 200, result: data(obj(map[string]any{"deleted": tInt}, "deleted"))}},
		{"POST", "/collections/:c/batch/delete", s.deleteBatch, "batch.delete", ratelimit.ClassWrite, false, &op{tag: "batches", summary: "Delete selected documents (for clients that cannot send a DELETE body)",
			params: []string{"c"}, body: ref("BatchSelection"), status: 200, result: data(obj(map[string]any{"deleted": tInt}, "deleted"))}},
		{"POST", "/collections/:c/import", s.importDocs, "import", ratelimit.ClassImport, false, &op{tag: "batches", summary: "Stream NDJSON documents into a collection", params: []string{"c"},
			body: tString, bodyType: "application/x-ndjson", status: 200,
			result: data(obj(map[string]any{"import_id": tString, "inserted": tInt, "failed": arr(tAnyObj), "audit_id": map[string]any{}}, "import_id", "inserted", "failed"))}},

		{"GET", "/collections/:c/:id", s.get, "read", ratelimit.ClassRead, false, &op{tag: "documents", summary: "Read a document; answers its ETag", params: []string{"c", "id", "fields"},
			status: 200, result: ref("DocumentResponse")}},
		{"PATCH", "/collections/:c/:id", s.patch, "update", ratelimit.ClassWrite, false, &op{tag: "documents", summary: "Merge patch or update operators", params: []string{"c", "id", "ifMatch"},
			body: ref("Document"), status: 200, result: ref("DocumentResponse")}},
		{"PUT", "/collections/:c/:id", s.replace, "replace", ratelimit.ClassWrite, false, &op{tag: "documents", summary: "Replace a document", params: []string{"c", "id", "ifMatch"},
			body: ref("Document"), status: 200, result: ref("DocumentResponse")}},
		{"DELETE", "/collections/:c/:id", s.remove, "delete", ratelimit.ClassWrite, false, &op{tag: "documents", summary: "Delete a document", params: []string{"c", "id", "ifMatch"},
			status: 200, result: data(obj(map[string]any{"deleted": tBool, "id": map[string]any{}}, "deleted", "id"))}},

		{"GET", "/collections/:c/:id/versions", s.listVersions, "versions.list", ratelimit.ClassRead, false, &op{tag: "versions", summary: "Versions of a document, newest first", params: []string{"c", "id"},
			status: 200, result: data(arr(obj(map[string]any{"version": tInt, "updated_by": tString, "updated_at": map[string]any{}}, "version")))}},
		{"GET", "/collections/:c/:id/versions/:v", s.getVersion, "versions.read", ratelimit.ClassRead, false, &op{tag: "versions", summary: "A document as of version v", params: []string{"c", "id", "v", "fields"},
			status: 200, result: ref("DocumentResponse")}},
		{"POST", "/collections/:c/:id/versions/:v/restore", s.restoreVersion, "restore", ratelimit.ClassWrite, false, &op{tag: "versions", summary: "Restore version v (needs the restore action)",
			params: []string{"c", "id", "v", "ifMatch"}, status: 200, result: ref("DocumentResponse")}},

		// The console's static files need no credential (they hold no
		// data; the pages call the API with the user's key like any
		// client) and are not audited: loading a page touches no data,
		// and an entry per asset fetch would bury the entries of the API
		// calls the page then makes.
		{"GET", console.Prefix, con, "", "", true, nil},
		{"GET", console.Prefix + "/*", con, "", "", true, nil},
		{"HEAD", console.Prefix, con, "", "", true, nil},
		{"HEAD", console.Prefix + "/*", con, "", "", true, nil},
	}
}

// routeKey identifies a route the way Echo reports the matched one.
func routeKey(method, path string) string { return method + " " + path }

// addRoutes registers the table and indexes it for the middleware that
// needs the matched route's row (audit, rate limit).
func (s *Server) addRoutes(e *echo.Echo, table []route) {
	groups := map[string]*echo.Group{}
	for _, p := range authGroups {
		groups[p] = e.Group(p, s.authenticate)
	}
	s.routes = make(map[string]*route, len(table))
	s.unaudited = map[string]bool{}
	for i := range table {
		r := &table[i]
		if !r.public && (r.action == "" || r.class == "") {
			// Static data: caught by every test that builds a server.
			panic("api: route " + routeKey(r.method, r.path) + " needs an audit action and a rate-limit class")
		}
		s.routes[routeKey(r.method, r.path)] = r
		if r.action == "" {
			s.unaudited[r.path] = true
		}
		if r.public {
			e.Add(r.method, r.path, r.handler)
			continue
		}
		h := r.handler
		if !r.doc.takesQuery() {
			h = refuseQuery(h)
		}
		if g, rest, ok := inGroup(groups, r.path); ok {
			g.Add(r.method, rest, h)
			continue
		}
		e.Add(r.method, r.path, h, s.authenticate)
	}
}

// takesQuery reports whether the OpenAPI entry names a query parameter. An
// endpoint whose entry names none refuses any query string (a misspelt
// option must be a 400, not a silently different request): addRoutes
// checks that for every such route, so that the document and the behaviour
// cannot disagree and no handler has to remember it.
func (o *op) takesQuery() bool {
	if o == nil {
		return false
	}
	params, _ := components["parameters"].(map[string]any)
	for _, name := range o.params {
		if p, _ := params[name].(map[string]any); p["in"] == "query" {
			return true
		}
	}
	return false
}

// refuseQuery runs h only for a request without query parameters.
func refuseQuery(h echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		if err := noQuery(c); err != nil {
			return err
		}
		return h(c)
	}
}

// inGroup finds the authenticated group path falls under, and path relative
// to it.
func inGroup(groups map[string]*echo.Group, path string) (*echo.Group, string, bool) {
	for prefix, g := range groups {
		if path == prefix || strings.HasPrefix(path, prefix+"/") {
			return g, path[len(prefix):], true
		}
	}
	return nil, "", false
}

// matched is the row of the route Echo matched; nil when none matched (404,
// and the groups' catch-alls).
func (s *Server) matched(c *echo.Context) *route {
	if c.Path() == "" || c.RouteInfo().Method == echo.RouteNotFound {
		return nil
	}
	return s.routes[routeKey(c.Request().Method, c.Path())]
}
