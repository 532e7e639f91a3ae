package benchmarks

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/permission-mongo/permission-mongo/internal/app"
	"github.com/permission-mongo/permission-mongo/internal/app/apptest"
	"github.com/permission-mongo/permission-mongo/internal/audit"
	"github.com/permission-mongo/permission-mongo/internal/auth"
	"github.com/permission-mongo/permission-mongo/internal/config"
	"github.com/permission-mongo/permission-mongo/internal/query"
	"github.com/permission-mongo/permission-mongo/internal/service"
	"github.com/permission-mongo/permission-mongo/internal/store"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

// proxyOptions say what differs between the benchmarks' proxies.
type proxyOptions struct {
	policy string
	role   string // of the one caller, user u1 of tenant t1
	// audited turns the audit log on: pm serve's default writer, entries
	// in pm_audit of the same database.
	audited bool
	// limited counts benchRules in a redis-server on loopback, started for
	// the run.
	limited bool
}

var quietLog = slog.New(slog.DiscardHandler)

// startProxy starts the proxy on db over real HTTP, built and started by
// internal/app as pm serve does, and returns it with the caller's API key
// and the audit writer (nil unless audited). At cleanup the HTTP server
// stops before the app closes (flushing the audit writer), as in pm serve;
// the benchmark fails if an audit entry was lost or a request refused.
func startProxy(b *testing.B, db *mongo.Database, o proxyOptions) (*httptest.Server, string, *audit.Writer) {
	b.Helper()
	cfg := apptest.Config(b, apptest.WriteFile(b, "bench.yml", o.policy))
	cfg.Limits.QueryTimeout, cfg.Limits.MaxBodyBytes = 30*time.Second, 4<<20
	cfg.Limits.MaxLimit, cfg.Limits.MaxBatch = 1000, 1000
	// As before the composition root: the benchmarks' baselines measure the
	// proxy without an access log line per request.
	cfg.AccessLog.Enabled = false
	id, key, hash := auth.GenerateKey()
	cfg.Auth.APIKeys = []config.APIKey{{Name: "bench", KeyID: id, KeySHA256: hash,
		Principal: config.KeyPrincipal{ID: "u1", TenantID: "t1", Roles: []string{o.role}}}}
	if o.limited {
		cfg.Redis.Addr, cfg.Redis.Prefix = testenv.Redis(b), "bench:"
		for _, r := range benchRules {
			cfg.RateLimits = append(cfg.RateLimits, config.RateLimit{Name: r.Name, By: r.By, AppliesTo: r.AppliesTo,
				Limit: r.Limit, Per: r.Per, Burst: r.Burst})
		}
	}
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	var s *apptest.Server
	b.Cleanup(func() { // after the server's own cleanup: the writer is closed
		if s == nil {
			return
		}
		if w := s.AuditWriter(); w != nil {
			if st := w.Stats(); st.Lost > 0 || st.Refused > 0 {
				b.Errorf("audit: lost %d, refused %d", st.Lost, st.Refused)
			}
		}
	})
	s = apptest.Start(b, cfg, app.Options{Logger: quietLog, Database: store.NewDatabase(db), NoAudit: !o.audited,
		Service: func(p *service.Params) { p.Limits.Filter = query.DefaultLimits }})
	s.Start(context.Background())
	return s.HTTP, key, s.AuditWriter()
}

// call sends one request with the caller's key over client and fails the
// benchmark unless the answer has status want; it returns the body.
func call(b *testing.B, client *http.Client, method, url, key, contentType string, body io.Reader, want int) []byte {
	b.Helper()
	req, _ := http.NewRequest(method, url, body)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("X-API-Key", key)
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		b.Fatalf("%s %s: %d %.300s", method, url, resp.StatusCode, out)
	}
	return out
}
