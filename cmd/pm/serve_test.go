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
	"testing"

	"github.com/permission-mongo/permission-mongo/internal/auth"
	"github.com/permission-mongo/permission-mongo/internal/config"
)

// TestServeWiring starts the whole proxy the way `pm serve` does, from a
// config file with a bootstrap API key, on its own embedded database, and
// talks to it over HTTP.
func TestServeWiring(t *testing.T) {
	dir := t.TempDir()
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
	if err := os.WriteFile(filepath.Join(dir, "policy.yml"), []byte(pol), 0o600); err != nil {
		t.Fatal(err)
	}
	id, key, hash := auth.GenerateKey()
	cfgText := `
listen: 127.0.0.1:0
policies: policy.yml
mongodb: {uri: embedded, embedded_dir: data, database: app}
cursor_secret: "` + strings.Repeat("c", 32) + `"
auth:
  api_keys:
    - {name: boot, key_id: ` + id + `, key_sha256: ` + hash + `, principal: {id: u1, tenant_id: t1, roles: [clerk]}}
`
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	a, err := startApp(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	srv := httptest.NewServer(a.handler)
	t.Cleanup(srv.Close)

	req, _ := http.NewRequest("POST", srv.URL+"/collections/tickets", strings.NewReader(`{"title": "printer on fire"}`))
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
	res, err = http.Get(srv.URL + "/readyz")
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
