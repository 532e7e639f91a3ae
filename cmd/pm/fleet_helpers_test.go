package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/permission-mongo/permission-mongo/internal/app"
	"github.com/permission-mongo/permission-mongo/internal/config"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

// fleetPolicy lets clerks read and write their tenant's tickets and admins
// manage keys and reload policies.
const fleetPolicy = `
version: "1"
roles: {clerk: {}, admin: {}}
policies:
  tickets:
    clerk:
      actions: [create, read, update, delete, aggregate]
      when: "resource.tenant_id == user.tenant_id"
    presets: {tenant_id: user.tenant_id}
system:
  api_keys.manage: [admin]
  policies.reload: [admin]
  audit.read: [admin]
`

// fleetSetup is one deployment's shared files: the config every proxy of
// the test reads (same database, cursor secret, Redis, keys) and the policy.
type fleetSetup struct {
	dir    string
	config string // path
	keys   map[string]string
	db     *mongo.Database
}

// newFleetSetup writes a config on the test's MongoDB server and a fresh
// database. extra is YAML appended at the top level (redis, rate_limits).
func newFleetSetup(t *testing.T, extra string, keys ...testKey) *fleetSetup {
	t.Helper()
	uri := testenv.MongoURI(t)
	_, db := testenv.Mongo(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "policy.yml"), []byte(fleetPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	head := "listen: 127.0.0.1:0\npolicies: policy.yml\n" +
		"mongodb: {uri: \"" + uri + "\", database: " + db.Name() + "}\n" + testCursorSecret +
		"log: {level: warn}\n" + extra + "\n"
	_, full := loadTestConfig(t, dir, head, "  key_cache_ttl: 10s\n", keys)
	path := filepath.Join(dir, "config.yml")
	return &fleetSetup{dir: dir, config: path, keys: full, db: db}
}

// startInProcess runs one proxy of the setup in the test process.
func (f *fleetSetup) startInProcess(t *testing.T) (url string, a *app.App) {
	t.Helper()
	c, err := config.Load(f.config)
	if err != nil {
		t.Fatal(err)
	}
	a, url = serveApp(t, c, app.Options{})
	return url, a
}

// call sends one request with an API key and returns the status, headers
// and decoded body.
func call(t *testing.T, method, url, key, body string) (int, http.Header, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	if out == nil {
		out = map[string]any{"raw": string(raw)}
	}
	return res.StatusCode, res.Header, out
}

func errCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}
