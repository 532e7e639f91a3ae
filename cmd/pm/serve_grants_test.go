package main

import (
	"strings"
	"testing"

	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

// pm serve wires /grants to a manager over the configured database, and the
// metrics registry it shares with the HTTP server: on a backend that cannot
// issue grants an allowed request answers 501 naming the missing capability,
// and /metrics still carries the Go collectors.
func TestServeWiresGrants(t *testing.T) {
	missing := testenv.Capabilities(t).GrantsMissing()
	if missing == "" {
		t.Skip("capabilities user_management and custom_roles present: this test covers backends that cannot issue grants")
	}
	pol := `
version: "1"
roles: {analyst: {}}
grants:
  analyst: {databases: [app], collections: [orders], actions: [find], max_ttl: 1h}
`
	ts := startTestServer(t, pol, testKey{"boot", "u1", "t1", []string{"analyst"}})
	key := ts.keys["boot"]

	st, _, out := call(t, "POST", ts.url+"/grants", key, `{"database":"app","collections":["orders"],"actions":["find"],"ttl":"1h"}`)
	e, _ := out["error"].(map[string]any)
	if d, _ := e["details"].(map[string]any); st != 501 || d["capability"] != missing {
		t.Fatalf("POST /grants without %s: %d %v", missing, st, out)
	}
	st, _, out = call(t, "GET", ts.url+"/metrics", "", "")
	if m, _ := out["raw"].(string); st != 200 || !strings.Contains(m, "go_goroutines") || !strings.Contains(m, "pm_http_requests_total") {
		t.Fatalf("/metrics: %d", st)
	}
}
