package benchmarks

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/permission-mongo/permission-mongo/internal/app"
	"github.com/permission-mongo/permission-mongo/internal/audit"
	"github.com/permission-mongo/permission-mongo/internal/auth"
	"github.com/permission-mongo/permission-mongo/internal/config"
	"github.com/permission-mongo/permission-mongo/internal/query"
	"github.com/permission-mongo/permission-mongo/internal/service"
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

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// startProxy starts the proxy on db over real HTTP, built and started by
// internal/app as pm serve does, and returns it with the caller's API key
// and the audit writer (nil unless audited). At cleanup the HTTP server
// stops before the app closes (flushing the audit writer), as in pm serve;
// the benchmark fails if an audit entry was lost or a request refused.
func startProxy(b *testing.B, db *mongo.Database, o proxyOptions) (*httptest.Server, string, *audit.Writer) {
	b.Helper()
	pf := filepath.Join(b.TempDir(), "bench.yml")
	if err := os.WriteFile(pf, []byte(o.policy), 0o600); err != nil {
		b.Fatal(err)
	}
	cfg := config.Default()
	cfg.Policies, cfg.MongoDB.URI = pf, testenv.MongoURI(b)
	cfg.CursorSecret = strings.Repeat("k", 32)
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
	caps := testenv.Capabilities(b)
	a, err := app.New(context.Background(), cfg, app.Options{Logger: quietLog, Database: db, Capabilities: &caps,
		NoAudit: !o.audited,
		Service: func(p *service.Params) { p.Limits.Filter = query.DefaultLimits }})
	if err != nil {
		b.Fatal(err)
	}
	a.Start(context.Background())
	srv := httptest.NewServer(a.Handler())
	b.Cleanup(func() {
		srv.Close()
		a.Close()
		if w := a.AuditWriter(); w != nil {
			if st := w.Stats(); st.Lost > 0 || st.Refused > 0 {
				b.Errorf("audit: lost %d, refused %d", st.Lost, st.Refused)
			}
		}
	})
	return srv, key, a.AuditWriter()
}
