// Package app is the composition root: it builds the whole proxy from a
// configuration — database, policies, audit, versions, grants, webhooks,
// the fleet (Redis, rate limits, reloads), the service and the HTTP API —
// and runs and stops its background loops. `pm serve`, `pm dev`, every test
// server and every benchmark build the proxy here, so that what is tested is
// what runs.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/permission-mongo/permission-mongo/internal/api"
	"github.com/permission-mongo/permission-mongo/internal/audit"
	"github.com/permission-mongo/permission-mongo/internal/auth"
	"github.com/permission-mongo/permission-mongo/internal/config"
	"github.com/permission-mongo/permission-mongo/internal/cursor"
	"github.com/permission-mongo/permission-mongo/internal/fleet"
	"github.com/permission-mongo/permission-mongo/internal/grant"
	"github.com/permission-mongo/permission-mongo/internal/hierarchy"
	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/query"
	"github.com/permission-mongo/permission-mongo/internal/schema"
	"github.com/permission-mongo/permission-mongo/internal/service"
	"github.com/permission-mongo/permission-mongo/internal/store"
)

// Options are what a caller sets besides the configuration. The zero value
// is `pm serve`; the rest serves `pm dev`, tests and benchmarks.
type Options struct {
	// Logger receives the server's log; nil discards it.
	Logger *slog.Logger
	// Keys is asked for API keys before the configured and the run-time
	// ones (pm dev's demo keys, keys a test controls).
	Keys auth.KeyStore
	// Database, when set, is used instead of connecting to
	// cfg.MongoDB (tests hand in a database of their own); Close leaves its
	// client connected. cfg.MongoDB.URI still names the hosts handed out
	// with grants.
	Database *store.Database
	// Capabilities, when set, are used instead of probing the database
	// (tests know them already).
	Capabilities *store.Capabilities
	// Registry receives every metric; nil means a new one with the Go and
	// process collectors.
	Registry *prometheus.Registry
	// NoAudit leaves the audit writer out: requests are not audited. pm
	// serve never sets it; tests of other parts and benchmarks of the bare
	// proxy do.
	NoAudit bool
	// Audit, Service and API have the last word on the parameters built
	// from the configuration (tests: a flush interval, filter limits the
	// configuration does not carry, CORS).
	Audit   func(*audit.Options)
	Service func(*service.Params)
	API     func(*api.Params)
}

// App is a wired proxy. New builds it; Start runs its background loops
// (audit retention, grant reaper, webhook delivery, Redis health and bus);
// Close stops them and lets go of the database. Handler serves requests
// from New on, with or without Start.
type App struct {
	cfg      *config.Config
	log      *slog.Logger
	embedded *store.Embedded
	// client is the connection New opened (nil when Options.Database was
	// given); Close disconnects it.
	client *store.Client
	db     *store.Database
	// uri is the server connected to (the embedded one's when embedded).
	uri      string
	caps     store.Capabilities
	svc      *service.Service
	api      *api.Server
	audit    *auditRuntime   // audit.go; nil with NoAudit
	grants   *grantRuntime   // grants.go
	webhooks *webhookRuntime // webhooks.go
	hier     *hierarchy.Resolver
	fleet    *fleetRuntime // fleet.go
	started  bool
}

// New connects to the database (starting the embedded one when
// configured), loads the policies, prepares the collections the proxy keeps
// (schema, audit, versions, webhook indexes) and builds the HTTP handler.
// Nothing runs in the background until Start, but the audit writer, which
// takes entries from here on.
func New(ctx context.Context, cfg *config.Config, opts Options) (*App, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	a := &App{cfg: cfg, log: logger}
	ok := false
	defer func() {
		if !ok {
			a.Close()
		}
	}()

	set, err := policy.Load(cfg.Policies)
	if err != nil {
		return nil, fmt.Errorf("policies %s:\n%w", cfg.Policies, err)
	}
	for _, w := range set.Warnings {
		logger.Warn("policy", "at", w.Pos.String(), "warning", w.Msg)
	}

	uri, err := a.connect(ctx, opts.Database)
	if err != nil {
		return nil, err
	}
	if opts.Capabilities != nil {
		a.caps = *opts.Capabilities
	} else if a.caps, err = a.db.Probe(ctx); err != nil {
		return nil, fmt.Errorf("database probe: %w", err)
	}
	logger.Info("database", "backend", a.caps.Backend, "version", a.caps.Version, "database", a.db.Name())
	if err := schema.EnsureIndexes(ctx, a.db, set.Schemas); err != nil {
		return nil, fmt.Errorf("schema indexes: %w", err)
	}

	runtimeKeys := a.db.APIKeys(cfg.Limits.QueryTimeout)
	keyCache := fleet.NewKeyCache(runtimeKeys, cfg.Auth.KeyCacheTTL, cfg.Auth.KeyCacheSize)
	authn, err := authenticator(cfg, opts.Keys, keyCache, logger)
	if err != nil {
		return nil, err
	}
	vers, err := newVersions(ctx, cfg, a.db, logger)
	if err != nil {
		return nil, err
	}
	if a.webhooks, err = newWebhooks(ctx, cfg.Webhooks, a.db, logger); err != nil {
		return nil, err
	}
	docs := a.db.Documents(cfg.Limits.QueryTimeout)
	// Cheap when unused: it reads only when a rule names user.$...
	a.hier = hierarchy.New(a.db)
	a.svc = service.New(a.serviceParams(set, docs, vers, opts.Service))

	reg := opts.Registry
	if reg == nil {
		reg = newRegistry()
	}
	a.grants = newGrants(logger, a.db.Client(), a.db, a.caps, uri, set, reg)
	if !opts.NoAudit {
		if a.audit, err = newAudit(ctx, cfg, a.db, logger, reg, opts.Audit); err != nil {
			return nil, err
		}
	}
	a.fleet = newFleet(cfg, logger, reg, keyCache, a.svc, set, func(ctx context.Context, set *policy.Set) error {
		return schema.EnsureIndexes(ctx, a.db, set.Schemas)
	})
	a.fleet.followHierarchy(a.hier) // hierarchy.go
	params := api.Params{
		Service:      a.svc,
		Auth:         authn,
		Ready:        docs.Ping,
		Keys:         keyAdmin{runtimeKeys, a.fleet},
		MaxBodyBytes: cfg.Limits.MaxBodyBytes,
		Logger:       logger,
		Registry:     reg,
		Grants:       a.grants.m,
		Audit:        a.audit.writerOf(),
		Limits:       a.fleet.limits,
		Status:       a.fleet.status,
		Reload:       func(ctx context.Context) (string, error) { return a.fleet.reloadAll(ctx, "api") },
		CORS:         corsOf(cfg.CORS),                   // http.go
		AccessLog:    accessLogOf(cfg.AccessLog, logger), // http.go
	}
	if opts.API != nil {
		opts.API(&params)
	}
	a.api = api.New(params)
	ok = true
	return a, nil
}

// connect opens the database the configuration names (starting the
// embedded one when configured), or takes db. It returns the URI of the
// server, for the hosts handed out with grants.
func (a *App) connect(ctx context.Context, db *store.Database) (string, error) {
	cfg, uri := a.cfg, a.cfg.MongoDB.URI
	if db != nil {
		a.db, a.uri = db, uri
		return uri, nil
	}
	var err error
	if cfg.MongoDB.Embedded() {
		if a.embedded, err = store.StartEmbedded(ctx, cfg.MongoDB.EmbeddedDir, a.log); err != nil {
			return "", fmt.Errorf("embedded database: %w", err)
		}
		uri = a.embedded.URI()
		a.log.Info("embedded FerretDB started", "dir", cfg.MongoDB.EmbeddedDir, "uri", uri)
	}
	a.uri = uri
	if a.client, err = store.Open(ctx, uri); err != nil {
		return "", fmt.Errorf("database: %w", err)
	}
	a.db = a.client.Database(cfg.MongoDB.Database)
	return uri, nil
}

// serviceParams is the service as the configuration and the backend's
// capabilities ask for it; adjust has the last word.
func (a *App) serviceParams(set *policy.Set, docs *store.Documents, vers *service.Versioning, adjust func(*service.Params)) service.Params {
	cfg := a.cfg
	codec := cursor.NewCodec([]byte(cfg.CursorSecret))
	codec.Order = cursor.OrderOf(a.caps.Backend)
	p := service.Params{
		Store:    docs,
		Policies: set,
		Cursors:  codec,
		// The same types are refused in writes, filters and pipelines.
		Unstorable: codec.Unstorable,
		Limits: service.Limits{
			DefaultLimit: cfg.Limits.DefaultLimit,
			MaxLimit:     cfg.Limits.MaxLimit,
			MaxBatch:     cfg.Limits.MaxBatch,
			Filter:       query.Limits{MaxDepth: cfg.Limits.MaxFilterDepth, MaxRegexLength: cfg.Limits.MaxRegexLength},
		},
		Logger:   a.log,
		Versions: vers,
		AuditLog: a.db.Collection(cfg.Audit.Collection),
		// FerretDB v1 scans for any filter but {_id}: see docs/embedded-backend.md.
		LookupByIDOnly: a.caps.LookupByIDOnly(),
		// FerretDB v1 panics on a stage after one that drops _id.
		RefuseAfterIDless: a.caps.Backend == store.BackendFerretDB,
		Hierarchy:         a.hier,
		Outbox:            a.webhooks.outbox,
		IDOrder:           idOrder(a.embedded, a.db.Name(), cfg.Limits.QueryTimeout),
	}
	if adjust != nil {
		adjust(&p)
	}
	return p
}

// authenticator builds the credential checks the configuration asks for.
// Keys are looked up in extra (pm dev's demo keys), then the configured
// bootstrap keys, then the keys created at run time.
func authenticator(cfg *config.Config, extra auth.KeyStore, runtime auth.KeyStore, logger *slog.Logger) (*auth.Authenticator, error) {
	static := make([]auth.StaticKey, len(cfg.Auth.APIKeys))
	for i, k := range cfg.Auth.APIKeys {
		static[i] = auth.StaticKey{Name: k.Name, KeyID: k.KeyID, KeySHA256: k.KeySHA256, Principal: *k.Principal.Principal(), ExpiresAt: k.ExpiresAt}
	}
	keys, err := auth.NewStaticKeys(static)
	if err != nil {
		return nil, fmt.Errorf("auth.api_keys: %w", err)
	}
	chain := auth.ChainKeyStore{keys, runtime}
	if extra != nil {
		chain = append(auth.ChainKeyStore{extra}, chain...)
	}
	a := &auth.Authenticator{Keys: chain}
	if j := cfg.Auth.JWT; j.Enabled() {
		jc, err := j.VerifierConfig(logger)
		if err != nil {
			return nil, err
		}
		if a.JWT, err = auth.NewJWTVerifier(jc); err != nil {
			return nil, fmt.Errorf("auth.jwt: %w", err)
		}
	}
	return a, nil
}

// Start runs the background loops: audit retention (on backends without
// TTL indexes), the grant reaper (where grants can be issued), webhook
// delivery, and the Redis health probe and bus. A second call does nothing.
func (a *App) Start(ctx context.Context) {
	if a.started {
		return
	}
	a.started = true
	a.audit.start(ctx)
	a.grants.start()
	// After the audit writer: the delivery loop's attempts are audited.
	a.webhooks.start(a.audit.writerOf())
	a.fleet.start()
}

// Close stops what New and Start began, in order: webhook delivery first
// (its last attempts are audited), then the audit writer (after the HTTP
// server stopped: it flushes every entry), the reaper, the fleet, and the
// database connection New opened.
func (a *App) Close() {
	a.webhooks.close()
	a.audit.close()
	a.grants.close()
	a.fleet.close()
	if a.client != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = a.client.Close(ctx)
		cancel()
	}
	if a.embedded != nil {
		a.embedded.Close()
	}
}

// Handler serves the HTTP API.
func (a *App) Handler() http.Handler { return a.api }

// API is the HTTP server (tests reach its hooks).
func (a *App) API() *api.Server { return a.api }

// Service is the enforcement path (tests swap policies on it).
func (a *App) Service() *service.Service { return a.svc }

// Database is the database the proxy serves.
func (a *App) Database() *store.Database { return a.db }

// URI is the address of the database server (the embedded one's when
// embedded), for tests that look at stored data with a client of their own.
func (a *App) URI() string { return a.uri }

// Config is the configuration the proxy was built from.
func (a *App) Config() *config.Config { return a.cfg }

// AuditWriter is the audit writer; nil with Options.NoAudit.
func (a *App) AuditWriter() *audit.Writer { return a.audit.writerOf() }

// CloseAudit flushes and stops the audit writer ahead of Close (tests of
// what a shutdown stores).
func (a *App) CloseAudit() { a.audit.close() }

// Grants is the credential grant manager.
func (a *App) Grants() *grant.Manager { return a.grants.m }

// Reload loads the policy files again here and asks the other proxies to
// do the same (SIGHUP, POST /admin/policies/reload).
func (a *App) Reload(ctx context.Context, trigger string) (string, error) {
	return a.fleet.reloadAll(ctx, trigger)
}

// RedisUp says whether Redis answered the last probe; false without Redis.
func (a *App) RedisUp() bool { return a.fleet.redis != nil && a.fleet.redis.Up() }

// Subscribed is closed once this proxy listens to the other proxies'
// announcements on Redis (tests wait for it before changing anything).
func (a *App) Subscribed() <-chan struct{} { return a.fleet.bus.Subscribed() }

// idOrder is the embedded backend's _id order (docs/embedded-backend.md),
// nil for any other backend.
func idOrder(e *store.Embedded, database string, timeout time.Duration) service.IDOrder {
	if e == nil {
		return nil
	}
	return e.IDOrder(database).Bounded(timeout)
}
