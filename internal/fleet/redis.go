// Package fleet is what several proxies sharing one Redis have in common: the
// connection and its health, the messages that keep them in step (API key
// revocations, policy reloads) and the API key cache those messages
// invalidate. Without Redis every piece still works within one process.
package fleet

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// RedisOptions configure Dial.
type RedisOptions struct {
	Addr     string
	Password string
	DB       int
	// Prefix starts every key and channel.
	Prefix string
	// Timeout bounds one call, dialling included.
	Timeout time.Duration
	// ProbeEvery is how often the connection is checked (1s when 0).
	ProbeEvery time.Duration
}

// Redis is a Redis client with a known state: Up is false from the first
// failed call until a probe answers again, so that requests do not each wait
// for a dead server's timeout.
type Redis struct {
	Client *redis.Client
	Prefix string
	every  time.Duration
	log    *slog.Logger
	up     atomic.Bool
	upG    prometheus.Gauge
	errs   prometheus.Counter
	mu     sync.Mutex
	lastOK time.Time
	wake   chan struct{}
}

// Dial builds the client; it does not wait for the server. The state starts
// down and the first probe (Run) brings it up.
func Dial(o RedisOptions, log *slog.Logger, reg prometheus.Registerer) *Redis {
	if o.Timeout <= 0 {
		o.Timeout = 250 * time.Millisecond
	}
	if o.ProbeEvery <= 0 {
		o.ProbeEvery = time.Second
	}
	if log == nil {
		log = slog.Default()
	}
	// go-redis writes its own complaints to stderr; they belong in the
	// server's log, where the state changes are already reported.
	redis.SetLogger(redisLog{log})
	r := &Redis{
		Client: redis.NewClient(&redis.Options{
			Addr: o.Addr, Password: o.Password, DB: o.DB,
			DialTimeout: o.Timeout, ReadTimeout: o.Timeout, WriteTimeout: o.Timeout,
			PoolTimeout: o.Timeout,
			// One dial per call: the fallback, not a retry loop, answers
			// while Redis is down.
			DialerRetries: 1,
			// A retry doubles the wait on a dead server; the caller's
			// fallback is the retry.
			MaxRetries: -1,
		}),
		Prefix: o.Prefix, every: o.ProbeEvery, log: log, wake: make(chan struct{}, 1),
		upG: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pm_redis_up", Help: "1 while Redis answers, 0 while this proxy runs on its fallbacks.",
		}),
		errs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pm_redis_errors_total", Help: "Redis calls that failed (each turns the state down until a probe answers).",
		}),
	}
	if reg != nil {
		reg.MustRegister(r.upG, r.errs)
	}
	return r
}

// Up reports whether Redis answered the last call or probe.
func (r *Redis) Up() bool { return r != nil && r.up.Load() }

// Failed records a failed call: the state goes down until a probe answers.
func (r *Redis) Failed(err error) {
	r.errs.Inc()
	if r.up.Swap(false) {
		r.upG.Set(0)
		r.log.Warn("redis unreachable; rate limits and propagation fall back", "err", err)
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

// Ping checks Redis now and updates the state.
func (r *Redis) Ping(ctx context.Context) error {
	err := r.Client.Ping(ctx).Err()
	if err != nil {
		r.Failed(err)
		return err
	}
	if !r.up.Swap(true) {
		r.upG.Set(1)
		r.log.Info("redis reachable")
	}
	r.mu.Lock()
	r.lastOK = time.Now()
	r.mu.Unlock()
	return nil
}

// Run probes Redis until ctx ends.
func (r *Redis) Run(ctx context.Context) {
	t := time.NewTicker(r.every)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, r.every)
		_ = r.Ping(pctx)
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.wake:
		}
	}
}

// Close closes the client.
func (r *Redis) Close() error { return r.Client.Close() }

type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(_ context.Context, format string, v ...any) {
	l.log.Debug("redis client: " + fmt.Sprintf(format, v...))
}
