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
// It is written by hand, an entry per row of the route table (routes.go),
// rather than generated from handler code: the handlers parse bodies by hand
// (strict Extended JSON), so there are no Go types to reflect on. Routes and
// entries come from the same rows; a test still checks that the router and
// the document list exactly the same method/path pairs (openapi_test.go),
// and HTTP tests validate responses against the document.

// op is the OpenAPI description of one route of the route table (routes.go).
type op struct {
	tag, summary string
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

// buildOpenAPI returns the document of the routes as JSON.
func buildOpenAPI(routes []route) []byte {
	paths := map[string]map[string]any{}
	tags := map[string]bool{}
	for _, r := range routes {
		o := r.doc
		if o == nil {
			continue
		}
		tags[o.tag] = true
		path := openAPIPath(r.path)
		item := paths[path]
		if item == nil {
			item = map[string]any{}
			paths[path] = item
		}
		oper := map[string]any{
			"operationId": strings.ToLower(r.method) + strings.NewReplacer("/", "_", "{", "", "}", "", "-", "_", ".", "_").Replace(path),
			"summary":     o.summary,
			"tags":        []string{o.tag},
		}
		if r.public {
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
		item[strings.ToLower(r.method)] = oper
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

// setOpenAPI builds the document once, in both forms: it depends on neither
// the request nor the policy.
func (s *Server) setOpenAPI(routes []route) {
	s.openapiJSON = buildOpenAPI(routes)
	var generic any
	_ = json.Unmarshal(s.openapiJSON, &generic)
	s.openapiYAML, _ = yaml.Marshal(generic)
}

func (s *Server) openAPIJSON(c *echo.Context) error {
	return c.Blob(http.StatusOK, "application/json", s.openapiJSON)
}

func (s *Server) openAPIYAML(c *echo.Context) error {
	return c.Blob(http.StatusOK, "application/yaml", s.openapiYAML)
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
