package benchmarks

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

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
	o := proxyOptions{policy: auditBenchPolicy, role: "writer"}
	if audited {
		coll := db.Collection("pm_audit")
		if err := audit.EnsureIndexes(context.Background(), coll, 0); err != nil {
			b.Fatal(err)
		}
		var err error
		if f.w, err = audit.NewWriter(audit.Options{Collection: coll, Logger: quietLog}); err != nil {
			b.Fatal(err)
		}
		o.audit, o.auditLog = f.w, coll
	}
	f.calls = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.Cleanup(func() {
		if f.w != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := f.w.Close(ctx); err != nil {
				b.Error(err)
			}
			if st := f.w.Stats(); st.Lost > 0 || st.Refused > 0 {
				b.Errorf("audit: lost %d, refused %d", st.Lost, st.Refused)
			}
		}
	})
	// Registered after the writer's cleanup, so it runs first: the HTTP
	// server stops before the audit writer is closed, as in pm serve.
	f.srv, f.key = startProxy(b, db, o)
	return f
}

func (f *auditWriteFixture) create(b *testing.B) {
	n := f.seq.Add(1)
	body := fmt.Sprintf(`{"name":"item %d","qty":%d,"tags":["a","b"]}`, n, n%100)
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/collections/items", bytes.NewReader([]byte(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", f.key)
	resp, err := f.calls.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		b.Fatalf("create: %d %s", resp.StatusCode, out)
	}
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
