package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// pythonWithHTTPX is the first python3 that can import httpx: the one on
// PATH, else the system's (Debian's python3-httpx installs into
// /usr/bin/python3's packages, which a pyenv or venv python3 does not see).
func pythonWithHTTPX(t *testing.T) string {
	t.Helper()
	var tried []string
	for _, name := range []string{"python3", "/usr/bin/python3"} {
		p, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		tried = append(tried, p)
		if exec.Command(p, "-c", "import httpx").Run() == nil {
			return p
		}
	}
	t.Fatalf("no python3 that can import httpx (tried %v): the Python SDK needs it; run `make deps` (apt-get install python3-httpx)", tried)
	return ""
}

// TestPythonSDK runs the Python SDK's whole suite (offline tests, sync and
// async integration tests) against a real proxy on the test engine. A
// missing interpreter or httpx fails rather than skips, and so does any
// skipped Python test.
func TestPythonSDK(t *testing.T) {
	python := pythonWithHTTPX(t)
	root := repoPath(t, "sdk", "python")
	s := startSDKServer(t)

	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "-m", "unittest", "discover", "-s", "tests", "-t", ".", "-v")
	cmd.Dir = root
	cmd.Env = append(os.Environ(),
		"PM_SDK_TEST_URL="+s.url,
		"PM_SDK_TEST_KEY_A="+s.keys["tenant-a"],
		"PM_SDK_TEST_KEY_B="+s.keys["tenant-b"],
		"PM_SDK_TEST_KEY_ADMIN="+s.keys["admin"],
		"PM_SDK_TEST_TENANT_A=ta",
		"PM_SDK_TEST_TENANT_B=tb",
		"PM_SDK_TEST_DATABASE="+s.database,
		"PM_SDK_TEST_GRANTS="+strconv.FormatBool(s.grants),
		"NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost", // never via an HTTP proxy
		"PYTHONDONTWRITEBYTECODE=1",
		"PYTHONUNBUFFERED=1",
	)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
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
