package api_test

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// served loads the document the running server serves, with kin-openapi,
// and validates it as OpenAPI.
func served(t *testing.T, e *env) *openapi3.T {
	t.Helper()
	r := e.do("GET", "/openapi.json", "", nil)
	expect(t, r, 200, "")
	require.Equal(t, "application/json", r.Header.Get("Content-Type"))
	doc, err := openapi3.NewLoader().LoadFromData(r.Body)
	require.NoError(t, err)
	require.NoError(t, doc.Validate(t.Context()))
	require.True(t, doc.IsOpenAPI31OrLater(), "version %s", doc.OpenAPI)
	return doc
}

// The document lists exactly the routes the router has: a route added
// without its entry, or an entry left after its route was removed, fails.
func TestOpenAPIListsExactlyTheRoutes(t *testing.T) {
	e := newEnv(t)
	doc := served(t, e)
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	sort.Strings(documented)
	routes := e.api.Routes()
	require.Greater(t, len(routes), 30)
	require.Equal(t, routes, documented)
}

func TestOpenAPIYAMLIsTheSameDocument(t *testing.T) {
	e := newEnv(t)
	rj := e.do("GET", "/openapi.json", "", nil)
	ry := e.do("GET", "/openapi.yaml", "", nil)
	expect(t, ry, 200, "")
	require.Equal(t, "application/yaml", ry.Header.Get("Content-Type"))
	var fromJSON, fromYAML any
	require.NoError(t, json.Unmarshal(rj.Body, &fromJSON))
	require.NoError(t, yaml.Unmarshal(ry.Body, &fromYAML))
	// YAML decodes numbers as int; compare through JSON.
	yj, err := json.Marshal(fromYAML)
	require.NoError(t, err)
	var back any
	require.NoError(t, json.Unmarshal(yj, &back))
	require.Equal(t, fromJSON, back)
}

// checkAgainst validates r, the answer of method on the route template
// path, against the document: the status must be declared (or fall under
// "default" for errors) and the body must match the schema.
func checkAgainst(t *testing.T, doc *openapi3.T, method, path string, r resp) {
	t.Helper()
	item := doc.Paths.Value(path)
	require.NotNil(t, item, "no path %s in the document", path)
	op := item.GetOperation(method)
	require.NotNil(t, op, "no %s %s in the document", method, path)
	ref := op.Responses.Status(r.Status)
	if ref == nil {
		require.GreaterOrEqual(t, r.Status, 400, "%s %s answered %d, which the document does not declare", method, path, r.Status)
		ref = op.Responses.Default()
	}
	require.NotNil(t, ref)
	ct := strings.Split(r.Header.Get("Content-Type"), ";")[0]
	mt := ref.Value.Content.Get(ct)
	require.NotNil(t, mt, "%s %s: content type %q not in the document", method, path, ct)
	var body any
	require.NoError(t, json.Unmarshal(r.Body, &body))
	require.NoError(t, mt.Schema.Value.VisitJSON(body, openapi3.EnableJSONSchema2020()),
		"%s %s %d: %s", method, path, r.Status, r.Body)
}

// HTTP answers of the main flows match the document, errors included; and
// the check is not vacuous: a body of the wrong shape fails it.
func TestOpenAPIResponsesMatchTheDocument(t *testing.T) {
	e := newEnv(t)
	doc := served(t, e)
	ann := e.user("ann", "t1", "member")
	admin := e.user("root", "t1", "admin")

	r := e.do("POST", "/collections/notes", ann, map[string]any{"_id": "n1", "title": "a"})
	checkAgainst(t, doc, "POST", "/collections/{c}", r)
	r = e.do("GET", "/collections/notes/n1", ann, nil)
	checkAgainst(t, doc, "GET", "/collections/{c}/{id}", r)
	tag := r.Header.Get("ETag")
	checkAgainst(t, doc, "GET", "/collections/{c}", e.do("GET", "/collections/notes?count=true&limit=1", ann, nil))
	checkAgainst(t, doc, "GET", "/collections/{c}", e.do("GET", "/collections/notes?limit=1", ann, nil))
	checkAgainst(t, doc, "POST", "/collections/{c}/find", e.do("POST", "/collections/notes/find", ann, map[string]any{"limit": 5}))
	checkAgainst(t, doc, "POST", "/collections/{c}/count", e.do("POST", "/collections/notes/count", ann, map[string]any{}))
	r = e.withIfMatch("PATCH", "/collections/notes/n1", ann, tag, map[string]any{"title": "b"})
	checkAgainst(t, doc, "PATCH", "/collections/{c}/{id}", r)
	r = e.withIfMatch("PUT", "/collections/notes/n1", ann, tag, map[string]any{"title": "c", "owner": "ann"})
	require.Equal(t, 412, r.Status)
	checkAgainst(t, doc, "PUT", "/collections/{c}/{id}", r)
	checkAgainst(t, doc, "POST", "/collections/{c}/batch", e.do("POST", "/collections/notes/batch", ann, map[string]any{"documents": []any{map[string]any{"t": 1}, "bad"}}))
	checkAgainst(t, doc, "PATCH", "/collections/{c}/batch", e.do("PATCH", "/collections/notes/batch", ann, map[string]any{"ids": []string{"n1"}, "update": map[string]any{"$set": map[string]any{"x": 1}}}))
	checkAgainst(t, doc, "DELETE", "/collections/{c}/{id}", e.do("DELETE", "/collections/notes/n1", ann, nil))
	checkAgainst(t, doc, "GET", "/collections/{c}/{id}", e.do("GET", "/collections/notes/n1", ann, nil)) // 404
	checkAgainst(t, doc, "GET", "/collections/{c}/{id}", e.do("GET", "/collections/notes/n1", "", nil))  // 401
	checkAgainst(t, doc, "POST", "/explain", e.do("POST", "/explain", ann, map[string]any{"collection": "notes", "action": "read"}))
	r = e.do("POST", "/admin/api-keys", admin, map[string]any{"name": "k", "principal": map[string]any{"id": "svc", "roles": []string{"member"}}, "expires_in": "1h"})
	checkAgainst(t, doc, "POST", "/admin/api-keys", r)
	checkAgainst(t, doc, "GET", "/admin/api-keys", e.do("GET", "/admin/api-keys", admin, nil))
	checkAgainst(t, doc, "GET", "/healthz", e.do("GET", "/healthz", "", nil))
	checkAgainst(t, doc, "GET", "/readyz", e.do("GET", "/readyz", "", nil))

	// Not vacuous: wrong shapes are refused by the same schemas.
	schema := doc.Paths.Value("/collections/{c}/{id}").Get.Responses.Status(200).Value.Content.Get("application/json").Schema.Value
	require.Error(t, schema.VisitJSON(map[string]any{"data": 5.0}, openapi3.EnableJSONSchema2020()))
	list := doc.Paths.Value("/collections/{c}").Get.Responses.Status(200).Value.Content.Get("application/json").Schema.Value
	require.Error(t, list.VisitJSON(map[string]any{"data": []any{}, "pagination": map[string]any{"cursor": 3.0, "has_more": false}}, openapi3.EnableJSONSchema2020()))
	errSchema := doc.Paths.Value("/collections/{c}").Get.Responses.Default().Value.Content.Get("application/json").Schema.Value
	require.Error(t, errSchema.VisitJSON(map[string]any{"error": "oops"}, openapi3.EnableJSONSchema2020()))
}

// The document needs no credential, and lists If-Match where the contract
// takes it.
func TestOpenAPIIsPublicAndNamesIfMatch(t *testing.T) {
	e := newEnv(t)
	doc := served(t, e)
	for _, m := range []string{http.MethodPatch, http.MethodPut, http.MethodDelete} {
		op := doc.Paths.Value("/collections/{c}/{id}").GetOperation(m)
		require.NotNil(t, op.Parameters.GetByInAndName("header", "If-Match"), m)
	}
	require.NotNil(t, doc.Paths.Value("/collections/{c}/{id}/versions/{v}/restore").Post.Parameters.GetByInAndName("header", "If-Match"))
}

// Fetching the document leaves no audit entry (like the probes).
func TestOpenAPINotAudited(t *testing.T) {
	e := newAuditEnv(t)
	ann := e.user("ann", "t1", "member")
	expect(t, e.req("GET", "/openapi.json", "", "doc-json", nil), 200, "")
	expect(t, e.req("GET", "/openapi.yaml", "", "doc-yaml", nil), 200, "")
	expect(t, e.req("GET", "/collections/docs", ann, "list", nil), 200, "")
	got := byRequestID(entriesN(t, e.coll, 1))
	require.Len(t, got["list"], 1)
	require.Empty(t, got["doc-json"])
	require.Empty(t, got["doc-yaml"])
}
