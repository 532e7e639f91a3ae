package main

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/config"
	"github.com/permission-mongo/permission-mongo/internal/fleet"
	"github.com/permission-mongo/permission-mongo/internal/ratelimit"
)

// fleetRuntime is what this proxy shares with the others through Redis:
// rate limit counters, key revocations and policy reloads (docs/scaling.md).
type fleetRuntime struct {
	redis  *fleet.Redis // nil without redis.addr
	limits *ratelimit.Limiter
	// denyOnDown: some limit answers 503 while Redis is down, so the proxy
	// is not ready then.
	denyOnDown bool
	cancel     context.CancelFunc
}

func startFleet(cfg *config.Config, logger *slog.Logger, reg prometheus.Registerer) *fleetRuntime {
	ctx, cancel := context.WithCancel(context.Background())
	f := &fleetRuntime{cancel: cancel}
	if cfg.Redis.Addr != "" {
		f.redis = fleet.Dial(fleet.RedisOptions{
			Addr: cfg.Redis.Addr, Password: cfg.Redis.Password, DB: cfg.Redis.DB,
			Prefix: cfg.Redis.Prefix, Timeout: cfg.Redis.Timeout,
		}, logger, reg)
		// The first probe runs now so that a proxy whose Redis is up starts
		// counting there from its first request.
		pctx, pcancel := context.WithTimeout(ctx, cfg.Redis.Timeout)
		if err := f.redis.Ping(pctx); err != nil {
			logger.Warn("redis unreachable at start; falling back until it answers", "addr", cfg.Redis.Addr, "err", err)
		}
		pcancel()
		go f.redis.Run(ctx)
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
	return f
}

// status is the fleet part of /readyz.
func (f *fleetRuntime) status(ctx context.Context) (map[string]any, error) {
	out := map[string]any{}
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
