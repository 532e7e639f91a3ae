package benchmarks

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/permission-mongo/permission-mongo/internal/fleet"
	"github.com/permission-mongo/permission-mongo/internal/ratelimit"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

// benchRules never refuse: the benchmarks measure the cost of counting.
var benchRules = []ratelimit.Rule{
	{Name: "reads", By: "principal", AppliesTo: []string{"read"}, Limit: 1_000_000_000, Per: time.Second, Burst: 1_000_000_000},
}

func redisLimiterAndClient(b *testing.B) (*ratelimit.Limiter, *fleet.Redis) {
	b.Helper()
	r := fleet.Dial(fleet.RedisOptions{Addr: testenv.Redis(b), Prefix: "bench:"}, quietLog, nil)
	b.Cleanup(func() { _ = r.Close() })
	if err := r.Ping(context.Background()); err != nil {
		b.Fatal(err)
	}
	return ratelimit.New(ratelimit.Params{Rules: benchRules, Redis: r.Client, Health: r, Prefix: r.Prefix, Logger: quietLog}), r
}

// redisCPU is redis-server's own CPU time so far (INFO cpu), the other
// half of what a Redis-counted limit costs.
func redisCPU(b *testing.B, r *fleet.Redis) time.Duration {
	b.Helper()
	info, err := r.Client.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total float64
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatal(err)
			}
			total += f
		}
	}
	return time.Duration(total * float64(time.Second))
}

// BenchmarkLimitCheck: one Check as the middleware makes it, counted in
// process memory and in Redis (one EVALSHA round trip on loopback).
// cpu-µs/op is this process's CPU only; redis-server's is not included.
func BenchmarkLimitCheck(b *testing.B) {
	ctx := context.Background()
	rl, r := redisLimiterAndClient(b)
	for _, c := range []struct {
		name string
		l    *ratelimit.Limiter
		r    *fleet.Redis
	}{
		{"local", ratelimit.New(ratelimit.Params{Rules: benchRules}), nil},
		{"redis", rl, r},
	} {
		b.Run(c.name, func(b *testing.B) {
			var before time.Duration
			if c.r != nil {
				before = redisCPU(b, c.r)
			}
			run(b, func(i int) {
				if d := c.l.Check(ctx, "read", ratelimit.Subject{Principal: fmt.Sprintf("u%d", i%100)}); !d.Allowed || !d.Applied {
					b.Fatalf("refused: %+v", d)
				}
			})
			if c.r != nil {
				b.ReportMetric(float64((redisCPU(b, c.r)-before).Microseconds())/float64(b.N), "redis-cpu-µs/op")
			}
		})
	}
}

// BenchmarkGetByIDLimits: GET /collections/employees/{id} through a proxy
// without limits and through one with a Redis-counted limit on reads, on
// the same data in the same run. Throughput on/off is ns/op off / on.
func BenchmarkGetByIDLimits(b *testing.B) {
	f := setup(b)
	on, key, _ := startProxy(b, f.coll.Database(), proxyOptions{policy: benchPolicy, role: "hr", limited: true})
	limited := &fixture{coll: f.coll, srv: on, key: key, ids: f.ids, calls: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}}
	b.Run("limits_off", func(b *testing.B) {
		run(b, func(i int) { f.get(b, "/collections/employees/"+f.ids[i%len(f.ids)]) })
	})
	b.Run("limits_on", func(b *testing.B) {
		run(b, func(i int) { limited.get(b, "/collections/employees/"+f.ids[i%len(f.ids)]) })
	})
}

// BenchmarkGetByIDLimitsInterleaved alternates the two proxies request by
// request, so that the machine's noise falls on both alike, and reports
// throughput on/off (time off / time on) as a metric.
func BenchmarkGetByIDLimitsInterleaved(b *testing.B) {
	f := setup(b)
	on, key, _ := startProxy(b, f.coll.Database(), proxyOptions{policy: benchPolicy, role: "hr", limited: true})
	limited := &fixture{coll: f.coll, srv: on, key: key, ids: f.ids, calls: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}}
	var tOff, tOn time.Duration
	run(b, func(i int) {
		path := "/collections/employees/" + f.ids[i%len(f.ids)]
		first, second := f, limited
		if i%2 == 1 { // neither always goes first
			first, second = limited, f
		}
		t0 := time.Now()
		first.get(b, path)
		t1 := time.Now()
		second.get(b, path)
		t2 := time.Now()
		if first == f {
			tOff, tOn = tOff+t1.Sub(t0), tOn+t2.Sub(t1)
		} else {
			tOn, tOff = tOn+t1.Sub(t0), tOff+t2.Sub(t1)
		}
	})
	b.ReportMetric(float64(tOff)/float64(tOn), "throughput-on/off")
	b.ReportMetric(float64((tOn-tOff).Microseconds())/float64(b.N), "added-µs/req")
}
