package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/permission-mongo/permission-mongo/internal/app/apptest"
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

// TestServeCPUProfile: with PM_CPU_PROFILE, `pm serve` (a real process)
// writes a CPU profile, a gzip-compressed protobuf, when SIGTERM stops it;
// a path it cannot create stops it at start, naming the variable.
func TestServeCPUProfile(t *testing.T) {
	f := newFleetSetup(t, fleetPolicy, "", testKey{"boot", "u1", "t1", []string{"clerk"}})

	// A process, so that a proxy that ignores the variable and serves is
	// stopped by the deadline instead of hanging the test.
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, apptest.BuildPM(t), "serve", "--config", f.config)
	cmd.Env = append(os.Environ(), "PM_CPU_PROFILE="+filepath.Join(t.TempDir(), "missing", "cpu.pprof"))
	out, err := cmd.CombinedOutput()
	if err == nil || ctx.Err() != nil || !strings.Contains(string(out), "PM_CPU_PROFILE") {
		t.Fatalf("unwritable profile path: %v (deadline: %v), output %s", err, ctx.Err(), out)
	}

	path := filepath.Join(t.TempDir(), "cpu.pprof")
	t.Setenv("PM_CPU_PROFILE", path)
	p := f.startProc(t, "profiled")
	if st, _, body := call(t, "GET", p.url+"/collections/tickets", "Bearer "+f.keys["boot"], ""); st != 200 {
		t.Fatalf("list: %d %v", st, body)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the profile file is created at start: %v", err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Complete once the whole gzip stream is there, which StopCPUProfile
	// writes on the way out.
	waitUntil(t, func() bool {
		file, err := os.Open(path)
		if err != nil {
			return false
		}
		defer func() { _ = file.Close() }()
		z, err := gzip.NewReader(file)
		if err != nil {
			return false
		}
		n, err := io.Copy(io.Discard, io.LimitReader(z, 64<<20))
		return err == nil && n > 0
	}, "a complete profile after SIGTERM")
}
