package main

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/app"
	"github.com/permission-mongo/permission-mongo/internal/app/apptest"
	"github.com/permission-mongo/permission-mongo/internal/audit"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

// TestServeAuditAndVersionsWiring: pm serve's wiring creates the audit
// writer (retention as a periodic delete on FerretDB, said in the log), the
// versions store with keep, and App.Close flushes every entry.
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
	writeTestFile(t, dir, "policy.yml", pol)
	head := "listen: 127.0.0.1:0\npolicies: policy.yml\nmongodb: {uri: embedded, embedded_dir: data, database: app}\n" + testCursorSecret +
		"audit: {retention: 720h, spill_path: audit.spill}\nversions: {collections: [tickets], keep: 2}\n"
	cfg, keys := loadTestConfig(t, dir, head, "", []testKey{{"boot", "u1", "t1", []string{"clerk"}}, {"aud", "a1", "t1", []string{"auditor"}}})
	key, akey := keys["boot"], keys["aud"]
	if cfg.Audit.SpillPath != filepath.Join(dir, "audit.spill") {
		t.Fatalf("spill_path not relative to the config file: %s", cfg.Audit.SpillPath)
	}
	var logs testenv.SyncBuffer
	a, url := serveApp(t, cfg, app.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})

	do := func(method, path, k, body string) (int, map[string]any) {
		st, _, m := call(t, method, url+path, k, body)
		return st, m
	}
	if st, b := do("POST", "/collections/tickets", key, `{"_id": "t", "title": "v0"}`); st != 201 {
		t.Fatalf("create: %d %v", st, b)
	}
	for _, title := range []string{"v1", "v2", "v3"} {
		if st, b := do("PATCH", "/collections/tickets/t", key, `{"title": "`+title+`"}`); st != 200 {
			t.Fatalf("patch: %d %v", st, b)
		}
	}
	st, b := do("GET", "/collections/tickets/t/versions", key, "")
	if list, _ := b["data"].([]any); st != 200 || len(list) != 2 || list[0].(map[string]any)["version"] != float64(3) {
		t.Fatalf("versions (keep 2): %d %v", st, b)
	}
	if st, b := do("GET", "/audit?action=update", akey, ""); st != 200 {
		t.Fatalf("audit: %d %v", st, b)
	}
	if _, _, m := call(t, "GET", url+"/metrics", "", ""); !strings.Contains(m["raw"].(string), "pm_audit_") {
		t.Errorf("no audit metrics on /metrics")
	}
	if !strings.Contains(logs.String(), "no TTL indexes") {
		t.Errorf("the FerretDB retention fallback is not logged:\n%s", logs.String())
	}

	// Shutdown: the writer is closed (flushing everything) before the
	// database connection goes.
	a.CloseAudit()
	n, err := apptest.DriverDB(t, a).Collection(cfg.Audit.Collection).CountDocuments(t.Context(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	if n != 6 {
		t.Fatalf("%d audit entries, want 6", n)
	}
	res, err := audit.Verify(t.Context(), a.Database().Collection(cfg.Audit.Collection), time.Time{}, time.Time{})
	if err != nil || !res.OK {
		t.Fatalf("verify: %+v %v", res, err)
	}
	if !strings.Contains(logs.String(), "audit closed") {
		t.Errorf("the chain head is not logged at close")
	}
}
