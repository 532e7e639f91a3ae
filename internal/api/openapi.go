package api

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"

	"github.com/labstack/echo/v5"
	"go.yaml.in/yaml/v3"

	"github.com/permission-mongo/permission-mongo/internal/console"
)

// The OpenAPI 3.1 document of the API, served at /openapi.json and
// /openapi.yaml without authentication (the contract is public; what a
// caller may do is in the policy, not in the route list).
//
// It is written by hand, one entry per route, rather than generated from
// handler code: the handlers parse bodies by hand (strict Extended JSON),
// so there are no Go types to reflect on. What keeps the two from drifting
// is a test: the router and the document must list exactly the same
// method/path pairs (openapi_test.go), and HTTP tests validate responses
// against the document.

// op describes one route.
type op struct {
	method, path string // path in OpenAPI form: /collections/{c}/{id}
	tag, summary string
	public       bool     // no credential needed
	params       []string // names under components.parameters
	body         any      // request body schema (JSON); nil: none
	bodyType     string   // request media type when not application/json
	status       int      // success status
	result       any      // success body schema; nil: none
	resultType   string   // success media type when not application/json
}

func ref(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }

func obj(props map[string]any, required ...string) map[string]any {
	m := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		m["required"] = required
	}
	return m
}

func arr(items any) map[string]any { return map[string]any{"type": "array", "items": items} }

func data(schema any) map[string]any { return obj(map[string]any{"data": schema}, "data") }

var (
	tString   = map[string]any{"type": "string"}
	tBool     = map[string]any{"type": "boolean"}
	tInt      = map[string]any{"type": "integer"}
	tAnyObj   = map[string]any{"type": "object"}
	tStrArray = arr(tString)
)

// apiOps is every route of the server. Keep it in the order of api.go.
var apiOps = []op{
	{method: "GET", path: "/healthz", tag: "operations", summary: "The process is up", public: true, status: 200, result: data(obj(map[string]any{"status": tString}))},
	{method: "GET", path: "/readyz", tag: "operations", summary: "MongoDB (and required dependencies) answer", public: true, status: 200, result: data(tAnyObj)},
	{method: "GET", path: "/metrics", tag: "operations", summary: "Prometheus metrics", public: true, status: 200, result: tString, resultType: "text/plain"},
	{method: "GET", path: "/openapi.json", tag: "operations", summary: "This document, as JSON", public: true, status: 200, result: tAnyObj},
	{method: "GET", path: "/openapi.yaml", tag: "operations", summary: "This document, as YAML", public: true, status: 200, result: tString, resultType: "application/yaml"},

	{method: "POST", path: "/explain", tag: "operations",
		summary: "The compiled policy for the caller, or with principal / api_key_id for another principal of the caller's tenant (needs explain.any_principal)",
		body: obj(map[string]any{"collection": tString, "action": tString,
			"principal":  obj(map[string]any{"id": tString, "tenant_id": tString, "roles": tStrArray, "claims": tAnyObj}, "id"),
			"api_key_id": tString}, "collection", "action"), status: 200,
		result: data(obj(map[string]any{"allowed": tBool, "state": tString, "filter": map[string]any{}, "fields": map[string]any{},
			"principal":          obj(map[string]any{"id": tString, "tenant_id": tString, "roles": tStrArray, "api_key_id": tString}),
			"hierarchy_resolved": tBool}, "allowed"))},

	{method: "POST", path: "/admin/api-keys", tag: "api keys", summary: "Create an API key (the only time the key is shown)",
		body:   obj(map[string]any{"name": tString, "principal": ref("Principal"), "expires_in": map[string]any{"type": []string{"string", "integer"}}}, "name", "principal"),
		status: 201, result: data(ref("APIKey"))},
	{method: "GET", path: "/admin/api-keys", tag: "api keys", summary: "The API keys of the caller's tenant, or of the tenant named (needs api_keys.manage_any_tenant)",
		params: []string{"keyTenant"}, status: 200, result: data(arr(ref("APIKey")))},
	{method: "DELETE", path: "/admin/api-keys/{id}", tag: "api keys", summary: "Revoke an API key", params: []string{"keyId", "keyTenant"}, status: 200,
		result: data(obj(map[string]any{"revoked": tBool, "id": tString}, "revoked", "id"))},
	{method: "GET", path: "/admin/policies/tests", tag: "operations", summary: "Run the loaded policy's test cases (needs policies.test)",
		status: 200, result: data(obj(map[string]any{"passed": tInt, "failed": tInt, "files": tStrArray,
			"cases": arr(obj(map[string]any{"file": tString, "line": tInt, "name": tString, "passed": tBool, "failures": tStrArray},
				"file", "line", "name", "passed", "failures")),
			"problems": arr(obj(map[string]any{"file": tString, "line": tInt, "column": tInt, "case": tString, "message": tString}, "file", "message")),
		}, "passed", "failed", "files", "cases", "problems"))},
	{method: "POST", path: "/admin/policies/reload", tag: "operations", summary: "Reload the policies on this proxy and, through Redis, on every proxy (needs policies.reload)",
		status: 200, result: data(obj(map[string]any{"policy_hash": tString}, "policy_hash"))},

	{method: "GET", path: "/audit", tag: "audit", summary: "Audit entries (needs audit.read)",
		params: []string{"auditCollection", "auditActor", "auditAction", "auditOutcome", "auditDocID", "from", "to", "limit", "cursor"},
		status: 200, result: ref("ListResponse")},
	{method: "GET", path: "/audit/verify", tag: "audit", summary: "Verify the audit hash chain", params: []string{"from", "to"}, status: 200,
		result: data(obj(map[string]any{"ok": tBool, "checked": tInt, "first_bad_id": tString}, "ok", "checked"))},

	{method: "POST", path: "/grants", tag: "grants", summary: "Issue a temporary MongoDB credential", body: tAnyObj, status: 201, result: data(tAnyObj)},
	{method: "GET", path: "/grants", tag: "grants", summary: "Grants visible to the caller", status: 200, result: data(arr(tAnyObj))},
	{method: "GET", path: "/webhooks/deliveries", tag: "webhooks", summary: "Delivery status of change events (needs webhooks.read)",
		params: []string{"webhookState", "limit"}, status: 200, result: data(arr(tAnyObj))},
	{method: "POST", path: "/webhooks/deliveries/{id}/redeliver", tag: "webhooks", summary: "Send a dead or delivered event again (needs webhooks.manage)",
		params: []string{"deliveryId"}, status: 200, result: data(tAnyObj)},
	{method: "GET", path: "/grants/{id}", tag: "grants", summary: "One grant (never its password)", params: []string{"grantId"}, status: 200, result: data(tAnyObj)},
	{method: "POST", path: "/grants/{id}/renew", tag: "grants", summary: "Extend a grant", params: []string{"grantId"},
		body: obj(map[string]any{"ttl": tString}, "ttl"), status: 200, result: data(obj(map[string]any{"expires_at": tString}))},
	{method: "DELETE", path: "/grants/{id}", tag: "grants", summary: "Revoke a grant (idempotent)", params: []string{"grantId"}, status: 200,
		result: data(obj(map[string]any{"revoked": tBool}))},

	{method: "POST", path: "/collections/{c}", tag: "documents", summary: "Create a document", params: []string{"c"},
		body: ref("Document"), status: 201, result: ref("DocumentResponse")},
	{method: "GET", path: "/collections/{c}", tag: "documents", summary: "List documents",
		params: []string{"c", "filter", "sort", "limit", "cursor", "fields", "count"}, status: 200, result: ref("ListResponse")},
	{method: "POST", path: "/collections/{c}/find", tag: "documents", summary: "List documents (query in the body)", params: []string{"c"},
		body:   obj(map[string]any{"filter": tAnyObj, "sort": tStrArray, "limit": tInt, "cursor": tString, "fields": tStrArray, "count": tBool}),
		status: 200, result: ref("ListResponse")},
	{method: "POST", path: "/collections/{c}/count", tag: "documents", summary: "Count documents", params: []string{"c"},
		body: obj(map[string]any{"filter": tAnyObj}), status: 200, result: data(obj(map[string]any{"count": tInt}, "count"))},
	{method: "POST", path: "/collections/{c}/aggregate", tag: "documents", summary: "Run an aggregation pipeline", params: []string{"c"},
		body: obj(map[string]any{"pipeline": arr(tAnyObj)}, "pipeline"), status: 200, result: data(arr(tAnyObj))},
	{method: "POST", path: "/collections/{c}/batch", tag: "batches", summary: "Create documents, each checked on its own", params: []string{"c"},
		body: obj(map[string]any{"documents": arr(ref("Document"))}, "documents"), status: 200,
		result: data(obj(map[string]any{"created": arr(map[string]any{}), "failed": arr(ref("ItemError"))}, "created", "failed"))},
	{method: "PATCH", path: "/collections/{c}/batch", tag: "batches", summary: "Update selected documents", params: []string{"c"},
		body: ref("BatchSelection"), status: 200, result: data(obj(map[string]any{"matched": tInt, "modified": tInt}, "matched", "modified"))},
	{method: "DELETE", path: "/collections/{c}/batch", tag: "batches", summary: "Delete selected documents", params: []string{"c"},
		body: ref("BatchSelection"), status: 200, result: data(obj(map[string]any{"deleted": tInt}, "deleted"))},
	{method: "POST", path: "/collections/{c}/batch/delete", tag: "batches", summary: "Delete selected documents (for clients that cannot send a DELETE body)",
		params: []string{"c"}, body: ref("BatchSelection"), status: 200, result: data(obj(map[string]any{"deleted": tInt}, "deleted"))},
	{method: "POST", path: "/collections/{c}/import", tag: "batches", summary: "Stream NDJSON documents into a collection", params: []string{"c"},
		body: tString, bodyType: "application/x-ndjson", status: 200,
		result: data(obj(map[string]any{"import_id": tString, "inserted": tInt, "failed": arr(tAnyObj), "audit_id": map[string]any{}}, "import_id", "inserted", "failed"))},

	{method: "GET", path: "/collections/{c}/{id}", tag: "documents", summary: "Read a document; answers its ETag", params: []string{"c", "id", "fields"},
		status: 200, result: ref("DocumentResponse")},
	{method: "PATCH", path: "/collections/{c}/{id}", tag: "documents", summary: "Merge patch or update operators", params: []string{"c", "id", "ifMatch"},
		body: ref("Document"), status: 200, result: ref("DocumentResponse")},
	{method: "PUT", path: "/collections/{c}/{id}", tag: "documents", summary: "Replace a document", params: []string{"c", "id", "ifMatch"},
		body: ref("Document"), status: 200, result: ref("DocumentResponse")},
	{method: "DELETE", path: "/collections/{c}/{id}", tag: "documents", summary: "Delete a document", params: []string{"c", "id", "ifMatch"},
		status: 200, result: data(obj(map[string]any{"deleted": tBool, "id": map[string]any{}}, "deleted", "id"))},

	{method: "GET", path: "/collections/{c}/{id}/versions", tag: "versions", summary: "Versions of a document, newest first", params: []string{"c", "id"},
		status: 200, result: data(arr(obj(map[string]any{"version": tInt, "updated_by": tString, "updated_at": map[string]any{}}, "version")))},
	{method: "GET", path: "/collections/{c}/{id}/versions/{v}", tag: "versions", summary: "A document as of version v", params: []string{"c", "id", "v", "fields"},
		status: 200, result: ref("DocumentResponse")},
	{method: "POST", path: "/collections/{c}/{id}/versions/{v}/restore", tag: "versions", summary: "Restore version v (needs the restore action)",
		params: []string{"c", "id", "v", "ifMatch"}, status: 200, result: ref("DocumentResponse")},
}

func pathParam(name, desc string) map[string]any {
	return map[string]any{"name": name, "in": "path", "required": true, "description": desc, "schema": tString}
}

func queryParam(name, desc string, schema any) map[string]any {
	return map[string]any{"name": name, "in": "query", "description": desc, "schema": schema}
}

var components = map[string]any{
	"securitySchemes": map[string]any{
		"apiKey": map[string]any{"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "pm_<key-id>_<secret>"},
		"bearer": map[string]any{"type": "http", "scheme": "bearer", "description": "a JWT, or an API key"},
	},
	"parameters": map[string]any{
		"c":               pathParam("c", "collection name"),
		"id":              pathParam("id", "document id: 24 hex digits are an ObjectId, anything else a string"),
		"v":               pathParam("v", "version number (1, 2, ...)"),
		"keyId":           pathParam("id", "API key id"),
		"grantId":         pathParam("id", "grant id"),
		"keyTenant":       queryParam("tenant_id", "another tenant than the caller's (needs api_keys.manage_any_tenant)", tString),
		"deliveryId":      pathParam("id", "webhook delivery (event) id"),
		"filter":          queryParam("filter", "MongoDB filter as Extended JSON", tString),
		"sort":            queryParam("sort", "comma-separated fields, - for descending", tString),
		"limit":           queryParam("limit", "page size", map[string]any{"type": "integer", "minimum": 1}),
		"cursor":          queryParam("cursor", "opaque cursor of the previous page", tString),
		"webhookState":    queryParam("state", "only deliveries in this state (e.g. pending, delivered, dead)", tString),
		"fields":          queryParam("fields", "comma-separated fields to return", tString),
		"count":           queryParam("count", "add pagination.total", map[string]any{"type": "string", "enum": []string{"true", "false"}}),
		"from":            queryParam("from", "RFC 3339 time", tString),
		"to":              queryParam("to", "RFC 3339 time", tString),
		"auditCollection": queryParam("collection", "entries about this collection", tString),
		"auditActor":      queryParam("actor", "entries by this principal id", tString),
		"auditAction":     queryParam("action", "entries of this action", tString),
		"auditOutcome":    queryParam("outcome", "allowed, denied or error", tString),
		"auditDocID":      queryParam("doc_id", "entries about this document", tString),
		"ifMatch": map[string]any{"name": "If-Match", "in": "header", "schema": tString,
			"description": "ETag(s) from GET, or *; a mismatch answers 412 and writes nothing"},
	},
	"schemas": map[string]any{
		"Document": map[string]any{"type": "object", "additionalProperties": true,
			"description": "A document in MongoDB Extended JSON v2 (relaxed)"},
		"DocumentResponse": data(ref("Document")),
		"ListResponse": obj(map[string]any{
			"data": arr(ref("Document")),
			"pagination": obj(map[string]any{
				"cursor":   map[string]any{"type": []string{"string", "null"}},
				"has_more": tBool,
				"total":    map[string]any{"type": "integer", "description": "with count=true"},
			}, "cursor", "has_more"),
		}, "data", "pagination"),
		"Principal": obj(map[string]any{"id": tString, "tenant_id": tString, "roles": tStrArray, "claims": tAnyObj}, "id"),
		"APIKey": obj(map[string]any{
			"id": tString, "name": tString, "principal": ref("Principal"), "key": tString,
			"created_at": tString, "created_by": tString, "expires_at": map[string]any{"type": []string{"string", "null"}},
			"revoked": tBool, "revoked_at": tString,
		}, "id", "name", "principal", "created_at", "revoked"),
		"BatchSelection": obj(map[string]any{"ids": arr(map[string]any{}), "filter": tAnyObj, "update": tAnyObj}),
		"ItemError":      obj(map[string]any{"index": tInt, "error": ref("ErrorInfo")}, "index", "error"),
		"ErrorInfo": obj(map[string]any{
			"code":    map[string]any{"type": "string", "examples": []string{"FORBIDDEN"}},
			"message": tString,
			"details": tAnyObj,
		}, "code", "message"),
		"Error": obj(map[string]any{"error": ref("ErrorInfo"), "request_id": tString}, "error", "request_id"),
	},
}

// openAPIPath turns an Echo route path (/a/:b) into OpenAPI form (/a/{b}).
func openAPIPath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if strings.HasPrefix(s, ":") {
			parts[i] = "{" + s[1:] + "}"
		}
	}
	return strings.Join(parts, "/")
}

// buildOpenAPI returns the document as JSON.
func buildOpenAPI() []byte {
	paths := map[string]map[string]any{}
	for _, o := range apiOps {
		item := paths[o.path]
		if item == nil {
			item = map[string]any{}
			paths[o.path] = item
		}
		oper := map[string]any{
			"operationId": strings.ToLower(o.method) + strings.NewReplacer("/", "_", "{", "", "}", "", "-", "_", ".", "_").Replace(o.path),
			"summary":     o.summary,
			"tags":        []string{o.tag},
		}
		if o.public {
			oper["security"] = []any{}
		}
		if len(o.params) > 0 {
			ps := make([]any, len(o.params))
			for i, p := range o.params {
				ps[i] = map[string]any{"$ref": "#/components/parameters/" + p}
			}
			oper["parameters"] = ps
		}
		if o.body != nil {
			mt := o.bodyType
			if mt == "" {
				mt = "application/json"
			}
			oper["requestBody"] = map[string]any{"required": true, "content": map[string]any{mt: map[string]any{"schema": o.body}}}
		}
		mt := o.resultType
		if mt == "" {
			mt = "application/json"
		}
		ok := map[string]any{"description": http.StatusText(o.status), "content": map[string]any{mt: map[string]any{"schema": o.result}}}
		oper["responses"] = map[string]any{
			itoa(o.status): ok,
			"default": map[string]any{"description": "an error (status and code as in the error table)",
				"content": map[string]any{"application/json": map[string]any{"schema": ref("Error")}}},
		}
		item[strings.ToLower(o.method)] = oper
	}
	tags := map[string]bool{}
	for _, o := range apiOps {
		tags[o.tag] = true
	}
	tagList := make([]string, 0, len(tags))
	for t := range tags {
		tagList = append(tagList, t)
	}
	sort.Strings(tagList)
	tagObjs := make([]any, len(tagList))
	for i, t := range tagList {
		tagObjs[i] = map[string]any{"name": t}
	}
	doc := map[string]any{
		"openapi":           "3.1.0",
		"jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
		"info": map[string]any{
			"title":       "permission-mongo",
			"version":     "1",
			"description": "A policy-enforcing HTTP proxy in front of MongoDB. Every response carries X-Request-ID; errors have the shape of the Error schema.",
		},
		"tags":       tagObjs,
		"security":   []any{map[string]any{"apiKey": []any{}}, map[string]any{"bearer": []any{}}},
		"paths":      paths,
		"components": components,
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err) // static data: a failure is a programming error caught by every test
	}
	return b
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// openAPIRoutes serves the document. Built once: it does not depend on the
// request or the policy.
func (s *Server) openAPIRoutes(e *echo.Echo) {
	js := buildOpenAPI()
	var generic any
	_ = json.Unmarshal(js, &generic)
	ym, _ := yaml.Marshal(generic)
	e.GET("/openapi.json", func(c *echo.Context) error {
		return c.Blob(http.StatusOK, "application/json", js)
	})
	e.GET("/openapi.yaml", func(c *echo.Context) error {
		return c.Blob(http.StatusOK, "application/yaml", ym)
	})
}

// Routes lists the server's routes as "METHOD /path" in OpenAPI form,
// sorted, leaving out the console's static files (pages, not API); the
// test that keeps the document complete compares them.
func (s *Server) Routes() []string {
	var out []string
	for _, r := range s.echo.Router().Routes() {
		if r.Method == echo.RouteNotFound {
			continue // the groups' catch-alls that answer 404
		}
		if r.Path == console.Prefix || strings.HasPrefix(r.Path, console.Prefix+"/") {
			continue // the console's static files are pages, not part of the API
		}
		out = append(out, r.Method+" "+openAPIPath(r.Path))
	}
	sort.Strings(out)
	return out
}

// The document is static and public: fetching it is not an event worth an
// audit entry, and with the audit log down (fail_closed) clients must still
// be able to read the contract.
func init() {
	unauditedRoutes["/openapi.json"] = true
	unauditedRoutes["/openapi.yaml"] = true
}
