package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/audit"
	"github.com/permission-mongo/permission-mongo/internal/auth"
	"github.com/permission-mongo/permission-mongo/internal/config"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServeAuditAndVersionsWiring: pm serve's wiring creates the audit
// writer (retention as a periodic delete on FerretDB, said in the log), the
// versions store with keep, and app.close flushes every entry.
func TestServeAuditAndVersionsWiring(t *testing.T) {
	dir := t.TempDir()
	pol := `
version: "1"
roles: {clerk: {}, auditor: {}}
system: {audit.read: [auditor]}
policies:
  tickets:
    clerk:
      actions: [create, read, update]
      when: "resource.tenant_id == user.tenant_id"
    presets: {tenant_id: user.tenant_id}
`
	if err := os.WriteFile(filepath.Join(dir, "policy.yml"), []byte(pol), 0o600); err != nil {
		t.Fatal(err)
	}
	id, key, hash := auth.GenerateKey()
	aid, akey, ahash := auth.GenerateKey()
	cfgText := `
listen: 127.0.0.1:0
policies: policy.yml
mongodb: {uri: embedded, embedded_dir: data, database: app}
cursor_secret: "` + strings.Repeat("c", 32) + `"
audit: {retention: 720h, spill_path: audit.spill}
versions: {collections: [tickets], keep: 2}
auth:
  api_keys:
    - {name: boot, key_id: ` + id + `, key_sha256: ` + hash + `, principal: {id: u1, tenant_id: t1, roles: [clerk]}}
    - {name: aud, key_id: ` + aid + `, key_sha256: ` + ahash + `, principal: {id: a1, tenant_id: t1, roles: [auditor]}}
`
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Audit.SpillPath != filepath.Join(dir, "audit.spill") {
		t.Fatalf("spill_path not relative to the config file: %s", cfg.Audit.SpillPath)
	}
	var logs syncBuf
	a, err := startApp(context.Background(), cfg, slog.New(slog.NewTextHandler(&logs, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	srv := httptest.NewServer(a.handler)
	t.Cleanup(srv.Close)

	do := func(method, path, k, body string) (int, []byte) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("X-API-Key", k)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	if st, b := do("POST", "/collections/tickets", key, `{"_id": "t", "title": "v0"}`); st != 201 {
		t.Fatalf("create: %d %s", st, b)
	}
	for _, title := range []string{"v1", "v2", "v3"} {
		if st, b := do("PATCH", "/collections/tickets/t", key, `{"title": "`+title+`"}`); st != 200 {
			t.Fatalf("patch: %d %s", st, b)
		}
	}
	st, b := do("GET", "/collections/tickets/t/versions", key, "")
	var list struct {
		Data []map[string]any `json:"data"`
	}
	if st != 200 || json.Unmarshal(b, &list) != nil || len(list.Data) != 2 || list.Data[0]["version"] != float64(3) {
		t.Fatalf("versions (keep 2): %d %s", st, b)
	}
	if st, b := do("GET", "/audit?action=update", akey, ""); st != 200 {
		t.Fatalf("audit: %d %s", st, b)
	}
	mres, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(mres.Body)
	mres.Body.Close()
	if !strings.Contains(string(mb), "pm_audit_") {
		t.Errorf("no audit metrics on /metrics")
	}
	if !strings.Contains(logs.String(), "no TTL indexes") {
		t.Errorf("the FerretDB retention fallback is not logged:\n%s", logs.String())
	}

	// Shutdown: the writer is closed (flushing everything) before the
	// database connection goes.
	a.audit.close()
	n, err := a.driverDB(t).Collection(cfg.Audit.Collection).CountDocuments(context.Background(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	if n != 6 {
		t.Fatalf("%d audit entries, want 6", n)
	}
	res, err := audit.Verify(context.Background(), a.db.Collection(cfg.Audit.Collection), time.Time{}, time.Time{})
	if err != nil || !res.OK {
		t.Fatalf("verify: %+v %v", res, err)
	}
	if !strings.Contains(logs.String(), "audit closed") {
		t.Errorf("the chain head is not logged at close")
	}
}
