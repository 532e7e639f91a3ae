package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/permission-mongo/permission-mongo/internal/app"
	"github.com/permission-mongo/permission-mongo/internal/app/apptest"
	"github.com/permission-mongo/permission-mongo/internal/config"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

// proc is one `pm serve` process.
type proc struct {
	name string
	url  string
	cmd  *exec.Cmd
	out  *strings.Builder
	mu   *sync.Mutex
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// startProc runs `pm serve --config` of the setup on a free port and waits
// until it is ready.
func (f *fleetSetup) startProc(t *testing.T, name string) *proc {
	t.Helper()
	bin := apptest.BuildPM(t)
	port := freeTCPPort(t)
	p := &proc{name: name, url: "http://127.0.0.1:" + strconv.Itoa(port), out: &strings.Builder{}, mu: &sync.Mutex{}}
	p.cmd = exec.Command(bin, "serve", "--config", f.config)
	p.cmd.Env = append(os.Environ(), "PM_LISTEN=127.0.0.1:"+strconv.Itoa(port))
	p.cmd.Stdout, p.cmd.Stderr = lockedWriter{p.mu, p.out}, lockedWriter{p.mu, p.out}
	require.NoError(t, p.cmd.Start())
	exited := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.output())
		}
	})
	deadline := time.Now().Add(90 * time.Second)
	for {
		res, err := http.Get(p.url + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return p
			}
		}
		select {
		case <-exited:
			t.Fatalf("%s exited at start:\n%s", name, p.output())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready:\n%s", name, p.output())
		}
	}
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

func readyInfo(t *testing.T, p *proc) map[string]any {
	t.Helper()
	st, _, body := call(t, "GET", p.url+"/readyz", "", "")
	if st != 200 {
		return map[string]any{"status": st}
	}
	return body["data"].(map[string]any)
}

const fleetLimits = `rate_limits:
  - {name: shared-aggregates, by: principal, applies_to: [aggregate], limit: 10, per: 1h, burst: 20}
`

// TestFleetOfThreeProxies runs three `pm serve` processes on one MongoDB
// database, one cursor secret and one redis-server, and checks that they
// behave as one proxy.
func TestFleetOfThreeProxies(t *testing.T) {
	srv := testenv.NewRedisServer(t)
	fs := newFleetSetup(t, fleetPolicy, fleetLimits+`redis: {addr: "`+srv.Addr+`"}`,
		testKey{"admin", "boss", "t1", []string{"admin", "clerk"}},
		testKey{"clerk", "u1", "t1", []string{"clerk"}})
	// The longest cache the configuration allows: a refusal sooner than this
	// can only come from the revocation message.
	rewrite(t, fs.config, "key_cache_ttl: 10s", "key_cache_ttl: 30s")
	procs := []*proc{fs.startProc(t, "A"), fs.startProc(t, "B"), fs.startProc(t, "C")}
	a, b, c := procs[0], procs[1], procs[2]
	admin, clerk := fs.keys["admin"], fs.keys["clerk"]

	t.Run("a limit holds across the three", func(t *testing.T) {
		// 1 + burst at once, then one per 6 minutes: whatever the pace of the
		// machine, the three together allow 21 (22 if a refill lands).
		var allowed, refused, other atomic.Int64
		var wg sync.WaitGroup
		for i, p := range procs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 20 {
					st, h, body := call(t, "POST", p.url+"/collections/tickets/aggregate", clerk, `{"pipeline": [{"$match": {}}]}`)
					switch st {
					case 200:
						allowed.Add(1)
					case 429:
						refused.Add(1)
						if h.Get("Retry-After") == "" {
							t.Errorf("proxy %d: 429 without Retry-After", i)
						}
					default:
						other.Add(1)
						t.Errorf("proxy %d: %d %v", i, st, body)
					}
				}
			}()
		}
		wg.Wait()
		t.Logf("limit 10/h burst 20 across 3 proxies, 60 requests: %d allowed, %d refused (bound limit+burst = 30, idle capacity 21)", allowed.Load(), refused.Load())
		require.Zero(t, other.Load())
		require.LessOrEqual(t, allowed.Load(), int64(30), "three proxies must not allow more than one")
		require.GreaterOrEqual(t, allowed.Load(), int64(21), "nor much less")
	})

	t.Run("a key revoked on one is refused by the others", func(t *testing.T) {
		id, key := createKey(t, a, admin)
		for _, p := range []*proc{b, c} {
			st, _, body := call(t, "GET", p.url+"/collections/tickets", key, "")
			require.Equal(t, 200, st, "%s: %v", p.name, body) // now cached there
		}
		st, _, body := call(t, "DELETE", a.url+"/admin/api-keys/"+id, admin, "")
		require.Equal(t, 200, st, "%v", body)
		start := time.Now() // the revocation is answered: from here it must hold everywhere
		took := map[string]time.Duration{}
		for _, p := range []*proc{b, c} {
			waitUntil(t, func() bool {
				st, _, _ := call(t, "GET", p.url+"/collections/tickets", key, "")
				return st == 401
			}, p.name+" refusing the revoked key")
			took[p.name] = time.Since(start)
		}
		t.Logf("revocation on A refused by B after %v, by C after %v (key cache TTL 30s)", took["B"], took["C"])
		for name, d := range took {
			require.Less(t, d, 30*time.Second, "%s refused only when its cache expired: the message did not arrive", name)
		}
	})

	t.Run("a cursor from one pages on another", func(t *testing.T) {
		for i := range 5 {
			st, _, body := call(t, "POST", procs[i%3].url+"/collections/tickets", clerk, fmt.Sprintf(`{"n": %d}`, i))
			require.Equal(t, 201, st, "%v", body)
		}
		seen := map[string]bool{}
		url := a.url + "/collections/tickets?limit=2&sort=n"
		for page := 0; url != ""; page++ {
			st, _, body := call(t, "GET", url, clerk, "")
			require.Equal(t, 200, st, "page %d: %v", page, body)
			for _, d := range body["data"].([]any) {
				id := fmt.Sprint(d.(map[string]any)["_id"])
				require.False(t, seen[id], "document %s twice", id)
				seen[id] = true
			}
			cur, _ := body["pagination"].(map[string]any)["cursor"].(string)
			url = ""
			if cur != "" {
				url = procs[(page+1)%3].url + "/collections/tickets?limit=2&sort=n&cursor=" + cur
			}
		}
		require.GreaterOrEqual(t, len(seen), 5)
	})

	t.Run("a policy reload on one reloads all; a bad one is refused everywhere", func(t *testing.T) {
		before := readyInfo(t, a)["policy_hash"]
		for _, p := range procs {
			require.Equal(t, before, readyInfo(t, p)["policy_hash"], "%s starts on the same policy", p.name)
		}
		pol := filepath.Join(fs.dir, "policy.yml")
		good, err := os.ReadFile(pol)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(pol, append(good, []byte("# revised\n")...), 0o600))
		st, _, body := call(t, "POST", a.url+"/admin/policies/reload", admin, "")
		require.Equal(t, 200, st, "%v", body)
		after := body["data"].(map[string]any)["policy_hash"]
		require.NotEqual(t, before, after)
		for _, p := range procs {
			waitUntil(t, func() bool { return readyInfo(t, p)["policy_hash"] == after }, p.name+" on the new policy")
		}

		st, _, body = call(t, "POST", a.url+"/admin/policies/reload", clerk, "")
		require.Equal(t, 403, st, "a clerk may not reload: %v", body)

		require.NoError(t, os.WriteFile(pol, []byte("version: \"1\"\nroles: {clerk: {inherits: [ghost]}}\npolicies: {nope: 1}\n"), 0o600))
		st, _, body = call(t, "POST", a.url+"/admin/policies/reload", admin, "")
		require.Equal(t, 422, st, "%v", body)
		// SIGHUP on B with the bad file: refused there too.
		require.NoError(t, b.cmd.Process.Signal(syscall.SIGHUP))
		waitUntil(t, func() bool { return strings.Contains(b.output(), "policy reload refused") }, "B refusing the bad policy")
		for _, p := range procs {
			require.Equal(t, after, readyInfo(t, p)["policy_hash"], "%s keeps the running policy", p.name)
		}
		st, _, _ = call(t, "GET", c.url+"/collections/tickets", clerk, "")
		require.Equal(t, 200, st, "the old policy still serves")

		// SIGHUP on C with a good file reloads all three.
		require.NoError(t, os.WriteFile(pol, good, 0o600))
		require.NoError(t, c.cmd.Process.Signal(syscall.SIGHUP))
		for _, p := range procs {
			waitUntil(t, func() bool { return readyInfo(t, p)["policy_hash"] == before }, p.name+" back on the first policy")
		}
	})

	t.Run("redis killed under load", func(t *testing.T) {
		var stop atomic.Bool
		var sent atomic.Int64
		var codes sync.Map // status -> count
		var wg sync.WaitGroup
		for _, p := range procs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stop.Load() {
					for _, r := range []struct{ method, path, body string }{
						{"GET", "/collections/tickets", ""},
						{"POST", "/collections/tickets/aggregate", `{"pipeline": [{"$match": {}}]}`},
					} {
						st, _, body := call(t, r.method, p.url+r.path, clerk, r.body)
						sent.Add(1)
						n, _ := codes.LoadOrStore(st, new(atomic.Int64))
						n.(*atomic.Int64).Add(1)
						if st >= 500 && !mongoSideUnavailable(st, body) {
							t.Errorf("%s %s on %s: %d %v", r.method, r.path, p.name, st, body)
						}
					}
				}
			}()
		}
		waitUntil(t, func() bool { return sent.Load() >= 30 }, "load before the crash")
		srv.Stop()
		for _, p := range procs {
			waitUntil(t, func() bool { return readyInfo(t, p)["redis"] == "down" }, p.name+" noticing redis down")
		}
		during := sent.Load()
		waitUntil(t, func() bool { return sent.Load() >= during+60 }, "load while redis is down")
		// The local fallback counts per process: the idle capacity again,
		// now in each.
		st, h, body := call(t, "POST", b.url+"/collections/tickets/aggregate", fs.keys["admin"], `{"pipeline": [{"$match": {}}]}`)
		require.Equal(t, 200, st, "%v", body)
		require.Equal(t, "20", h.Get("X-RateLimit-Remaining"), "a fresh in-process counter")

		srv.Start()
		for _, p := range procs {
			waitUntil(t, func() bool { return readyInfo(t, p)["redis"] == "up" }, p.name+" seeing redis back")
		}
		after := sent.Load()
		waitUntil(t, func() bool { return sent.Load() >= after+30 }, "load after recovery")
		stop.Store(true)
		wg.Wait()
		summary := []string{}
		codes.Range(func(k, v any) bool {
			summary = append(summary, fmt.Sprintf("%v×%d", k, v.(*atomic.Int64).Load()))
			return true
		})
		t.Logf("answers during the outage: %s", strings.Join(summary, " "))

		// After recovery the subscription is back: revocations propagate again.
		id, key := createKey(t, b, admin)
		st, _, _ = call(t, "GET", c.url+"/collections/tickets", key, "")
		require.Equal(t, 200, st)
		st, _, _ = call(t, "DELETE", b.url+"/admin/api-keys/"+id, admin, "")
		require.Equal(t, 200, st)
		start := time.Now()
		waitUntil(t, func() bool {
			st, _, _ := call(t, "GET", c.url+"/collections/tickets", key, "")
			return st == 401
		}, "C refusing the revoked key after recovery")
		d := time.Since(start)
		t.Logf("after recovery, revocation on B refused by C after %v", d)
		require.Less(t, d, 30*time.Second)
	})

	t.Run("audit chains of the three verify together", func(t *testing.T) {
		auditChainsVerify(t, fs, c, 3)
	})
}

// auditChainsVerify checks that the entries of every proxy's chain are
// stored and that the chains verify together.
func auditChainsVerify(t *testing.T, fs *fleetSetup, p *proc, writers int) {
	t.Helper()
	var res map[string]any
	waitUntil(t, func() bool {
		n, err := fs.db.Collection("pm_audit").Distinct(t.Context(), "writer", bson.D{}).Raw()
		if err != nil {
			return false
		}
		vals, _ := n.Values()
		if len(vals) < writers {
			return false
		}
		st, _, body := call(t, "GET", p.url+"/audit/verify", fs.keys["admin"], "")
		if st != 200 {
			t.Fatalf("audit verify: %d %v", st, body)
		}
		res = body["data"].(map[string]any)
		return true
	}, "entries from every proxy")
	require.Equal(t, true, res["ok"], "%v", res)
	t.Logf("audit: %v entries from %d+ chains verify together", res["checked"], writers)
}

// mongoSideUnavailable recognises the 503 a proxy answers when MongoDB (the
// shared test engine, loaded by other jobs) does not answer in time. The
// Redis fault test is about Redis: that 503 is reported, not failed on; a
// 500, or a 503 that names Redis or a rate limit, fails it.
func mongoSideUnavailable(st int, body map[string]any) bool {
	if st != 503 {
		return false
	}
	msg := strings.ToLower(fmt.Sprint(body["error"]))
	return !strings.Contains(msg, "redis") && !strings.Contains(msg, "rate limit") &&
		(strings.Contains(msg, "database") || strings.Contains(msg, "audit"))
}

func createKey(t *testing.T, p *proc, admin string) (id, key string) {
	t.Helper()
	st, _, body := call(t, "POST", p.url+"/admin/api-keys", admin,
		`{"name": "temp", "principal": {"id": "temp-user", "tenant_id": "t1", "roles": ["clerk"]}}`)
	require.Equal(t, 201, st, "%v", body)
	d := body["data"].(map[string]any)
	return d["id"].(string), d["key"].(string)
}

func rewrite(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Contains(t, string(b), old)
	require.NoError(t, os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o600))
}

// fleetPolicy lets clerks read and write their tenant's tickets and admins
// manage keys and reload policies.
const fleetPolicy = `
version: "1"
roles: {clerk: {}, admin: {}}
policies:
  tickets:
    clerk:
      actions: [create, read, update, delete, aggregate]
      when: "resource.tenant_id == user.tenant_id"
    presets: {tenant_id: user.tenant_id}
system:
  api_keys.manage: [admin]
  policies.reload: [admin]
  audit.read: [admin]
`

// fleetSetup is one deployment's shared files: the config every proxy of
// the test reads (same database, cursor secret, Redis, keys) and the policy.
type fleetSetup struct {
	dir    string
	config string // path
	keys   map[string]string
	db     *mongo.Database
}

// newFleetSetup writes a config on the test's MongoDB server and a fresh
// database, and the policy (fleetPolicy unless the test has its own). extra
// is YAML appended at the top level (redis, rate_limits).
func newFleetSetup(t *testing.T, policy, extra string, keys ...testKey) *fleetSetup {
	t.Helper()
	uri := testenv.MongoURI(t)
	_, db := testenv.Mongo(t)
	dir := t.TempDir()
	writeTestFile(t, dir, "policy.yml", policy)
	head := "listen: 127.0.0.1:0\npolicies: policy.yml\n" +
		"mongodb: {uri: \"" + uri + "\", database: " + db.Name() + "}\n" + testCursorSecret +
		"log: {level: warn}\n" + extra + "\n"
	_, full := loadTestConfig(t, dir, head, "  key_cache_ttl: 10s\n", keys)
	path := filepath.Join(dir, "config.yml")
	return &fleetSetup{dir: dir, config: path, keys: full, db: db}
}

// startInProcess runs one proxy of the setup in the test process.
func (f *fleetSetup) startInProcess(t *testing.T) (url string, a *app.App) {
	t.Helper()
	c, err := config.Load(f.config)
	if err != nil {
		t.Fatal(err)
	}
	a, url = serveApp(t, c, app.Options{})
	return url, a
}

// hierFleetPolicy: staff read themselves and their subordinates; hr manage
// people. The cache lasts an hour, so a proxy that sees a change sooner
// learnt it from an announcement, not from its cache ending.
const hierFleetPolicy = `
version: "1"
roles: {staff: {}, hr: {}}
policies:
  people:
    staff:
      actions: [read]
      when: "resource.user_id == user.id || resource.user_id in user.$subordinates"
    hr:
      actions: [create, read, update]
hierarchy:
  collection: people
  id_field: user_id
  manager_field: manager_id
  cache_ttl: 1h
`

// hierFleet starts two in-process proxies A and B on one database; extra
// is the configuration's redis section, if any.
func hierFleet(t *testing.T, extra string) (a, b string, boss, hr string) {
	t.Helper()
	fs := newFleetSetup(t, hierFleetPolicy, extra,
		testKey{"boss", "boss", "t1", []string{"staff"}},
		testKey{"hr", "hr", "t1", []string{"hr"}})
	a, appA := fs.startInProcess(t)
	b, appB := fs.startInProcess(t)
	if extra != "" {
		for _, x := range []*app.App{appA, appB} {
			select {
			case <-x.Subscribed():
			case <-time.After(2 * time.Minute):
				t.Fatal("a proxy never subscribed to redis")
			}
		}
	}
	boss, hr = fs.keys["boss"], fs.keys["hr"]
	for _, p := range []string{
		`{"_id": "boss", "user_id": "boss"}`,
		`{"_id": "e1", "user_id": "e1", "manager_id": "boss"}`,
		`{"_id": "e2", "user_id": "e2", "manager_id": "someone-else"}`,
	} {
		st, _, body := call(t, "POST", a+"/collections/people", hr, p)
		require.Equal(t, 201, st, "%v", body)
	}
	return a, b, boss, hr
}

// visiblePeople is the user_ids the key reads through the proxy at url.
func visiblePeople(t *testing.T, url, key string) []string {
	t.Helper()
	st, _, body := call(t, "GET", url+"/collections/people?limit=100", key, "")
	require.Equal(t, 200, st, "%v", body)
	var ids []string
	for _, d := range body["data"].([]any) {
		ids = append(ids, d.(map[string]any)["user_id"].(string))
	}
	slices.Sort(ids)
	return ids
}

// TestHierarchyChangeReachesEveryProxyThroughRedis: a manager change made
// through proxy A drops the cached $subordinates of proxy B, through Redis,
// long before the hierarchy's cache_ttl.
func TestHierarchyChangeReachesEveryProxyThroughRedis(t *testing.T) {
	a, b, boss, hr := hierFleet(t, `redis: {addr: "`+testenv.Redis(t)+`"}`)
	// B resolves and caches boss's subordinates.
	require.Equal(t, []string{"boss", "e1"}, visiblePeople(t, b, boss))

	changed := time.Now()
	st, _, body := call(t, "PATCH", a+"/collections/people/e2", hr, `{"$set": {"manager_id": "boss"}}`)
	require.Equal(t, 200, st, "%v", body)
	waitUntil(t, func() bool { return slices.Contains(visiblePeople(t, b, boss), "e2") }, "B seeing e2 among boss's subordinates")
	took := time.Since(changed)
	// One read costs this much (the caller's walk is cached again now): the
	// figure above is this plus the announcement.
	readStart := time.Now()
	visiblePeople(t, b, boss)
	t.Logf("hierarchy change on A reached B after %v (cache_ttl 1h; one read takes %v)", took, time.Since(readStart))

	// And back: a change through B reaches A, whose cache is warm too.
	require.Equal(t, []string{"boss", "e1", "e2"}, visiblePeople(t, a, boss))
	changed = time.Now()
	st, _, body = call(t, "PATCH", b+"/collections/people/e1", hr, `{"$set": {"manager_id": "someone-else"}}`)
	require.Equal(t, 200, st, "%v", body)
	waitUntil(t, func() bool { return !slices.Contains(visiblePeople(t, a, boss), "e1") }, "A no longer seeing e1")
	t.Logf("hierarchy change on B reached A after %v", time.Since(changed))
}

// TestHierarchyChangeWithoutRedisStaysLocal: without Redis the proxy that
// made the change drops its cache at once and the other keeps its values
// (until cache_ttl): the cache is real, so the Redis test above measures
// the announcement and not a cache that is never used.
func TestHierarchyChangeWithoutRedisStaysLocal(t *testing.T) {
	a, b, boss, hr := hierFleet(t, "")
	require.Equal(t, []string{"boss", "e1"}, visiblePeople(t, a, boss))
	require.Equal(t, []string{"boss", "e1"}, visiblePeople(t, b, boss))
	st, _, body := call(t, "PATCH", a+"/collections/people/e2", hr, `{"$set": {"manager_id": "boss"}}`)
	require.Equal(t, 200, st, "%v", body)
	require.Equal(t, []string{"boss", "e1", "e2"}, visiblePeople(t, a, boss), "the writing proxy sees the change at once")
	require.Equal(t, []string{"boss", "e1"}, visiblePeople(t, b, boss), "the other proxy answers from its cache")
}
