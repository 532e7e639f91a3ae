package benchmarks

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/permission-mongo/permission-mongo/internal/audit"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

const auditBenchPolicy = `roles: {writer: {}}
policies:
  items:
    writer:
      actions: [create, read]
      when: "resource.tenant_id == user.tenant_id"
    presets:
      tenant_id: user.tenant_id
`

type auditWriteFixture struct {
	srv   *httptest.Server
	key   string
	calls *http.Client
	w     *audit.Writer
	seq   atomic.Int64
}

// setupAuditWrites starts the proxy on a fresh database, with the audit writer
// (default options, entries in the same database) when audited.
func setupAuditWrites(b *testing.B, audited bool) *auditWriteFixture {
	b.Helper()
	_, db := testenv.Mongo(b)
	f := &auditWriteFixture{}
	f.calls = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	f.srv, f.key, f.w = startProxy(b, db, proxyOptions{policy: auditBenchPolicy, role: "writer", audited: audited})
	return f
}

// BenchmarkGetByIDAudit: GET /collections/employees/{id} from 8 concurrent
// clients (as wrk -c 8), the proxy without an audit writer and with the
// default one, in the same run. The ratio of on to off ops/s is the cost of
// auditing reads; "waits/op" is the share of requests that found the audit
// queue full and waited for room (back-pressure, not refusal: a refused
// request fails the benchmark).
//
// Off and on alternate, three times, so that a change in the machine's load
// (these machines are shared) hits both sides alike: compare each on with
// the off just before it.
func BenchmarkGetByIDAudit(b *testing.B) {
	for range 3 {
		for _, on := range []bool{false, true} {
			benchmarkGetByIDAudit(b, on)
		}
	}
}

func benchmarkGetByIDAudit(b *testing.B, on bool) {
	b.Helper()
	name := "audit_off"
	if on {
		name = "audit_on"
	}
	b.Run(name, func(b *testing.B) {
		f := setupAudited(b, on)
		f.calls = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
		var next atomic.Int64
		b.ReportAllocs()
		b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
		start := cpuTime()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := int(next.Add(1))
				f.get(b, "/collections/employees/"+f.ids[i%len(f.ids)])
			}
		})
		b.StopTimer()
		b.ReportMetric(float64((cpuTime()-start).Microseconds())/float64(b.N), "cpu-µs/op")
		if f.audit != nil {
			st := f.audit.Stats()
			b.ReportMetric(float64(st.Waited)/float64(b.N), "waits/op")
			// How well group commit fills batches: entries per insert.
			b.ReportMetric(float64(st.Written)/float64(max(1, st.Inserts)), "entries/insert")
		}
	})
}

func (f *auditWriteFixture) create(b *testing.B) {
	b.Helper()
	n := f.seq.Add(1)
	body := fmt.Sprintf(`{"name":"item %d","qty":%d,"tags":["a","b"]}`, n, n%100)
	call(b, f.calls, http.MethodPost, f.srv.URL+"/collections/items", f.key, "application/json", strings.NewReader(body), 201)
}

// BenchmarkCreateAudit: POST /collections/items with the audit writer off
// and on, in the same run, one client ("seq") and 8 concurrent clients per
// CPU ("par"). The ratio of on to off ops/s is the cost of auditing; the
// writer's flush (batched InsertMany) runs in the background, so it shows in
// the figures only as the backend's extra work.
func BenchmarkCreateAudit(b *testing.B) {
	for _, mode := range []string{"seq", "par"} {
		for _, on := range []bool{false, true} {
			name := mode + "/audit_off"
			if on {
				name = mode + "/audit_on"
			}
			b.Run(name, func(b *testing.B) {
				f := setupAuditWrites(b, on)
				if mode == "seq" {
					run(b, func(int) { f.create(b) })
					return
				}
				b.ReportAllocs()
				b.SetParallelism(8)
				start := cpuTime()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						f.create(b)
					}
				})
				b.StopTimer()
				b.ReportMetric(float64((cpuTime()-start).Microseconds())/float64(b.N), "cpu-µs/op")
			})
		}
	}
}
