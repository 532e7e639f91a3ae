package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/permission-mongo/permission-mongo/internal/api"
	"github.com/permission-mongo/permission-mongo/internal/app"
	"github.com/permission-mongo/permission-mongo/internal/app/apptest"
	"github.com/permission-mongo/permission-mongo/internal/auth"
	"github.com/permission-mongo/permission-mongo/internal/config"
	"github.com/permission-mongo/permission-mongo/internal/principal"
	"github.com/permission-mongo/permission-mongo/internal/service"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// testPolicy is written into each test's temp dir, so the suite does not
// depend on the contents of policies/.
const testPolicy = `
version: "1"
roles:
  employee: {}
  hr: {}
  member: {}
  reader: {}
  viewer: {}
  self: {}
  admin: {}
system:
  api_keys.manage: [admin]
  audit.read: [admin]
policies:
  employees:
    employee:
      actions: [read, update, aggregate]
      when: "resource.tenant_id == user.tenant_id && (resource.owner == user.id || resource.public == true)"
      fields:
        deny: [ssn, profile.secret]
        deny_write: [salary, owner, profile.level]
        mask: {email: email}
    hr:
      actions: [create, read, update, delete, aggregate]
      when: "resource.tenant_id == user.tenant_id"
    presets:
      tenant_id: user.tenant_id
  notes:
    member:
      actions: [create, read, update, delete]
      when: "resource.owner == user.id || user.id in resource.shared_with"
    presets:
      owner: user.id
  items:
    reader:
      actions: [read, create]
  people:
    viewer:
      actions: [read]
      when: "resource.public == true"
      fields:
        allow: [name, email, public]
        mask: {email: email}
    self:
      actions: [read]
      when: "resource.owner == user.id"
defaults:
  deny_unlisted_collections: true
`

type env struct {
	t    *testing.T
	srv  *httptest.Server
	db   *mongo.Database
	keys *testenv.Keys
	svc  *service.Service
	api  *api.Server
	app  *app.App
}

const testMaxBody = 64 << 10
const testMaxLimit = 100
const testMaxBatch = 10

// newEnv starts the API over the test database; opts adjust the Params.
func newEnv(t *testing.T, opts ...func(*api.Params)) *env {
	t.Helper()
	return newEnvWithPolicy(t, testPolicy, opts...)
}

// newEnvWith is newEnv with another policy file.
func newEnvWith(t *testing.T, policyYAML string) *env {
	t.Helper()
	return newEnvWithPolicy(t, policyYAML)
}

// newEnvWithPolicy is newEnv serving the policy text given, without the
// audit log (newAuditEnv has it).
func newEnvWithPolicy(t *testing.T, policyText string, opts ...func(*api.Params)) *env {
	t.Helper()
	return startEnv(t, testConfig(t, writePolicy(t, policyText)), app.Options{NoAudit: true, API: func(p *api.Params) {
		for _, o := range opts {
			o(p)
		}
	}})
}

// writePolicy writes the policy text into a temp dir of the test and
// returns its path.
func writePolicy(t *testing.T, text string) string {
	t.Helper()
	return apptest.WriteFile(t, "policy.yml", text)
}

// testConfig is pm serve's default configuration with the policy file and
// the small limits the tests probe.
func testConfig(t *testing.T, policyPath string) *config.Config {
	t.Helper()
	cfg := apptest.Config(t, policyPath)
	cfg.Limits = config.Limits{MaxBodyBytes: testMaxBody, MaxLimit: testMaxLimit, DefaultLimit: 20, QueryTimeout: 10 * time.Second,
		MaxBatch: testMaxBatch, MaxFilterDepth: 16, MaxRegexLength: 128}
	return cfg
}

// testInItems bounds $in lists (the configuration leaves the default).
func testInItems(p *service.Params) { p.Limits.Filter.MaxInItems = 100 }

// startEnv builds the proxy (internal/app) for cfg over a fresh test
// database, with keys the test controls, and serves it until the test ends.
// Background loops do not run: tests drive what they need.
func startEnv(t *testing.T, cfg *config.Config, opts app.Options) *env {
	t.Helper()
	if opts.Service == nil {
		opts.Service = testInItems
	}
	s := apptest.Start(t, cfg, opts)
	return &env{t: t, srv: s.HTTP, db: s.DB, keys: s.Keys, svc: s.Service(), api: s.API(), app: s.App}
}

// user creates an API key for a principal.
func (e *env) user(id, tenant string, roles ...string) string {
	return e.keys.Add(principal.Principal{ID: id, TenantID: tenant, Roles: roles}, nil)
}

type resp struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("response is not JSON: %v: %s", err, r.Body)
	}
	return m
}

func (r resp) data(t *testing.T) map[string]any {
	t.Helper()
	d, ok := r.json(t)["data"].(map[string]any)
	if !ok {
		t.Fatalf("no data object in %s", r.Body)
	}
	return d
}

func (r resp) list(t *testing.T) []any {
	t.Helper()
	d, ok := r.json(t)["data"].([]any)
	if !ok {
		t.Fatalf("no data array in %s", r.Body)
	}
	return d
}

// has says whether the body holds s: a value that must not leak, a name an
// error must give.
func (r resp) has(s string) bool { return strings.Contains(string(r.Body), s) }

func (r resp) code(t *testing.T) string {
	t.Helper()
	e, _ := r.json(t)["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// do sends a request with the key as X-API-Key ("" for none; "Bearer ..."
// goes in Authorization). body may be a string or []byte (sent as is) or
// anything json.Marshal takes; it is sent as application/json.
func (e *env) do(method, path, key string, body any) resp {
	e.t.Helper()
	return e.request(method, path, key, body, nil)
}

// doCT sends body with an explicit Content-Type.
func (e *env) doCT(method, path, key, body, contentType string) resp {
	e.t.Helper()
	return e.request(method, path, key, body, map[string]string{"Content-Type": contentType})
}

// request is do with more headers (they win over the defaults).
func (e *env) request(method, path, key string, body any, header map[string]string) resp {
	e.t.Helper()
	return e.send(e.newRequest(method, path, key, body, header))
}

// header is the one header name: value, none when value is "".
func header(name, value string) map[string]string {
	if value == "" {
		return nil
	}
	return map[string]string{name: value}
}

// newRequest builds the request do and request send.
func (e *env) newRequest(method, path, key string, body any, header map[string]string) *http.Request {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	return apptest.NewRequest(e.t, method, e.srv.URL+path, key, rd, header)
}

func (e *env) send(req *http.Request) resp {
	e.t.Helper()
	st, h, b := apptest.Do(e.t, req)
	return resp{Status: st, Header: h, Body: b}
}

// expect fails unless r has the status (and, for errors, the code).
func expect(t *testing.T, r resp, status int, code string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	if code != "" {
		if got := r.code(t); got != code {
			t.Fatalf("code %q, want %q: %s", got, code, r.Body)
		}
	}
}

// supported says whether the backend has capability; without it r must be
// the 501 NOT_SUPPORTED that names the gap (the caller then stops).
func supported(t *testing.T, r resp, capability string) bool {
	t.Helper()
	if testenv.Has(t, capability) {
		return true
	}
	expect(t, r, 501, "NOT_SUPPORTED")
	return false
}

// insert writes documents directly into the database, bypassing the proxy,
// to set up fixtures the policy would not let a test caller create.
func (e *env) insert(coll string, docs ...bson.D) {
	e.t.Helper()
	for _, d := range docs {
		if _, err := e.db.Collection(coll).InsertOne(e.t.Context(), d); err != nil {
			e.t.Fatal(err)
		}
	}
}

// raw reads a document directly from the database.
func (e *env) raw(coll string, id any) bson.M {
	e.t.Helper()
	var m bson.M
	err := e.db.Collection(coll).FindOne(e.t.Context(), bson.D{{Key: "_id", Value: id}}).Decode(&m)
	if err != nil {
		e.t.Fatalf("raw read %v: %v", id, err)
	}
	return m
}

func ids(t *testing.T, list []any) []string {
	t.Helper()
	out := make([]string, len(list))
	for i, x := range list {
		m := x.(map[string]any)
		switch id := m["_id"].(type) {
		case string:
			out[i] = id
		case map[string]any:
			out[i], _ = id["$oid"].(string)
		}
	}
	return out
}

type keyRecord = auth.KeyRecord

func principalFor(id, tenant string, roles ...string) principal.Principal {
	return principal.Principal{ID: id, TenantID: tenant, Roles: roles}
}

// D builds a bson.D from alternating keys and values (keyed literals would
// drown the fixtures; unkeyed ones upset go vet).
func D(kv ...any) bson.D {
	d := make(bson.D, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		d = append(d, bson.E{Key: kv[i].(string), Value: kv[i+1]})
	}
	return d
}
