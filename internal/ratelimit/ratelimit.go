// Package ratelimit enforces the rate_limits of the server configuration:
// GCRA counters kept in Redis when it is configured (so that every proxy
// sharing it counts together), in process memory otherwise, with the same
// arithmetic in both places.
//
// One Check per request looks at every limit matching the request's route
// class and caller; the tightest one becomes the X-RateLimit-* headers.
// Failed authentications are counted separately (AuthFailed) and looked at
// before any credential is checked (AuthBlocked).
package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"slices"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// Route classes a rule applies to.
const (
	ClassRead        = "read"
	ClassWrite       = "write"
	ClassAggregate   = "aggregate"
	ClassImport      = "import"
	ClassAdmin       = "admin"
	ClassAuthFailure = "auth_failure"
	ClassAll         = "all"
)

// What to do when Redis does not answer.
const (
	OnErrorLocal = "local"
	OnErrorAllow = "allow"
	OnErrorDeny  = "deny"
)

// Rule is one configured limit.
type Rule struct {
	Name         string
	By           string // principal | tenant | api_key | ip
	AppliesTo    []string
	Limit        int
	Per          time.Duration
	Burst        int
	OnRedisError string // local (default) | allow | deny
}

// interval is the GCRA emission interval: one request per interval.
func (r *Rule) interval() time.Duration {
	iv := r.Per / time.Duration(r.Limit)
	if iv <= 0 {
		iv = 1
	}
	return iv
}

// capacity is how many requests an idle counter takes at once: the one the
// rate allows now plus the burst. Over any window of Per that makes at most
// Limit+Burst.
func (r *Rule) capacity() int { return r.Burst + 1 }

func (r *Rule) applies(class string) bool {
	return slices.Contains(r.AppliesTo, class) || (class != ClassAuthFailure && slices.Contains(r.AppliesTo, ClassAll))
}

// Subject is who a request counts against; an empty field makes the rules
// keyed by it not apply (a JWT caller has no api_key).
type Subject struct {
	Principal string
	Tenant    string
	APIKey    string
	IP        string
}

func (s Subject) of(by string) string {
	switch by {
	case "principal":
		return s.Principal
	case "tenant":
		return s.Tenant
	case "api_key":
		return s.APIKey
	case "ip":
		return s.IP
	}
	return ""
}

// Decision is the outcome of a check. When Applied is false no rule matched
// and no header is sent.
type Decision struct {
	Applied bool
	// Allowed is false when a limit refused the request: 429, or 503 when
	// Unavailable (a deny rule whose Redis is down).
	Allowed     bool
	Unavailable bool
	// Rule names the tightest matching limit (or the refusing one).
	Rule       string
	Limit      int
	Remaining  int
	Reset      time.Duration
	RetryAfter time.Duration
}

// Health is the Redis connection state shared by every user of Redis: a
// failed call reports itself, and a prober brings the state back up.
type Health interface {
	Up() bool
	Failed(err error)
}

// Params configure a Limiter.
type Params struct {
	Rules []Rule
	// Redis is nil for process-local limits.
	Redis  *redis.Client
	Health Health
	// Prefix starts every Redis key.
	Prefix string
	// Timeout bounds one Redis call (250ms when 0).
	Timeout  time.Duration
	Registry prometheus.Registerer
	Logger   *slog.Logger
	// MaxLocalKeys bounds the in-process counters (100000 when 0).
	MaxLocalKeys int
	// Now is the clock of the in-process counters (tests).
	Now func() time.Time
}

// Limiter checks requests against the rules.
type Limiter struct {
	rules   []Rule
	redis   *redis_rate.Limiter
	health  Health
	prefix  string
	timeout time.Duration
	local   *local
	log     *slog.Logger
	count   *prometheus.CounterVec
}

// New builds a Limiter. It does not contact Redis.
func New(p Params) *Limiter {
	l := &Limiter{rules: slices.Clone(p.Rules), health: p.Health, prefix: p.Prefix, timeout: p.Timeout, log: p.Logger}
	for i := range l.rules {
		if l.rules[i].OnRedisError == "" {
			l.rules[i].OnRedisError = OnErrorLocal
		}
	}
	if p.Redis != nil {
		l.redis = redis_rate.NewLimiter(p.Redis)
	}
	if l.timeout <= 0 {
		l.timeout = 250 * time.Millisecond
	}
	if l.log == nil {
		l.log = slog.Default()
	}
	max := p.MaxLocalKeys
	if max <= 0 {
		max = 100000
	}
	l.local = newLocal(max, p.Now)
	l.count = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pm_ratelimit_decisions_total",
		Help: "Rate limit decisions by limit, result (allowed, limited, unavailable) and where counted (redis, local, none when Redis was down and the limit allows).",
	}, []string{"limit", "result", "store"})
	if p.Registry != nil {
		p.Registry.MustRegister(l.count)
	}
	return l
}

// Enabled reports whether any rule is configured.
func (l *Limiter) Enabled() bool { return l != nil && len(l.rules) > 0 }

// Check spends one request of every limit matching class and s.
func (l *Limiter) Check(ctx context.Context, class string, s Subject) Decision {
	return l.check(ctx, class, s, 1)
}

// AuthBlocked reports, without counting anything, whether failed
// authentications from this address or for this key id are over their
// limit, so that the request is refused before the credential is checked.
func (l *Limiter) AuthBlocked(ctx context.Context, ip, keyID string) Decision {
	return l.check(ctx, ClassAuthFailure, Subject{IP: ip, APIKey: keyID}, 0)
}

// AuthFailed counts one failed authentication.
func (l *Limiter) AuthFailed(ctx context.Context, ip, keyID string) {
	l.check(ctx, ClassAuthFailure, Subject{IP: ip, APIKey: keyID}, 1)
}

func (l *Limiter) check(ctx context.Context, class string, s Subject, cost int) Decision {
	d := Decision{Allowed: true}
	if l == nil {
		return d
	}
	for i := range l.rules {
		r := &l.rules[i]
		who := s.of(r.By)
		if who == "" || !r.applies(class) {
			continue
		}
		res, store, ok := l.allow(ctx, r, who, cost)
		if !ok {
			l.count.WithLabelValues(r.Name, "unavailable", store).Inc()
			return Decision{Applied: true, Unavailable: true, Rule: r.Name, Limit: r.Limit, RetryAfter: time.Second}
		}
		if store == "none" { // Redis down, rule says allow: no counter, no header
			l.count.WithLabelValues(r.Name, "allowed", store).Inc()
			continue
		}
		// A look (cost 0) is refused when the next failure would be.
		refused := !res.allowed || (cost == 0 && res.remaining < 1)
		if cost > 0 || refused {
			result := "allowed"
			if refused {
				result = "limited"
			}
			l.count.WithLabelValues(r.Name, result, store).Inc()
		}
		if refused {
			retry := res.retryAfter
			if cost == 0 {
				retry = res.resetAfter - time.Duration(r.capacity()-1)*r.interval()
			}
			return Decision{Applied: true, Rule: r.Name, Limit: r.Limit, Remaining: 0, Reset: res.resetAfter, RetryAfter: max(retry, time.Millisecond)}
		}
		if !d.Applied || res.remaining < d.Remaining || (res.remaining == d.Remaining && res.resetAfter > d.Reset) {
			d = Decision{Applied: true, Allowed: true, Rule: r.Name, Limit: r.Limit, Remaining: res.remaining, Reset: res.resetAfter}
		}
	}
	return d
}

// allow asks Redis, or memory when Redis is not configured or down. ok is
// false when the rule refuses to decide without Redis (deny).
func (l *Limiter) allow(ctx context.Context, r *Rule, who string, cost int) (res result, store string, ok bool) {
	key := l.key(r, who)
	if l.redis != nil {
		if l.health == nil || l.health.Up() {
			rctx, cancel := context.WithTimeout(ctx, l.timeout)
			rr, err := l.redis.AllowN(rctx, key, redis_rate.Limit{Rate: r.Limit, Period: r.Per, Burst: r.capacity()}, cost)
			cancel()
			if err == nil {
				res = result{allowed: rr.Allowed > 0 || (cost == 0 && rr.Remaining >= 0), remaining: rr.Remaining, resetAfter: rr.ResetAfter}
				if rr.RetryAfter > 0 {
					res.retryAfter = rr.RetryAfter
				}
				return res, "redis", true
			}
			if ctx.Err() != nil {
				// The client went away; that says nothing about Redis.
				return result{allowed: true}, "none", true
			}
			if l.health != nil {
				l.health.Failed(err)
			}
		}
		switch r.OnRedisError {
		case OnErrorAllow:
			return result{allowed: true}, "none", true
		case OnErrorDeny:
			return result{}, "none", false
		}
	}
	return l.local.allow(key, r, cost), "local", true
}

// key names the counter. Caller-chosen values (a principal id, a key id)
// are hashed when long, so that no caller can make keys of any size.
func (l *Limiter) key(r *Rule, who string) string {
	if len(who) > 64 {
		sum := sha256.Sum256([]byte(who))
		who = "h:" + hex.EncodeToString(sum[:16])
	}
	return l.prefix + "rl:" + r.Name + ":" + r.By + ":" + who
}

// Metrics is the decisions counter (tests).
func (l *Limiter) Metrics() *prometheus.CounterVec { return l.count }

// LocalCounters is the number of in-process counters held.
func (l *Limiter) LocalCounters() int { return l.local.size() }
