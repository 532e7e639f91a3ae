package main

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	app  *app
	keys map[string]string // key name -> full API key
}

func startTestServer(t *testing.T, policy string, keys ...testKey) *testServer {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "policy.yml"), []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	var cfg strings.Builder
	cfg.WriteString("listen: 127.0.0.1:0\npolicies: policy.yml\n")
	// The server of the test process (embedded, or PM_TEST_MONGODB_URI's),
	// with a database of the test's own that is dropped when it ends.
	_, db := testenv.Mongo(t)
	cfg.WriteString(`mongodb: {uri: "` + testenv.MongoURI(t) + `", database: ` + db.Name() + "}\n")
	cfg.WriteString(`cursor_secret: "` + strings.Repeat("c", 32) + "\"\nauth:\n  api_keys:\n")
	full := map[string]string{}
	for _, k := range keys {
		id, key, hash := auth.GenerateKey()
		full[k.name] = key
		cfg.WriteString("    - {name: " + k.name + ", key_id: " + id + ", key_sha256: " + hash +
			", principal: {id: " + k.id + ", tenant_id: " + k.tenant + ", roles: [" + strings.Join(k.roles, ", ") + "]}}\n")
	}
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	a, err := startApp(context.Background(), c, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	srv := httptest.NewServer(a.handler) // a free port on 127.0.0.1
	t.Cleanup(srv.Close)
	return &testServer{url: srv.URL, dir: dir, app: a, keys: full}
}

// waitUntil polls cond with a deadline generous enough for a loaded machine.
func waitUntil(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond) // the polling interval; the deadline is above
	}
}
