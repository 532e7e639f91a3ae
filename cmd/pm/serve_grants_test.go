package main

import (
	"io"
	"net/http"
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

	req, _ := http.NewRequest("POST", ts.url+"/grants", strings.NewReader(`{"database":"app","collections":["orders"],"actions":["find"],"ttl":"1h"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 501 || !strings.Contains(string(body), `"capability":"`+missing+`"`) {
		t.Fatalf("POST /grants without %s: %d %s", missing, res.StatusCode, body)
	}
	res, err = http.Get(ts.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), "go_goroutines") || !strings.Contains(string(body), "pm_http_requests_total") {
		t.Fatalf("/metrics: %d", res.StatusCode)
	}
}
