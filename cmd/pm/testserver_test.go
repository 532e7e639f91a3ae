package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/permission-mongo/permission-mongo/internal/app"
	"github.com/permission-mongo/permission-mongo/internal/app/apptest"
	"github.com/permission-mongo/permission-mongo/internal/auth"
	"github.com/permission-mongo/permission-mongo/internal/config"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

// testKey is a bootstrap API key of a test server's config.
type testKey struct {
	name, id, tenant string
	roles            []string
}

// testServer is the whole proxy started the way `pm serve` starts it: a
// config file with bootstrap keys, the policy in a file beside it, its own
// embedded database, real HTTP.
type testServer struct {
	url  string
	dir  string
	app  *app.App
	keys map[string]string // key name -> full API key
}

// testCursorSecret is the cursor_secret line of every test config.
var testCursorSecret = `cursor_secret: "` + strings.Repeat("c", 32) + "\"\n"

func startTestServer(t *testing.T, policy string, keys ...testKey) *testServer {
	t.Helper()
	dir := t.TempDir()
	writeTestFile(t, dir, "policy.yml", policy)
	// The server of the test process (embedded, or PM_TEST_MONGODB_URI's),
	// with a database of the test's own that is dropped when it ends.
	_, db := testenv.Mongo(t)
	head := "listen: 127.0.0.1:0\npolicies: policy.yml\n" +
		`mongodb: {uri: "` + testenv.MongoURI(t) + `", database: ` + db.Name() + "}\n" + testCursorSecret
	c, full := loadTestConfig(t, dir, head, "", keys)
	a, url := serveApp(t, c, app.Options{})
	return &testServer{url: url, dir: dir, app: a, keys: full}
}

// writeTestFile writes text to dir/name.
func writeTestFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// loadTestConfig writes dir/config.yml — head (top-level YAML but auth),
// the auth section (authLines, indented, then one bootstrap key per k) —
// and loads it as pm serve does. It returns the configuration and the full
// keys by name.
func loadTestConfig(t *testing.T, dir, head, authLines string, keys []testKey) (*config.Config, map[string]string) {
	t.Helper()
	var cfg strings.Builder
	cfg.WriteString(head + "\nauth:\n" + authLines + "  api_keys:\n")
	full := map[string]string{}
	for _, k := range keys {
		id, key, hash := auth.GenerateKey()
		full[k.name] = key
		cfg.WriteString("    - {name: " + k.name + ", key_id: " + id + ", key_sha256: " + hash +
			", principal: {id: " + k.id + ", tenant_id: " + k.tenant + ", roles: [" + strings.Join(k.roles, ", ") + "]}}\n")
	}
	path := writeTestFile(t, dir, "config.yml", cfg.String())
	c, err := config.Load(path)
	if err != nil {
		t.Fatalf("config:\n%s\n%v", cfg.String(), err)
	}
	return c, full
}

// serveApp builds the proxy for c as pm serve does (internal/app, a quiet
// log unless opts has one), runs its background loops and serves it on a
// free port of 127.0.0.1 until the test ends.
func serveApp(t *testing.T, c *config.Config, opts app.Options) (*app.App, string) {
	t.Helper()
	s := apptest.Serve(t, c, opts)
	return s.App, s.URL
}

// waitUntil polls cond with a deadline generous enough for a loaded machine.
func waitUntil(t *testing.T, cond func() bool, what string) {
	t.Helper()
	testenv.WaitUntil(t, cond, what)
}

// call is apptest.Call: one request with an API key ("Bearer ..." in
// Authorization), the status, headers and decoded body.
func call(t *testing.T, method, url, key, body string) (int, http.Header, map[string]any) {
	t.Helper()
	return apptest.Call(t, method, url, key, body)
}

func errCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}
