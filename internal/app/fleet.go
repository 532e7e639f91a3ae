package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/config"
	"github.com/permission-mongo/permission-mongo/internal/fleet"
	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/ratelimit"
	"github.com/permission-mongo/permission-mongo/internal/service"
	"github.com/permission-mongo/permission-mongo/internal/store"
)

// fleetRuntime is what this proxy shares with the others through Redis:
// rate limit counters, key revocations and policy reloads (docs/scaling.md).
type fleetRuntime struct {
	redis  *fleet.Redis // nil without redis.addr
	limits *ratelimit.Limiter
	// denyOnDown: some limit answers 503 while Redis is down, so the proxy
	// is not ready then.
	denyOnDown bool
	// ctx lives until close: the loops start runs and the reloads the bus
	// asks for.
	ctx    context.Context
	cancel context.CancelFunc

	bus  *fleet.Bus
	keys *fleet.KeyCache
	log  *slog.Logger

	// The policy this proxy enforces, by hash, and how to reload it.
	cfg *config.Config
	// prepare runs on a newly loaded set before it replaces the running
	// one; an error refuses the set like a load error.
	prepare    func(context.Context, *policy.Set) error
	svc        *service.Service
	reloadMu   sync.Mutex
	policyHash string
	hashGauge  *prometheus.GaugeVec
	reloads    *prometheus.CounterVec
}

// newFleet prepares the Redis connection (when configured), the rate
// limiter and the bus that start then follows: the other proxies' key
// revocations drop entries from keys, their policy reloads reload this
// proxy's files (set is the policy loaded at start). prepare is run on every
// reloaded set before it applies (fleetRuntime.prepare).
func newFleet(cfg *config.Config, logger *slog.Logger, reg prometheus.Registerer, keys *fleet.KeyCache, svc *service.Service, set *policy.Set,
	prepare func(context.Context, *policy.Set) error) *fleetRuntime {
	ctx, cancel := context.WithCancel(context.Background())
	f := &fleetRuntime{ctx: ctx, cancel: cancel, keys: keys, log: logger, cfg: cfg, svc: svc, prepare: prepare}
	f.hashGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "pm_policy_info",
		Help: "1 for the hash of the policy files this proxy enforces; compare across proxies.",
	}, []string{"hash"})
	f.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pm_policy_reloads_total",
		Help: "Policy reloads by result (ok, refused) and trigger (api, signal, fleet).",
	}, []string{"result", "trigger"})
	reg.MustRegister(f.hashGauge, f.reloads)
	f.setHash(policyHash(set.Files))
	if cfg.Redis.Addr != "" {
		f.redis = fleet.Dial(fleet.RedisOptions{
			Addr: cfg.Redis.Addr, Password: cfg.Redis.Password, DB: cfg.Redis.DB,
			Prefix: cfg.Redis.Prefix, Timeout: cfg.Redis.Timeout,
		}, logger, reg)
	}
	rules := make([]ratelimit.Rule, len(cfg.RateLimits))
	for i, r := range cfg.RateLimits {
		rules[i] = ratelimit.Rule{Name: r.Name, By: r.By, AppliesTo: r.AppliesTo, Limit: r.Limit, Per: r.Per, Burst: r.Burst, OnRedisError: r.OnRedisError}
		f.denyOnDown = f.denyOnDown || r.OnRedisError == ratelimit.OnErrorDeny
	}
	p := ratelimit.Params{Rules: rules, Prefix: cfg.Redis.Prefix, Timeout: cfg.Redis.Timeout, Registry: reg, Logger: logger}
	if f.redis != nil {
		p.Redis, p.Health = f.redis.Client, f.redis
	}
	f.limits = ratelimit.New(p)

	f.bus = fleet.NewBus(f.redis, logger)
	keys.Follow(f.bus)
	f.bus.On(fleet.KindPolicy, func(m fleet.Message) {
		// Off the bus goroutine: a slow load must not hold up revocations.
		go func() {
			hash, err := f.reload(ctx, "fleet")
			if err == nil && hash != m.Data {
				logger.Warn("reloaded on another proxy's request, but the policy files differ from its", "here", hash, "there", m.Data)
			}
		}()
	})
	return f
}

// start probes Redis and follows it and the bus until close.
func (f *fleetRuntime) start() {
	if f.redis != nil {
		// The first probe runs now so that a proxy whose Redis is up starts
		// counting there from its first request.
		pctx, pcancel := context.WithTimeout(f.ctx, f.cfg.Redis.Timeout)
		if err := f.redis.Ping(pctx); err != nil {
			f.log.Warn("redis unreachable at start; falling back until it answers", "addr", f.cfg.Redis.Addr, "err", err)
		}
		pcancel()
		go f.redis.Run(f.ctx)
	}
	go f.bus.Run(f.ctx)
}

// policyHash identifies a policy by the contents of its files, in path
// order, so that proxies reading copies of the same files agree.
func policyHash(files []string) string {
	files = slices.Sorted(slices.Values(files))
	h := sha256.New()
	for _, name := range files {
		b, err := os.ReadFile(name) //nolint:gosec // G304: the policy files the operator configured
		if err != nil {
			b = []byte("unreadable")
		}
		_, _ = fmt.Fprintf(h, "%d\n", len(b)) // a hash.Hash never fails a write
		_, _ = h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func (f *fleetRuntime) setHash(hash string) {
	f.policyHash = hash
	f.hashGauge.Reset()
	f.hashGauge.WithLabelValues(hash).Set(1)
}

// hash is the policy hash enforced now.
func (f *fleetRuntime) hash() string {
	f.reloadMu.Lock()
	defer f.reloadMu.Unlock()
	return f.policyHash
}

// reload loads the policy files again. A set that fails to load is refused
// and the running one kept.
func (f *fleetRuntime) reload(ctx context.Context, trigger string) (string, error) {
	f.reloadMu.Lock()
	defer f.reloadMu.Unlock()
	set, err := policy.Load(f.cfg.Policies)
	if err == nil && f.prepare != nil {
		// e.g. the indexes new schemas declare, created before they apply.
		err = f.prepare(ctx, set)
	}
	if err != nil {
		f.reloads.WithLabelValues("refused", trigger).Inc()
		f.log.Error("policy reload refused; keeping the running policies", "trigger", trigger, "hash", f.policyHash, "err", err)
		return "", apperr.Wrap(apperr.KindValidation, err, "policies refused, the running ones (%s) are kept: %v", f.policyHash, err)
	}
	f.svc.SetPolicies(set)
	f.setHash(policyHash(set.Files))
	f.reloads.WithLabelValues("ok", trigger).Inc()
	f.log.Info("policies reloaded", "trigger", trigger, "hash", f.policyHash)
	return f.policyHash, nil
}

// reloadAll reloads here and asks every other proxy to do the same. The
// others load their own files: a set refused here is never announced.
func (f *fleetRuntime) reloadAll(ctx context.Context, trigger string) (string, error) {
	hash, err := f.reload(ctx, trigger)
	if err != nil {
		return "", err
	}
	if err := f.bus.Publish(ctx, fleet.KindPolicy, hash); err != nil {
		f.log.Warn("policy reloaded here but not announced: redis unreachable; reload the other proxies by hand", "err", err)
	}
	return hash, nil
}

// keyAdmin is the run-time key store as the admin endpoints see it: a
// revocation also empties the key's cache entry here and, through Redis,
// on every other proxy.
type keyAdmin struct {
	*store.APIKeys
	fleet *fleetRuntime
}

func (k keyAdmin) Revoke(ctx context.Context, tenantID, id string, now time.Time) (bool, error) {
	ok, err := k.APIKeys.Revoke(ctx, tenantID, id, now)
	// Announced even when it was already revoked: repeating a DELETE whose
	// announcement was lost (Redis down) then reaches the other proxies.
	if err == nil {
		k.fleet.keys.Invalidate(id)
		if perr := k.fleet.bus.Publish(ctx, fleet.KindKey, id); perr != nil {
			k.fleet.log.Warn("key revoked but not announced: redis unreachable; other proxies refuse it once their cache entry expires",
				"key_id", id, "within", k.fleet.cfg.Auth.KeyCacheTTL, "err", perr)
		}
	}
	return ok, err
}

// status is the fleet part of /readyz.
func (f *fleetRuntime) status(ctx context.Context) (map[string]any, error) {
	out := map[string]any{"policy_hash": f.hash(), "node": f.bus.Node}
	switch {
	case f.redis == nil:
		out["redis"] = "not configured"
	case f.redis.Up():
		out["redis"] = "up"
	default:
		if f.denyOnDown {
			return nil, apperr.New(apperr.KindUnavailable, "redis unreachable: rate limits with on_redis_error deny refuse every request")
		}
		out["redis"] = "down"
	}
	return out, nil
}

func (f *fleetRuntime) close() {
	if f == nil {
		return
	}
	f.cancel()
	if f.redis != nil {
		_ = f.redis.Close()
	}
}
