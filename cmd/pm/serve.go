package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/permission-mongo/permission-mongo/internal/api"
	"github.com/permission-mongo/permission-mongo/internal/auth"
	"github.com/permission-mongo/permission-mongo/internal/config"
	"github.com/permission-mongo/permission-mongo/internal/cursor"
	"github.com/permission-mongo/permission-mongo/internal/fleet"
	"github.com/permission-mongo/permission-mongo/internal/hierarchy"
	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/query"
	"github.com/permission-mongo/permission-mongo/internal/schema"
	"github.com/permission-mongo/permission-mongo/internal/service"
	"github.com/permission-mongo/permission-mongo/internal/store"
)

func init() {
	commands["serve"] = command{
		summary: "run the proxy with a configuration file",
		run:     runServe,
	}
}

// runServe implements `pm serve --config FILE`.
func runServe(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("pm serve", "[--config FILE]", stderr)
	cfgPath := fs.String("config", "", "configuration file (YAML); PM_* variables override it")
	if code, stop := parseFlags(fs, args); stop {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "pm serve: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "pm serve: configuration:\n%v\n", err)
		return exitFail
	}
	logger := newLogger(cfg.Log, stderr)
	if cfg.CursorSecretGenerated {
		logger.Warn("cursor_secret is not set: generated one; cursors will not survive a restart or work across several proxies")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := startApp(ctx, cfg, logger, nil)
	if err != nil {
		fmt.Fprintf(stderr, "pm serve: %v\n", err)
		return exitFail
	}
	defer a.close()
	if err := a.serve(ctx, nil); err != nil {
		fmt.Fprintf(stderr, "pm serve: %v\n", err)
		return exitFail
	}
	return exitOK
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// app is a wired, running proxy: the wiring lives here and nowhere else.
type app struct {
	cfg      *config.Config
	log      *slog.Logger
	embedded *store.Embedded
	client   *store.Client
	db       *store.Database
	// uri is the server connected to (the embedded one's when embedded).
	uri     string
	svc     *service.Service
	handler http.Handler
	// stopGrants stops the grant reaper (serve_grants.go).
	stopGrants func()
	// audit is the audit writer (serve_audit.go).
	audit *auditRuntime
	// fleet is Redis and what is shared through it (serve_fleet.go).
	fleet *fleetRuntime
	// stopWebhooks stops the webhook delivery loop (serve_webhooks.go).
	stopWebhooks func()
}

// startApp connects to the database (starting the embedded one when
// configured), loads the policies and builds the HTTP handler. extraKeys,
// when set, is asked for API keys before the configured ones (pm dev).
func startApp(ctx context.Context, cfg *config.Config, logger *slog.Logger, extraKeys auth.KeyStore) (*app, error) {
	a := &app{cfg: cfg, log: logger}
	ok := false
	defer func() {
		if !ok {
			a.close()
		}
	}()

	set, err := policy.Load(cfg.Policies)
	if err != nil {
		return nil, fmt.Errorf("policies %s:\n%w", cfg.Policies, err)
	}
	for _, w := range set.Warnings {
		logger.Warn("policy", "at", w.Pos.String(), "warning", w.Msg)
	}

	uri := cfg.MongoDB.URI
	if cfg.MongoDB.Embedded() {
		if a.embedded, err = store.StartEmbedded(ctx, cfg.MongoDB.EmbeddedDir, logger); err != nil {
			return nil, fmt.Errorf("embedded database: %w", err)
		}
		uri = a.embedded.URI()
		logger.Info("embedded FerretDB started", "dir", cfg.MongoDB.EmbeddedDir)
	}
	a.uri = uri
	if a.client, err = store.Open(ctx, uri); err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	a.db = a.client.Database(cfg.MongoDB.Database)
	caps, err := a.client.Probe(ctx, cfg.MongoDB.Database)
	if err != nil {
		return nil, fmt.Errorf("database probe: %w", err)
	}
	logger.Info("database", "backend", caps.Backend, "version", caps.Version, "database", cfg.MongoDB.Database)
	if err := schema.EnsureIndexes(ctx, a.db, set.Schemas); err != nil {
		return nil, fmt.Errorf("schema indexes: %w", err)
	}

	runtimeKeys := a.db.APIKeys(cfg.Limits.QueryTimeout)
	keyCache := fleet.NewKeyCache(runtimeKeys, cfg.Auth.KeyCacheTTL, cfg.Auth.KeyCacheSize)
	authn, err := authenticator(cfg, extraKeys, keyCache)
	if err != nil {
		return nil, err
	}
	codec := cursor.NewCodec([]byte(cfg.CursorSecret))
	codec.Order = cursor.OrderOf(caps.Backend)
	docs := a.db.Documents(cfg.Limits.QueryTimeout)
	vers, err := startVersions(ctx, cfg, a.db, logger)
	if err != nil {
		return nil, err
	}
	outbox, stopWebhooks, err := startWebhooks(ctx, a.db, logger)
	if err != nil {
		return nil, err
	}
	a.stopWebhooks = stopWebhooks
	a.svc = service.New(service.Params{
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
		Logger:   logger,
		Versions: vers,
		AuditLog: a.db.Collection(cfg.Audit.Collection),
		// FerretDB v1 scans for any filter but {_id}: see docs/embedded-backend.md.
		LookupByIDOnly: caps.LookupByIDOnly(),
		// FerretDB v1 panics on a stage after one that drops _id.
		RefuseAfterIDless: caps.Backend == store.BackendFerretDB,
		// Cheap when unused: it reads only when a rule names user.$...
		Hierarchy: hierarchy.New(a.db),
		Outbox:    outbox,
	})
	reg := newServeRegistry()
	grants, stopGrants := startGrants(logger, a.client, a.db, caps, uri, set, reg)
	a.stopGrants = stopGrants
	if a.audit, err = startAudit(ctx, cfg, a.db, logger, reg); err != nil {
		return nil, err
	}
	a.fleet = startFleet(cfg, logger, reg, keyCache, a.svc, set, func(ctx context.Context, set *policy.Set) error {
		return schema.EnsureIndexes(ctx, a.db, set.Schemas)
	})
	a.handler = api.New(api.Params{
		Service:      a.svc,
		Auth:         authn,
		Ready:        docs.Ping,
		Keys:         keyAdmin{runtimeKeys, a.fleet},
		MaxBodyBytes: cfg.Limits.MaxBodyBytes,
		Logger:       logger,
		Registry:     reg,
		Grants:       grants,
		Audit:        a.audit.writerOf(),
		Limits:       a.fleet.limits,
		Status:       a.fleet.status,
		Reload:       func(ctx context.Context) (string, error) { return a.fleet.reloadAll(ctx, "api") },
		CORS:         corsOf(cfg.CORS),                   // serve_http.go
		AccessLog:    accessLogOf(cfg.AccessLog, logger), // serve_http.go
	})
	ok = true
	return a, nil
}

// authenticator builds the credential checks the configuration asks for.
// Keys are looked up in extra (pm dev's demo keys), then the configured
// bootstrap keys, then the keys created at run time.
func authenticator(cfg *config.Config, extra auth.KeyStore, runtime auth.KeyStore) (*auth.Authenticator, error) {
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
		jc := auth.JWTConfig{
			Secret:     j.Secret,
			Algorithms: j.Algorithms,
			Issuer:     j.Issuer,
			Audience:   j.Audience,
			Claims:     auth.ClaimMapping{ID: j.Claims.ID, TenantID: j.Claims.TenantID, Roles: j.Claims.Roles},
		}
		if j.PublicKeyFile != "" {
			if jc.PublicKeyPEM, err = os.ReadFile(j.PublicKeyFile); err != nil {
				return nil, fmt.Errorf("auth.jwt.public_key_file: %w", err)
			}
		}
		if a.JWT, err = auth.NewJWTVerifier(jc); err != nil {
			return nil, fmt.Errorf("auth.jwt: %w", err)
		}
	}
	return a, nil
}

// serve runs the HTTP server until ctx ends, then drains it. SIGHUP reloads
// the policies: a set that fails to load is reported and the running one
// kept. ready, when set, is called with the bound address once listening.
func (a *app) serve(ctx context.Context, ready func(addr string)) error {
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", a.cfg.Listen, err)
	}
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      a.cfg.Limits.QueryTimeout + 30*time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				// Logged by reloadAll, including a refusal.
				_, _ = a.fleet.reloadAll(ctx, "signal")
			}
		}
	}()

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	a.log.Info("listening", "addr", ln.Addr().String())
	if ready != nil {
		ready(ln.Addr().String())
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (a *app) close() {
	a.audit.close() // after the HTTP server stopped: flushes every entry
	if a.stopGrants != nil {
		a.stopGrants()
	}
	a.fleet.close()
	if a.stopWebhooks != nil {
		a.stopWebhooks()
	}
	if a.client != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = a.client.Close(ctx)
		cancel()
	}
	if a.embedded != nil {
		a.embedded.Close()
	}
}

// baseURL turns a listen address into a URL for the printed examples.
func baseURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return "http://" + host + ":" + port
}
