package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
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

	req, _ := http.NewRequest("POST", ts.url+"/collections/tickets", strings.NewReader(`{"title": "printer on fire"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 201 {
		t.Fatalf("create: %d %s", res.StatusCode, body)
	}
	var out struct {
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Data["tenant_id"] != "t1" {
		t.Fatalf("created %s", body)
	}
	res, err = http.Get(ts.url + "/readyz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", res, err)
	}
	res.Body.Close()
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
