package app_test

import (
	"context"
	"strings"
	"testing"

	"github.com/permission-mongo/permission-mongo/internal/app"
	"github.com/permission-mongo/permission-mongo/internal/app/apptest"
	"github.com/permission-mongo/permission-mongo/internal/principal"
	"github.com/permission-mongo/permission-mongo/internal/store"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// policy: clerks create and read their tenant's tickets, nothing else.
const policy = `{version: "1", roles: {clerk: {}}, policies: {tickets: {clerk: {actions: [create, read], when: "resource.tenant_id == user.tenant_id"}}}}`

func get(t *testing.T, url, key string) (int, map[string]any) {
	t.Helper()
	st, _, out := apptest.Call(t, "GET", url, key, "")
	return st, out
}

// New alone gives a server that answers, with everything pm serve wires:
// the fleet's part of /readyz, the audit writer taking entries, the key
// store the options add, and the policy enforced.
func TestNewServesBeforeStart(t *testing.T) {
	s := apptest.Start(t, apptest.Config(t, apptest.WriteFile(t, "policy.yml", policy)), app.Options{})
	st, ready := get(t, s.URL+"/readyz", "")
	data, _ := ready["data"].(map[string]any)
	if st != 200 || data["redis"] != "not configured" || data["policy_hash"] == "" || data["policy_hash"] == nil {
		t.Fatalf("/readyz: %d %v", st, ready)
	}
	if s.AuditWriter() == nil {
		t.Fatal("no audit writer: pm serve always audits")
	}
	key := s.Keys.Add(principal.Principal{ID: "u1", TenantID: "t1", Roles: []string{"clerk"}}, nil)
	if st, out := get(t, s.URL+"/collections/tickets", key); st != 200 {
		t.Fatalf("list as clerk: %d %v", st, out)
	}
	if st, _ := get(t, s.URL+"/collections/other", key); st != 403 {
		t.Fatalf("a collection the policy does not name: %d, want 403", st)
	}
}

// NoAudit leaves the writer out; requests are still served.
func TestNoAuditServesWithoutWriter(t *testing.T) {
	s := apptest.Start(t, apptest.Config(t, apptest.WriteFile(t, "policy.yml", policy)), app.Options{NoAudit: true})
	if s.AuditWriter() != nil {
		t.Fatal("NoAudit built a writer")
	}
	if st, out := get(t, s.URL+"/readyz", ""); st != 200 {
		t.Fatalf("/readyz: %d %v", st, out)
	}
}

// A policy that does not load stops New with the file named, and what New
// had opened is let go (Close on a partial app does not panic).
func TestNewRefusesBadPolicy(t *testing.T) {
	_, db := testenv.Mongo(t)
	path := apptest.WriteFile(t, "policy.yml", "version: \"1\"\nno_such_section: 1\n")
	_, err := app.New(context.Background(), apptest.Config(t, path), app.Options{Database: store.NewDatabase(db)})
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("New with a broken policy: %v", err)
	}
}

// Start runs the loops and Close stops them: with Redis configured the
// health probe finds it up once started (polled: a loaded machine may miss
// the first probe's timeout), and Close returns.
func TestStartAndClose(t *testing.T) {
	cfg := apptest.Config(t, apptest.WriteFile(t, "policy.yml", policy))
	cfg.Redis.Addr = testenv.Redis(t)
	_, db := testenv.Mongo(t)
	a, err := app.New(context.Background(), cfg, app.Options{Database: store.NewDatabase(db)})
	if err != nil {
		t.Fatal(err)
	}
	if a.RedisUp() {
		t.Fatal("Redis reported up before Start probed it")
	}
	a.Start(context.Background())
	a.Start(context.Background()) // a second call does nothing
	testenv.WaitUntil(t, a.RedisUp, "Redis seen up after Start")
	a.Close()
}
