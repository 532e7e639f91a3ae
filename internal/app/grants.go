package app

// Wiring of credential grants (/grants): the manager the HTTP API issues
// through, and the reaper that revokes expired grants and reconciles the
// server with the ledger, one proxy at a time under a lease.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/grant"
	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/store"
)

// The proxy's own collections for grants (names start with pm_, which the
// document API and grant rules refuse).
const (
	grantLedgerCollection = "pm_grants"
	grantLeaseCollection  = "pm_leases"
)

// Reaper schedule: a pass a minute; a lease outlives two missed passes'
// worth of a crashed holder; five failed revocations flag a grant; an issue
// older than five minutes still pending crashed.
const (
	reaperInterval     = time.Minute
	reaperLeaseTTL     = 2 * time.Minute
	reaperMaxAttempts  = 5
	reaperPendingAfter = 5 * time.Minute
)

// newRegistry is the metrics registry of a proxy: Go and process
// collectors (what api.New adds to a registry of its own) plus the grant
// reaper's metrics.
func newRegistry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

type reaperMetrics struct {
	passes  *prometheus.CounterVec
	revoked *prometheus.CounterVec
	flagged prometheus.Gauge
}

func newReaperMetrics(reg *prometheus.Registry) *reaperMetrics {
	m := &reaperMetrics{
		passes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pm_grant_reaper_passes_total",
			Help: "Grant reaper passes by outcome: ok, error, or standby (another proxy holds the lease).",
		}, []string{"outcome"}),
		revoked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pm_grant_reaper_dropped_total",
			Help: "Grants and orphans the reaper dropped, by kind: expired, crashed (pending), orphan, failure.",
		}, []string{"kind"}),
		flagged: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pm_grants_flagged",
			Help: "Grants whose revocation failed too often and need a person (ledger status flagged).",
		}),
	}
	reg.MustRegister(m.passes, m.revoked, m.flagged)
	return m
}

// grantRuntime is the grant manager and, when the server can manage users,
// the reaper that start runs.
type grantRuntime struct {
	m      *grant.Manager
	reaper *grant.Reaper // nil: nothing can be issued, nothing to reap
	reg    *prometheus.Registry
	log    *slog.Logger
	stop   func()
}

// newGrants builds the grant manager, and the reaper when the server can
// manage users.
func newGrants(logger *slog.Logger, client *store.Client, db *store.Database, caps store.Capabilities,
	uri string, set *policy.Set, reg *prometheus.Registry) *grantRuntime {
	m := &grant.Manager{
		Client:  client,
		Ledger:  db.Collection(grantLedgerCollection),
		Missing: caps.GrantsMissing(),
		Hosts:   uriHosts(uri, logger),
	}
	g := &grantRuntime{m: m, reg: reg, log: logger}
	if m.Missing != "" {
		// Nothing can be issued, so there is nothing to reap; POST /grants
		// answers 501 after its rule checks.
		logger.Info("credential grants unavailable: the database lacks a capability they need", "capability", m.Missing)
		return g
	}
	g.reaper = &grant.Reaper{
		M:            m,
		Leases:       db.Collection(grantLeaseCollection),
		Holder:       holderID(),
		LeaseTTL:     reaperLeaseTTL,
		MaxAttempts:  reaperMaxAttempts,
		PendingAfter: reaperPendingAfter,
		Databases:    literalGrantDatabases(set),
	}
	return g
}

// start runs the reaper until close, which waits for its pass to finish.
func (g *grantRuntime) start() {
	if g.reaper == nil {
		return
	}
	r, m, logger := g.reaper, g.m, g.log
	metrics := newReaperMetrics(g.reg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Loop(ctx, reaperInterval, func(rep grant.Report, err error) {
			onReaperPass(ctx, logger, m, metrics, rep, err)
		})
	}()
	logger.Info("grant reaper started", "holder", r.Holder, "interval", reaperInterval)
	g.stop = func() {
		cancel()
		<-done
	}
}

func (g *grantRuntime) close() {
	if g != nil && g.stop != nil {
		g.stop()
	}
}

func onReaperPass(ctx context.Context, logger *slog.Logger, m *grant.Manager, metrics *reaperMetrics, rep grant.Report, err error) {
	switch {
	case err != nil:
		metrics.passes.WithLabelValues("error").Inc()
		if ctx.Err() == nil {
			logger.Error("grant reaper pass failed", "err", err)
		}
	case !rep.Acquired:
		metrics.passes.WithLabelValues("standby").Inc()
	default:
		metrics.passes.WithLabelValues("ok").Inc()
	}
	metrics.revoked.WithLabelValues("expired").Add(float64(rep.Revoked))
	metrics.revoked.WithLabelValues("crashed").Add(float64(rep.Cleaned))
	metrics.revoked.WithLabelValues("orphan").Add(float64(rep.Orphans))
	metrics.revoked.WithLabelValues("failure").Add(float64(rep.Failures))
	if rep.Revoked+rep.Cleaned+rep.Orphans+rep.Failures > 0 {
		logger.Info("grant reaper pass", "expired", rep.Revoked, "crashed", rep.Cleaned, "orphans", rep.Orphans,
			"failures", rep.Failures, "flagged", rep.Flagged)
	}
	if rep.Flagged > 0 {
		logger.Error("grants flagged: revocation failed repeatedly; a person must drop their users and roles", "count", rep.Flagged)
	}
	// Every proxy reports the ledger's count, lease or not.
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if n, err := m.Ledger.Count(cctx, bson.D{{Key: "status", Value: grant.Flagged}}); err == nil {
		metrics.flagged.Set(float64(n))
	}
}

// holderID names this process for the reaper lease.
func holderID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "pm-" + hex.EncodeToString(b)
}

// uriHosts is the host list of a MongoDB URI, for the URI handed out with a
// grant; it never carries the proxy's own credentials. A mongodb+srv URI is
// resolved to its hosts (its TXT options, TLS among them, are not carried
// over: see docs/grants.md).
func uriHosts(uri string, logger *slog.Logger) string {
	hosts, srv, err := store.URIHosts(uri)
	if err != nil {
		logger.Warn("cannot read hosts from the MongoDB URI; issued grant URIs will name none", "err", err)
		return ""
	}
	if srv {
		logger.Warn("MongoDB URI is mongodb+srv: issued grant URIs name the resolved hosts without its DNS options (tls, replicaSet)")
	}
	return strings.Join(hosts, ",")
}

// literalGrantDatabases are the databases grant rules name without
// wildcards: reconciled even before the ledger mentions them.
func literalGrantDatabases(set *policy.Set) []string {
	seen := map[string]bool{}
	var out []string
	for _, g := range set.Grants {
		for _, d := range g.Databases {
			if _, err := filepath.Match(d, ""); err == nil && !strings.ContainsAny(d, `*?[\`) && !seen[d] {
				seen[d] = true
				out = append(out, d)
			}
		}
	}
	return out
}
