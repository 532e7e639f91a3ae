package benchmarks

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/permission-mongo/permission-mongo/internal/api"
	"github.com/permission-mongo/permission-mongo/internal/audit"
	"github.com/permission-mongo/permission-mongo/internal/auth"
	"github.com/permission-mongo/permission-mongo/internal/cursor"
	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/principal"
	"github.com/permission-mongo/permission-mongo/internal/query"
	"github.com/permission-mongo/permission-mongo/internal/service"
	"github.com/permission-mongo/permission-mongo/internal/store"
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
	dir := b.TempDir()
	pf := filepath.Join(dir, "p.yml")
	if err := os.WriteFile(pf, []byte(auditBenchPolicy), 0o600); err != nil {
		b.Fatal(err)
	}
	set, err := policy.Load(pf)
	if err != nil {
		b.Fatal(err)
	}
	codec := cursor.NewCodec([]byte(strings.Repeat("k", 32)))
	docsStore := store.NewDocuments(db, 10*time.Second)
	f := &auditWriteFixture{}
	p := service.Params{Store: docsStore, Policies: set, Cursors: codec,
		Limits: service.Limits{DefaultLimit: 20, MaxLimit: 1000, MaxBatch: 1000, Filter: query.DefaultLimits}}
	if audited {
		coll := db.Collection("pm_audit")
		if err := audit.EnsureIndexes(context.Background(), coll, 0); err != nil {
			b.Fatal(err)
		}
		if f.w, err = audit.NewWriter(audit.Options{Collection: coll, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}); err != nil {
			b.Fatal(err)
		}
		p.AuditLog = coll
	}
	svc := service.New(p)
	id, key, hash := auth.GenerateKey()
	keys, err := auth.NewStaticKeys([]auth.StaticKey{{Name: "bench", KeyID: id, KeySHA256: hash,
		Principal: principal.Principal{ID: "u1", TenantID: "t1", Roles: []string{"writer"}}}})
	if err != nil {
		b.Fatal(err)
	}
	h := api.New(api.Params{Service: svc, Auth: &auth.Authenticator{Keys: keys}, Ready: docsStore.Ping, Audit: f.w})
	f.srv = httptest.NewServer(h)
	f.key = key
	f.calls = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.Cleanup(func() {
		f.srv.Close()
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
