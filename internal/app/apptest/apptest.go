// Package apptest starts the proxy for tests and benchmarks the one way
// the product starts it, through app.New, on the test's real database.
package apptest

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/permission-mongo/permission-mongo/internal/app"
	"github.com/permission-mongo/permission-mongo/internal/config"
	"github.com/permission-mongo/permission-mongo/internal/store"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

// Server is a proxy a test started, serving HTTP on loopback until the
// test ends.
type Server struct {
	*app.App
	HTTP *httptest.Server
	URL  string
	DB   *mongo.Database
	// Keys is asked for API keys before the configured ones; the test
	// adds and revokes them (nil for Serve).
	Keys *testenv.Keys
}

// WriteFile writes text to name in a new temporary folder of the test and
// returns its path.
func WriteFile(t testing.TB, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Config is pm serve's default configuration with the policy file, the test
// server's URI (named in issued grants) and a fixed cursor secret.
func Config(t testing.TB, policyPath string) *config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.Policies = policyPath
	cfg.MongoDB.URI = testenv.MongoURI(t)
	cfg.CursorSecret = strings.Repeat("k", 32)
	return cfg
}

// Start builds cfg's proxy over a fresh test database (opts.Database when
// set: a benchmark's seeded one), with the backend's
// known capabilities, a key store the test controls and a quiet log unless
// opts say otherwise. Its background loops do not run unless the test
// calls Start on it; Close runs when the test ends, after the HTTP server
// stopped.
func Start(t testing.TB, cfg *config.Config, opts app.Options) *Server {
	t.Helper()
	if opts.Database == nil {
		_, db := testenv.Mongo(t)
		opts.Database = store.NewDatabase(db)
	}
	caps := testenv.Capabilities(t)
	keys := testenv.NewKeys()
	opts.Capabilities = &caps
	if opts.Keys == nil {
		opts.Keys = keys
	}
	s := build(t, cfg, opts)
	s.Keys = keys
	return s
}

// Serve builds cfg's proxy exactly as pm serve does — its own connection
// to the database cfg names, the background loops running — and serves it
// until the test ends.
func Serve(t testing.TB, cfg *config.Config, opts app.Options) *Server {
	t.Helper()
	s := build(t, cfg, opts)
	s.Start(context.Background())
	return s
}

func build(t testing.TB, cfg *config.Config, opts app.Options) *Server {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	a, err := app.New(context.Background(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(func() {
		srv.Close()
		a.Close()
	})
	return &Server{App: a, HTTP: srv, URL: srv.URL, DB: DriverDB(t, a)}
}

// DriverDB is a's database through a driver client of the test's own, for
// tests that seed, read or tamper with stored data behind the proxy's back:
// the proxy itself reaches it only through store's handles.
func DriverDB(t testing.TB, a *app.App) *mongo.Database {
	t.Helper()
	c, err := store.Connect(context.Background(), a.URI())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Disconnect(ctx)
	})
	return c.Database(a.Database().Name())
}

// NewRequest builds a request to url: key as X-API-Key ("Bearer ..." goes
// in Authorization; "" sends none), body as application/json when there is
// one, then header, which wins.
func NewRequest(t testing.TB, method, url, key string, body io.Reader, header map[string]string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case strings.HasPrefix(key, "Bearer "):
		req.Header.Set("Authorization", key)
	case key != "":
		req.Header.Set("X-API-Key", key)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return req
}

// Do sends req and returns the status, headers and body (as much as could
// be read: tests of cut-off answers look at the status).
func Do(t testing.TB, req *http.Request) (int, http.Header, []byte) {
	t.Helper()
	res, err := http.DefaultClient.Do(req) //nolint:gosec // G704: tests call their own local server
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, b
}

// Call sends one request (NewRequest; body as is, "" for none) and returns
// the status, headers and the body decoded as JSON (a body that is not JSON
// under "raw").
func Call(t testing.TB, method, url, key, body string) (int, http.Header, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	st, h, raw := Do(t, NewRequest(t, method, url, key, rd, nil))
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	if out == nil {
		out = map[string]any{"raw": string(raw)}
	}
	return st, h, out
}

// pmPackage is the pm command, named by import path so that it builds from
// any package's folder.
const pmPackage = "github.com/permission-mongo/permission-mongo/cmd/pm"

var (
	buildOnce sync.Once
	pmBinary  string
	buildErr  error
	buildOut  []byte
)

// BuildPM builds the pm command once per test process, as `make build`
// would, for tests and benchmarks that run `pm serve` as a process of its
// own, and returns the binary's path.
func BuildPM(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "pm-bin-")
		if err != nil {
			buildErr = err
			return
		}
		pmBinary = filepath.Join(dir, "pm")
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = "go" // reported by the build below
		}
		buildOut, buildErr = exec.Command(goTool, "build", "-o", pmBinary, pmPackage).CombinedOutput() //nolint:gosec // G204: the go tool on PATH builds this module's own command
	})
	if buildErr != nil {
		t.Fatalf("go build %s: %v\n%s", pmPackage, buildErr, buildOut)
	}
	return pmBinary
}
