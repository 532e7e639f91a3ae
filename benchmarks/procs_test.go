package benchmarks

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/permission-mongo/permission-mongo/internal/app/apptest"
	"github.com/permission-mongo/permission-mongo/internal/store"
)

// The process harness (harness_bench_test.go) runs the proxy and the
// embedded backend as processes of their own, so that each one's CPU can be
// read from /proc apart from the load client's. This file starts them.

// envEmbeddedRole, set to a data directory, makes the test binary serve an
// embedded FerretDB there instead of running tests: the harness re-executes
// itself with it to get the backend into a separate process.
const envEmbeddedRole = "PM_BENCH_EMBEDDED_DIR"

// serveEmbedded is the whole life of the embedded-backend process: start
// FerretDB, print its URI on stdout, serve until stdin is closed (the
// harness closes it, or dies).
func serveEmbedded(dir string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	e, err := store.StartEmbedded(ctx, dir, nil)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "embedded backend:", err)
		return 1
	}
	fmt.Printf("uri %s\n", e.URI())
	_, _ = io.Copy(io.Discard, os.Stdin)
	e.Close()
	return 0
}

// process is a child of the harness.
type process struct {
	cmd    *exec.Cmd
	stdin  io.Closer
	stderr *lockedBuffer
	exited chan struct{}
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// stop closes stdin (the embedded backend's signal to stop), then sends
// SIGTERM (the proxy's), and kills what is left after a while.
func (p *process) stop() {
	if p.stdin != nil {
		_ = p.stdin.Close()
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// start runs cmd with stdin kept open and stderr captured; it is stopped
// when the benchmark ends.
func start(b *testing.B, cmd *exec.Cmd) *process {
	b.Helper()
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	p := &process{cmd: cmd, stdin: in, stderr: &lockedBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	b.Cleanup(p.stop)
	return p
}

// startEmbeddedBackend re-executes the test binary as an embedded FerretDB
// and returns the process and its URI.
func startEmbeddedBackend(b *testing.B) (*process, string) {
	b.Helper()
	return startChild(b, "embedded backend", envEmbeddedRole+"="+b.TempDir(), "uri ")
}

// startChild re-executes the test binary with env added (the role it is to
// play) and returns the process and the rest of the first line of its
// stdout that starts with prefix (where it listens).
func startChild(b *testing.B, what, env, prefix string) (*process, string) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(childEnv(), env)
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	p := start(b, cmd)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), prefix); ok {
				select {
				case found <- rest:
				default:
				}
			}
		}
	}()
	select {
	case rest := <-found:
		return p, rest
	case <-p.exited:
		b.Fatalf("%s exited: %s", what, p.stderr)
	case <-time.After(90 * time.Second):
		b.Fatalf("%s did not start: %s", what, p.stderr)
	}
	return nil, ""
}

// startProxyProcess writes a configuration for `pm serve` (policy file,
// one API key, the given backend and database, default audit) and starts
// it; it returns when /readyz answers.
//
// uri "embedded" runs FerretDB inside the proxy, as `make run` does, on
// SQLite files in a directory of the run; the third result is then its
// mongodb:// URI, read from the proxy's log, for the direct side.
func startProxyProcess(b *testing.B, uri, database, policyYAML string, key apiKey) (*process, string, string) {
	b.Helper()
	bin := apptest.BuildPM(b)
	dir := b.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "policies"), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "policies", "bench.yml"), []byte(policyYAML), 0o644); err != nil {
		b.Fatal(err)
	}
	addr := freeAddr(b)
	logLevel, embeddedDir := "warn", ""
	if uri == "embedded" {
		// The start-up line naming the embedded server's URI is at info;
		// requests are not logged at that level.
		logLevel, embeddedDir = "info", filepath.Join(dir, "data")
	}
	cfg := fmt.Sprintf(`listen: %s
mongodb: {uri: %q, database: %s, embedded_dir: %q}
policies: ./policies
auth:
  api_keys:
    - name: bench
      key_id: %s
      key_sha256: %s
      principal: {id: u1, tenant_id: t1, roles: [%s]}
cursor_secret: %q
log: {level: %s}
# The embedded backend scans for most queries: at 100,000 documents one
# takes seconds on a loaded machine.
limits: {query_timeout: 300s}
`, addr, uri, database, embeddedDir, key.id, key.hash, key.role, strings.Repeat("c", 40), logLevel)
	cfgPath := filepath.Join(dir, "pm.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--config", cfgPath)
	cmd.Env = childEnv()
	if dir := os.Getenv("PM_BENCH_PROFILE"); dir != "" {
		// One CPU profile per proxy started, named after the benchmark.
		name := strings.NewReplacer("/", "_", " ", "_", ",", "").Replace(b.Name())
		cmd.Env = append(cmd.Env, "PM_CPU_PROFILE="+filepath.Join(dir, name+".pprof"))
	}
	cmd.Stdout = io.Discard
	p := start(b, cmd)
	base := "http://" + addr
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if uri != "embedded" {
					return p, base, ""
				}
				m := regexp.MustCompile(`uri=(mongodb://\S+)`).FindStringSubmatch(p.stderr.String())
				if m == nil {
					b.Fatalf("pm serve did not log the embedded server's URI: %s", p.stderr)
				}
				return p, base, m[1]
			}
		}
		select {
		case <-p.exited:
			b.Fatalf("pm serve exited: %s", p.stderr)
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("pm serve not ready after 90 s: %v %s", err, p.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// childEnv is this process's environment without PM_ variables, which
// would override the configuration file of the proxy.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PM_") {
			env = append(env, kv)
		}
	}
	return env
}

func freeAddr(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// clockTick is USER_HZ, the unit of the CPU times in /proc/<pid>/stat; 100
// on every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// procCPU is the user+system CPU time process pid has used so far.
func procCPU(pid int) (time.Duration, error) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: count from its ")".
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc stat format")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, errors.New("unexpected /proc stat format")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("unexpected /proc stat format")
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// selfCPU is this process's CPU time, at microsecond resolution.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procMemory returns the resident set size and its peak (VmRSS, VmHWM) of
// process pid in bytes.
func procMemory(pid int) (rss, peak int64) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			rss = n << 10
		case "VmHWM":
			peak = n << 10
		}
	}
	return rss, peak
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) < 1<<16 {
		l.buf = append(l.buf, p...)
	}
	return len(p), nil
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.buf)
}
