package ratelimit

import (
	"sync"
	"time"
)

// result is one GCRA answer, the same from Redis and from memory.
type result struct {
	allowed    bool
	remaining  int
	retryAfter time.Duration // 0 when allowed
	resetAfter time.Duration // until the counter is back to full
}

// local is the in-process GCRA: the same arithmetic as the Redis script,
// kept in a map from counter key to its theoretical arrival time (TAT).
type local struct {
	mu   sync.Mutex
	tat  map[string]time.Time
	max  int
	now  func() time.Time
	grow int // entries added since the last sweep
}

func newLocal(max int, now func() time.Time) *local {
	if now == nil {
		now = time.Now
	}
	return &local{tat: map[string]time.Time{}, max: max, now: now}
}

// allow spends cost (0 only looks) from the counter key under rule r.
func (l *local) allow(key string, r *Rule, cost int) result {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	interval := r.interval()
	tat, ok := l.tat[key]
	if !ok || tat.Before(now) {
		tat = now
	}
	newTAT := tat.Add(time.Duration(cost) * interval)
	allowAt := newTAT.Add(-time.Duration(r.capacity()) * interval)
	diff := now.Sub(allowAt)
	if diff < 0 {
		return result{retryAfter: -diff, resetAfter: tat.Sub(now)}
	}
	if cost > 0 {
		if !ok {
			l.grow++
		}
		l.tat[key] = newTAT
		l.sweep(now)
	}
	return result{allowed: true, remaining: int(diff / interval), resetAfter: newTAT.Sub(now)}
}

// sweep keeps the map bounded. A counter whose TAT is past is full, which is
// the same as absent, so dropping it changes no answer. Only when more live
// counters than max exist (a flood of distinct callers) are live ones
// dropped: those callers get a fresh allowance, the lesser harm than
// unbounded memory.
func (l *local) sweep(now time.Time) {
	if len(l.tat) <= l.max || l.grow < l.max/4+1 {
		return
	}
	l.grow = 0
	for k, t := range l.tat {
		if !t.After(now) {
			delete(l.tat, k)
		}
	}
	for k := range l.tat {
		if len(l.tat) <= l.max {
			break
		}
		delete(l.tat, k)
	}
}

func (l *local) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.tat)
}
