package main

import (
	"bytes"
	"path/filepath"
	"testing"
)

// TestServeWiring starts the whole proxy the way `pm serve` does, from a
// config file with a bootstrap API key, on its own embedded database, and
// talks to it over HTTP.
func TestServeWiring(t *testing.T) {
	pol := `
version: "1"
roles: {clerk: {}}
policies:
  tickets:
    clerk:
      actions: [create, read]
      when: "resource.tenant_id == user.tenant_id"
    presets: {tenant_id: user.tenant_id}
`
	ts := startTestServer(t, pol, testKey{"boot", "u1", "t1", []string{"clerk"}})
	key := ts.keys["boot"]

	st, _, out := call(t, "POST", ts.url+"/collections/tickets", "Bearer "+key, `{"title": "printer on fire"}`)
	if d, _ := out["data"].(map[string]any); st != 201 || d["tenant_id"] != "t1" {
		t.Fatalf("create: %d %v", st, out)
	}
	if st, _, out := call(t, "GET", ts.url+"/readyz", "", ""); st != 200 {
		t.Fatalf("readyz: %d %v", st, out)
	}
}

func TestServeBadConfig(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"serve", "--config", filepath.Join(t.TempDir(), "missing.yml")}, &out, &errb); code != exitFail {
		t.Fatalf("exit %d, stderr %s", code, errb.String())
	}
	if code := run([]string{"serve", "extra"}, &out, &errb); code != exitUsage {
		t.Fatalf("exit %d for a stray argument", code)
	}
	if code := run([]string{"dev", "-h"}, &out, &errb); code != exitOK {
		t.Fatalf("dev -h exit %d", code)
	}
}
