package main

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/permission-mongo/permission-mongo/internal/policy"
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

// The URI handed out with a grant names the hosts of the proxy's MongoDB URI
// and never the proxy's own credentials, however they are spelt.
func TestURIHostsDropsCredentials(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for uri, want := range map[string]string{
		"mongodb://localhost:27017": "localhost:27017",
		"mongodb://proxy:s3cr%2Ft%40x@db1:27017,db2:27018/app?replicaSet=rs": "db1:27017,db2:27018",
		"mongodb://proxy:pw@[::1]:27017/?authSource=admin":                   "[::1]:27017",
		"mongodb://h": "h",
	} {
		got := uriHosts(uri, log)
		if got != want {
			t.Errorf("uriHosts(%q) = %q, want %q", uri, got, want)
		}
		if strings.Contains(got, "proxy") || strings.Contains(got, "pw") || strings.Contains(got, "s3cr") {
			t.Errorf("uriHosts(%q) leaks credentials: %q", uri, got)
		}
	}
	if got := uriHosts("not a uri", log); got != "" {
		t.Errorf("unparsable URI gave %q", got)
	}
}

func TestLiteralGrantDatabases(t *testing.T) {
	set, err := policy.Parse(map[string][]byte{"p.yml": []byte(`roles: {a: {}, b: {}}
grants:
  a: {databases: [app, "staging_*"], collections: ["*"], actions: [find], max_ttl: 1h}
  b: {databases: [app, reports], collections: ["*"], actions: [find], max_ttl: 1h}
`)})
	if err != nil {
		t.Fatal(err)
	}
	got := literalGrantDatabases(set)
	if len(got) != 2 || !(got[0] == "app" && got[1] == "reports" || got[0] == "reports" && got[1] == "app") {
		t.Fatalf("literal databases %v", got)
	}
}
