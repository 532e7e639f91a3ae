package app

import (
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/permission-mongo/permission-mongo/internal/policy"
)

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
