package api_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/permission-mongo/permission-mongo/internal/api"
	"github.com/permission-mongo/permission-mongo/internal/audit"
	"github.com/permission-mongo/permission-mongo/internal/auth"
	"github.com/permission-mongo/permission-mongo/internal/cursor"
	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/query"
	"github.com/permission-mongo/permission-mongo/internal/service"
	"github.com/permission-mongo/permission-mongo/internal/store"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
	"github.com/permission-mongo/permission-mongo/internal/versions"
)

// auditPolicy: docs is versioned; member may restore, editor may not.
const auditPolicy = `
version: "1"
roles:
  member: {}
  editor: {}
  auditor: {}
system:
  audit.read: [auditor]
policies:
  docs:
    member:
      actions: [create, read, update, delete, restore]
      when: "resource.tenant_id == user.tenant_id"
      fields:
        deny: [secret]
        deny_write: [locked]
        mask: {email: email}
    editor:
      actions: [create, read, update, delete]
      when: "resource.tenant_id == user.tenant_id"
    presets:
      tenant_id: user.tenant_id
defaults:
  deny_unlisted_collections: true
`

const auditJWTSecret = "0123456789abcdef0123456789abcdef-jwt-secret"

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

type auditEnv struct {
	*env
	w     *audit.Writer
	coll  *mongo.Collection
	vers  *versions.Store
	httpS *httptest.Server
}

// newAuditEnv is newEnv with the audit writer (on the test database unless
// auditColl is given) and versions of "docs".
func newAuditEnv(t *testing.T, auditColl *mongo.Collection, opts audit.Options) *auditEnv {
	t.Helper()
	dir := t.TempDir()
	pf := filepath.Join(dir, "policy.yml")
	require.NoError(t, os.WriteFile(pf, []byte(auditPolicy), 0o600))
	set, err := policy.Load(pf)
	require.NoError(t, err)
	return newAuditEnvWith(t, set, []string{"docs"}, auditColl, opts)
}

// newAuditEnvWith is newAuditEnv with another policy set and versioned
// collections.
func newAuditEnvWith(t *testing.T, set *policy.Set, versioned []string, auditColl *mongo.Collection, opts audit.Options) *auditEnv {
	t.Helper()
	var err error
	_, db := testenv.Mongo(t)
	ctx := context.Background()
	if auditColl == nil {
		auditColl = db.Collection("pm_audit")
		require.NoError(t, audit.EnsureIndexes(ctx, auditColl, 0))
	}
	vs := &versions.Store{Coll: db.Collection("pm_versions")}
	_, err = vs.EnsureIndexes(ctx, 0)
	require.NoError(t, err)
	opts.Collection = auditColl
	if opts.FlushInterval == 0 {
		opts.FlushInterval = 5 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = quietLog
	}
	w, err := audit.NewWriter(opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = w.Close(cctx)
	})

	docs := store.NewDocuments(db, 10*time.Second)
	codec := cursor.NewCodec([]byte(strings.Repeat("k", 32)))
	codec.Order = cursor.OrderOf(testenv.Backend())
	svc := service.New(service.Params{
		Store:    docs,
		Policies: set,
		Cursors:  codec,
		Limits:   service.Limits{DefaultLimit: 20, MaxLimit: testMaxLimit, MaxBatch: testMaxBatch, Filter: query.Limits{MaxDepth: 16, MaxRegexLength: 128, MaxInItems: 100}},
		Versions: &service.Versioning{Store: vs, Collections: versioned},
		AuditLog: auditColl,
	})
	jv, err := auth.NewJWTVerifier(auth.JWTConfig{Secret: auditJWTSecret, Algorithms: []string{"HS256"},
		Claims: auth.ClaimMapping{ID: "sub", TenantID: "tenant_id", Roles: "roles"}})
	require.NoError(t, err)
	keys := &memKeys{recs: map[string]*auth.KeyRecord{}}
	h := api.New(api.Params{
		Service:      svc,
		Auth:         &auth.Authenticator{Keys: keys, JWT: jv},
		Ready:        docs.Ping,
		MaxBodyBytes: testMaxBody,
		Logger:       quietLog,
		Audit:        w,
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &auditEnv{env: &env{t: t, srv: srv, db: db, keys: keys, svc: svc}, w: w, coll: auditColl, vers: vs, httpS: srv}
}

// jwt signs an HS256 token for the claims.
func signJWT(t *testing.T, claims map[string]any) string {
	t.Helper()
	enc := base64.RawURLEncoding
	h, _ := json.Marshal(map[string]any{"alg": "HS256", "typ": "JWT"})
	p, err := json.Marshal(claims)
	require.NoError(t, err)
	signing := enc.EncodeToString(h) + "." + enc.EncodeToString(p)
	m := hmac.New(sha256.New, []byte(auditJWTSecret))
	m.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(m.Sum(nil))
}

// req sends a request with a request id, the key (X-API-Key) or a bearer
// token ("Bearer ..." in key).
func (e *auditEnv) req(method, path, key, reqID string, body any) resp {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		var b []byte
		if s, ok := body.(string); ok {
			b = []byte(s)
		} else {
			var err error
			b, err = json.Marshal(body)
			require.NoError(e.t, err)
		}
		rd = strings.NewReader(string(b))
	}
	r, err := http.NewRequest(method, e.srv.URL+path, rd)
	require.NoError(e.t, err)
	if rd != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	switch {
	case strings.HasPrefix(key, "Bearer "):
		r.Header.Set("Authorization", key)
	case key != "":
		r.Header.Set("X-API-Key", key)
	}
	if reqID != "" {
		r.Header.Set("X-Request-ID", reqID)
	}
	return e.send(r)
}

// entries waits until the collection holds n entries (and no more arrive
// for a moment), and returns them in chain order.
func entriesN(t *testing.T, coll *mongo.Collection, n int) []audit.Entry {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := coll.CountDocuments(ctx, bson.D{})
		require.NoError(t, err)
		if int(c) >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit: %d entries stored, want %d", c, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // more than expected would show now
	cur, err := coll.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "writer", Value: 1}, {Key: "seq", Value: 1}}))
	require.NoError(t, err)
	var out []audit.Entry
	require.NoError(t, cur.All(ctx, &out))
	return out
}

func byRequestID(es []audit.Entry) map[string][]audit.Entry {
	m := map[string][]audit.Entry{}
	for _, e := range es {
		m[e.RequestID] = append(m[e.RequestID], e)
	}
	return m
}

// outage is testenv.Outage: a database the test stops and starts again.
type outage struct{ *testenv.Outage }

func newOutage(t *testing.T) *outage {
	t.Helper()
	return &outage{testenv.NewOutage(t)}
}

func (o *outage) stop()  { o.Stop() }
func (o *outage) start() { o.Start() }
