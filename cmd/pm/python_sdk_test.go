package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// pythonSDKPolicy is the policy the Python SDK's integration tests
// (sdk/python/tests) are written against.
const pythonSDKPolicy = `
version: "1"
roles: {member: {}}
policies:
  notes:
    member:
      actions: [create, read, update, delete, aggregate]
      when: "resource.tenant_id == user.tenant_id"
      fields: {deny_write: [locked]}
    presets: {tenant_id: user.tenant_id}
`

// TestPythonSDK starts the proxy the way `pm serve` does (config file,
// embedded backend, two bootstrap API keys for two tenants) and runs the
// Python SDK's unittest suite against it. python3 is required: CI installs
// it (.ci/run), so a missing interpreter fails rather than skips.
func TestPythonSDK(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 is not on PATH: the Python SDK tests (sdk/python/tests) need it; install it (apt-get install python3): %v", err)
	}
	testsDir, err := filepath.Abs(filepath.Join("..", "..", "sdk", "python", "tests"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(testsDir, "test_client.py")); err != nil {
		t.Fatalf("Python SDK tests not found: %v", err)
	}

	ts := startTestServer(t, pythonSDKPolicy,
		testKey{"tenant-a", "ua", "ta", []string{"member"}},
		testKey{"tenant-b", "ub", "tb", []string{"member"}})
	keyA, keyB := ts.keys["tenant-a"], ts.keys["tenant-b"]

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "-m", "unittest", "discover", "-s", testsDir, "-t", filepath.Dir(testsDir), "-v")
	cmd.Dir = filepath.Dir(testsDir)
	cmd.Env = append(os.Environ(),
		"PM_SDK_TEST_URL="+ts.url,
		"PM_SDK_TEST_KEY_A="+keyA,
		"PM_SDK_TEST_KEY_B="+keyB,
		"PM_SDK_TEST_TENANT_A=ta",
		"PM_SDK_TEST_TENANT_B=tb",
		"PM_SDK_TEST_REQUIRED=1",
		"NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost", // never via an HTTP proxy
		"PYTHONDONTWRITEBYTECODE=1",
		"PYTHONUNBUFFERED=1",
	)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("Python SDK tests timed out:\n%s", out.String())
	}
	if err != nil {
		t.Fatalf("Python SDK tests failed (%v):\n%s", err, out.String())
	}
	// Integration tests skip without a server; here they must all run.
	if m := regexp.MustCompile(`skipped=\d+`).FindString(out.String()); m != "" {
		t.Fatalf("Python SDK tests were skipped (%s):\n%s", m, out.String())
	}
	t.Logf("Python SDK tests:\n%s", out.String())
}
