package api_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/permission-mongo/permission-mongo/internal/app"
	"github.com/permission-mongo/permission-mongo/internal/audit"
	"github.com/permission-mongo/permission-mongo/internal/service"
	"github.com/permission-mongo/permission-mongo/internal/store"
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

var quietLog = slog.New(slog.DiscardHandler)

type auditEnv struct {
	*env
	w    *audit.Writer
	coll *mongo.Collection
	// vers reads and writes the versions collection the proxy keeps.
	vers *versions.Store
}

// newAuditEnv is newEnv with the audit writer pm serve configures and
// versions of "docs".
func newAuditEnv(t *testing.T) *auditEnv {
	t.Helper()
	return newAuditEnvOpts(t, nil, audit.Options{})
}

// newAuditEnvOpts is newAuditEnv with the writer's options where set, on
// auditColl when given.
func newAuditEnvOpts(t *testing.T, auditColl *mongo.Collection, opts audit.Options) *auditEnv {
	t.Helper()
	return startAuditEnv(t, writePolicy(t, auditPolicy), []string{"docs"}, auditColl, opts)
}

// newAuditEnvWith is newAuditEnv with another policy file and versioned
// collections.
func newAuditEnvWith(t *testing.T, policyPath string, versioned []string) *auditEnv {
	t.Helper()
	return startAuditEnv(t, policyPath, versioned, nil, audit.Options{})
}

// startAuditEnv starts the proxy with the audit writer (on auditColl when
// given); opts are the writer's options where set, the rest is what pm serve
// configures, with a short flush interval.
func startAuditEnv(t *testing.T, policyPath string, versioned []string, auditColl *mongo.Collection, opts audit.Options) *auditEnv {
	t.Helper()
	cfg := testConfig(t, policyPath)
	cfg.Versions.Collections = versioned
	cfg.Auth.JWT.Secret = auditJWTSecret
	e := startEnv(t, cfg, app.Options{
		Audit: func(o *audit.Options) {
			coll, reg := o.Collection, o.Registerer
			*o = opts
			o.Collection, o.Registerer = coll, reg
			if auditColl != nil {
				o.Collection = store.NewCollection(auditColl)
			}
			if o.FlushInterval == 0 {
				o.FlushInterval = 5 * time.Millisecond
			}
			if o.Logger == nil {
				o.Logger = quietLog
			}
		},
		Service: func(p *service.Params) {
			testInItems(p)
			if auditColl != nil {
				p.AuditLog = store.NewCollection(auditColl)
			}
		},
	})
	if auditColl == nil {
		auditColl = e.db.Collection(cfg.Audit.Collection)
	}
	return &auditEnv{env: e, w: e.app.AuditWriter(), coll: auditColl,
		vers: &versions.Store{Coll: store.NewCollection(e.db.Collection(cfg.Versions.Collection))}}
}

// signJWT signs an HS256 token for the claims.
func signJWT(t *testing.T, claims map[string]any) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(claims)).SignedString([]byte(auditJWTSecret))
	require.NoError(t, err)
	return s
}

// req sends a request with a request id, the key (X-API-Key) or a bearer
// token ("Bearer ..." in key).
func (e *auditEnv) req(method, path, key, reqID string, body any) resp {
	e.t.Helper()
	return e.request(method, path, key, body, header("X-Request-ID", reqID))
}

// entries waits until the collection holds n entries (and no more arrive
// for a moment), and returns them in chain order.
func entriesN(t *testing.T, coll *mongo.Collection, n int) []audit.Entry {
	t.Helper()
	ctx := t.Context()
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
