package benchmarks

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/permission-mongo/permission-mongo/internal/api"
	"github.com/permission-mongo/permission-mongo/internal/audit"
	"github.com/permission-mongo/permission-mongo/internal/auth"
	"github.com/permission-mongo/permission-mongo/internal/cursor"
	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/principal"
	"github.com/permission-mongo/permission-mongo/internal/query"
	"github.com/permission-mongo/permission-mongo/internal/ratelimit"
	"github.com/permission-mongo/permission-mongo/internal/service"
	"github.com/permission-mongo/permission-mongo/internal/store"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

// proxyOptions say what differs between the benchmarks' proxies.
type proxyOptions struct {
	policy string
	role   string // of the one caller, user u1 of tenant t1
	// audit, with auditLog its collection, turns the audit log on.
	audit    *audit.Writer
	auditLog *store.Collection
	// limits, when set, are checked on every request.
	limits *ratelimit.Limiter
}

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// startProxy starts the proxy on db over real HTTP, as pm serve wires it,
// and returns it with the caller's API key.
func startProxy(b *testing.B, db *mongo.Database, o proxyOptions) (*httptest.Server, string) {
	b.Helper()
	set, err := policy.Parse(map[string][]byte{"bench.yml": []byte(o.policy)})
	if err != nil {
		b.Fatal(err)
	}
	codec := cursor.NewCodec([]byte(strings.Repeat("k", 32)))
	codec.Order = cursor.OrderOf(testenv.Backend())
	docs := store.NewDocuments(db, 30*time.Second)
	svc := service.New(service.Params{Store: docs, Policies: set, Cursors: codec, Logger: quietLog, AuditLog: o.auditLog,
		LookupByIDOnly: testenv.Capabilities(b).LookupByIDOnly(),
		Limits:         service.Limits{DefaultLimit: 20, MaxLimit: 1000, MaxBatch: 1000, Filter: query.DefaultLimits}})
	id, key, hash := auth.GenerateKey()
	keys, err := auth.NewStaticKeys([]auth.StaticKey{{Name: "bench", KeyID: id, KeySHA256: hash,
		Principal: principal.Principal{ID: "u1", TenantID: "t1", Roles: []string{o.role}}}})
	if err != nil {
		b.Fatal(err)
	}
	h := api.New(api.Params{Service: svc, Auth: &auth.Authenticator{Keys: keys}, Ready: docs.Ping,
		Audit: o.audit, MaxBodyBytes: 4 << 20, Logger: quietLog, Limits: o.limits})
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)
	return srv, key
}
