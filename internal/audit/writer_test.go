package audit_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/audit"
	"github.com/permission-mongo/permission-mongo/internal/principal"
)

// A burst of concurrent operations leaves exactly one entry each, in one
// valid chain.
func TestBurstOneEntryEach(t *testing.T) {
	t.Parallel()
	coll := auditColl(t)
	reg := prometheus.NewRegistry()
	w := newWriter(t, coll, audit.Options{Registerer: reg})
	ctx := t.Context()

	const n = 2000
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			e := entry("create", "orders", i)
			if i%2 == 0 {
				errs <- w.Record(ctx, e)
				return
			}
			// Half go through Begin/Finish, as requests do.
			op, err := w.Begin(ctx, e)
			if err != nil {
				errs <- err
				return
			}
			op.AddCount(1)
			op.Finish(201, "")
			errs <- nil
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	closeWriter(t, w)

	got := stored(t, coll)
	require.Len(t, got, n)
	seen := map[string]bool{}
	for i, e := range got {
		require.False(t, seen[e.RequestID], "request %s recorded twice", e.RequestID)
		seen[e.RequestID] = true
		require.EqualValues(t, i+1, e.Seq)
	}
	requireIntact(t, coll, n)

	st := w.Stats()
	require.EqualValues(t, n, st.Written)
	require.Zero(t, st.QueueDepth)
	require.Zero(t, st.Lost)
	require.InDelta(t, n, metricValue(t, reg, "pm_audit_entries_written_total"), 0)
	heads := w.Heads() // the own chain (empty), then t1's
	require.Len(t, heads, 2)
	require.EqualValues(t, n, heads[1].Seq)
	require.Equal(t, got[n-1].Hash, heads[1].Hash)
}

// metricValue reads a counter or gauge as exported.
func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

// Close writes everything queued, even entries that would otherwise wait
// for a flush that is an hour away.
func TestCloseFlushesEverything(t *testing.T) {
	t.Parallel()
	coll := auditColl(t)
	w := newWriter(t, coll, audit.Options{FlushInterval: time.Hour, BatchSize: 1000, QueueSize: 5000})
	ctx := t.Context()
	for i := range 300 {
		require.NoError(t, w.Record(ctx, entry("delete", "c", i)))
	}
	require.EqualValues(t, 300, w.Stats().QueueDepth, "nothing flushed before Close")
	closeAndRequireStored(t, w, coll, 300)

	// Closed: nothing more is accepted, and saying so is a 503, not a panic.
	err := w.Record(ctx, entry("delete", "c", 301))
	require.Equal(t, apperr.KindUnavailable, apperr.KindOf(err))
	_, err = w.Begin(ctx, entry("delete", "c", 302))
	require.Equal(t, apperr.KindUnavailable, apperr.KindOf(err))
	require.NoError(t, w.Close(ctx), "second Close")
}

// Close waits for operations that have begun: their entries are written too.
func TestCloseWaitsForRunningOperations(t *testing.T) {
	t.Parallel()
	coll := auditColl(t)
	w := newWriter(t, coll, audit.Options{})
	op, err := w.Begin(t.Context(), entry("update", "c", 1))
	require.NoError(t, err)
	closed := make(chan error)
	go func() {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		closed <- w.Close(ctx)
	}()
	time.Sleep(50 * time.Millisecond)
	select {
	case err := <-closed:
		t.Fatalf("Close returned while an operation was running: %v", err)
	default:
	}
	op.Finish(200, "")
	require.NoError(t, <-closed)
	require.EqualValues(t, 1, count(t, coll))
}

// Begin reserves room: once QueueSize operations are running or queued, the
// next one waits for room (back-pressure) instead of being refused; it is
// refused only when its context ends first. A full queue is not an outage:
// Available (readiness) stays nil.
func TestBeginWaitsForRoom(t *testing.T) {
	t.Parallel()
	coll := auditColl(t)
	w := newWriter(t, coll, audit.Options{QueueSize: 3, BatchSize: 3, FlushInterval: time.Hour})
	ctx := t.Context()
	var ops []*audit.Op
	for i := range 3 {
		op, err := w.Begin(ctx, entry("create", "c", i))
		require.NoError(t, err)
		ops = append(ops, op)
	}
	require.NoError(t, w.Available(), "a full queue is not unavailability")

	// A caller whose deadline passes while it waits is refused, before it runs.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err := w.Begin(short, entry("create", "c", 3))
	cancel()
	require.Equal(t, apperr.KindUnavailable, apperr.KindOf(err), "%v", err)
	var ae *apperr.Error
	require.ErrorAs(t, err, &ae)
	require.NotContains(t, ae.Message, "queue", "client-visible text says nothing of internals")
	require.EqualValues(t, 1, w.Stats().Refused)

	// Callers without a deadline wait until the running operations finish
	// and their (full) batch is written, an hour before the flush interval.
	type result struct {
		op  *audit.Op
		err error
	}
	waiting := make(chan result, 2)
	for i := range 2 {
		go func() {
			op, err := w.Begin(ctx, entry("create", "c", 10+i))
			waiting <- result{op, err}
		}()
	}
	eventually(t, 10*time.Second, func() bool { return w.Stats().Waited >= 3 }, "both callers wait for room")
	select {
	case r := <-waiting:
		t.Fatalf("Begin returned while the queue was full: %v", r.err)
	default:
	}
	for _, op := range ops {
		op.Finish(201, "") // never refused: the room was reserved
	}
	for range 2 {
		r := <-waiting
		require.NoError(t, r.err)
		r.op.Finish(201, "")
	}
	closeWriter(t, w)
	require.EqualValues(t, 5, w.Stats().Written)
	require.EqualValues(t, 1, w.Stats().Refused)
	require.True(t, verifyAll(t, coll).OK)
}

// The Op in the request context collects details from wherever they are
// known; Finish records once.
func TestOpThroughContext(t *testing.T) {
	t.Parallel()
	coll := auditColl(t)
	w := newWriter(t, coll, audit.Options{})
	base := audit.Entry{RequestID: "req-1", IP: "192.0.2.1", UserAgent: "curl/8", Action: "update", Collection: "orders"}
	op, err := w.Begin(t.Context(), base)
	require.NoError(t, err)
	ctx := audit.NewContext(t.Context(), op)

	// What the authenticator, the handler and the service would do.
	audit.FromContext(ctx).SetActor(&principal.Principal{ID: "u1", TenantID: "t1", Roles: []string{"editor"}, Auth: "api_key", KeyID: "k1",
		Claims: map[string]any{"token": "s3cr3t"}})
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			audit.FromContext(ctx).AddDocIDs("d" + strconv.Itoa(i))
			audit.FromContext(ctx).AddCount(1)
			audit.FromContext(ctx).AddChangedFields("status", "items.0.qty")
		})
	}
	wg.Wait()
	time.Sleep(2 * time.Millisecond)
	op.Finish(403, "FORBIDDEN")
	op.Finish(500, "INTERNAL") // ignored: the first Finish counts

	// Outside an audited request the Op is nil and every method is a no-op.
	none := audit.FromContext(t.Context())
	require.Nil(t, none)
	none.AddCount(1)
	none.SetActor(nil)
	none.Finish(200, "")

	closeWriter(t, w)
	got := stored(t, coll)
	require.Len(t, got, 1)
	e := got[0]
	require.Equal(t, "req-1", e.RequestID)
	require.Equal(t, audit.Actor{ID: "u1", TenantID: "t1", Roles: []string{"editor"}, Auth: "api_key", KeyID: "k1"}, e.Actor)
	require.Len(t, e.DocIDs, 10)
	require.EqualValues(t, 10, e.Count)
	require.Equal(t, []string{"items.0.qty", "status"}, e.ChangedFields)
	require.Equal(t, audit.OutcomeDenied, e.Outcome)
	require.Equal(t, 403, e.Status)
	require.Equal(t, "FORBIDDEN", e.ErrorCode)
	require.Greater(t, e.LatencyMS, 1.0)
	require.NotContains(t, strings.Join(append(e.DocIDs, e.ChangedFields...), " "), "s3cr3t")
}

// Shutdown under load (SIGTERM): Close while operations keep arriving.
// Every operation that Begin accepted is stored; the others were refused
// before they ran.
func TestCloseUnderLoadLosesNone(t *testing.T) {
	t.Parallel()
	coll := auditColl(t)
	w := newWriter(t, coll, audit.Options{BatchSize: 50})
	ctx := t.Context()

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		accepted = map[string]bool{}
	)
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				e := entry("create", "c", i)
				e.RequestID = "g" + strconv.Itoa(g) + "-" + strconv.Itoa(i)
				op, err := w.Begin(ctx, e)
				if err != nil {
					assert.Equal(t, apperr.KindUnavailable, apperr.KindOf(err))
					return
				}
				time.Sleep(time.Millisecond) // the operation itself
				mu.Lock()
				accepted[e.RequestID] = true
				mu.Unlock()
				op.Finish(201, "")
			}
		})
	}
	// Close in the middle of the load: once some operations went through
	// (a count, not a time, so a slow machine only takes longer).
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(accepted) >= 20
	}, 2*time.Minute, 5*time.Millisecond)
	closeWriter(t, w)
	wg.Wait()

	got := stored(t, coll)
	require.NotEmpty(t, accepted)
	require.Len(t, got, len(accepted))
	for _, e := range got {
		require.True(t, accepted[e.RequestID], e.RequestID)
	}
	require.True(t, verifyAll(t, coll).OK)
	require.Zero(t, w.Stats().Lost)
}

// A load that outruns the inserts many times over is slowed down, not
// refused: with a queue of 40 entries and 16 goroutines recording 3,200
// operations, every one is accepted, stored once, and the chain verifies
// although batches are inserted four at a time and finish in any order.
func TestSustainedLoadWaitsInsteadOfRefusing(t *testing.T) {
	t.Parallel()
	coll := auditColl(t)
	w := newWriter(t, coll, audit.Options{QueueSize: 40, BatchSize: 8, MaxInFlight: 4, MaxWait: time.Minute})
	ctx := t.Context()
	const goroutines, each = 16, 200
	var refused atomic.Int64
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				e := entry("read", "c", g*each+i)
				op, err := w.Begin(ctx, e)
				if err != nil {
					refused.Add(1)
					t.Errorf("refused under load: %v", err)
					return
				}
				op.Finish(200, "")
			}
		})
	}
	wg.Wait()
	require.Zero(t, refused.Load())
	closeWriter(t, w)

	st := w.Stats()
	require.Zero(t, st.Refused)
	require.Positive(t, st.Waited, "the queue was full: callers waited for room")
	require.EqualValues(t, goroutines*each, st.Written)
	got := stored(t, coll)
	require.Len(t, got, goroutines*each)
	seen := map[string]bool{}
	for _, e := range got {
		require.False(t, seen[e.RequestID], "request %s stored twice", e.RequestID)
		seen[e.RequestID] = true
	}
	requireIntact(t, coll, goroutines*each)
}

// Callers waiting for room in a full queue are refused as soon as the store
// fails (they do not wait out MaxWait), and once it is back the queue
// drains and callers are accepted again.
func TestWaitersRefusedWhenStoreFails(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	o := newOutage(t)
	w := o.writer(t, audit.Options{Mode: audit.ModeFailClosed, QueueSize: 4, BatchSize: 2, MaxWait: time.Hour})
	require.NoError(t, w.Record(ctx, entry("create", "c", 0)))
	eventually(t, 10*time.Second, func() bool { return w.Stats().Written == 1 }, "first entry written")

	o.stop()
	var ops []*audit.Op
	for i := range 4 {
		op, err := w.Begin(ctx, entry("create", "c", 1+i))
		require.NoError(t, err)
		ops = append(ops, op)
	}
	waiting := make(chan error, 1)
	go func() {
		_, err := w.Begin(ctx, entry("create", "c", 9))
		waiting <- err
	}()
	eventually(t, 10*time.Second, func() bool { return w.Stats().Waited == 1 }, "the fifth caller waits for room")
	for _, op := range ops {
		op.Finish(201, "") // a full batch: the writer tries, fails, goes unavailable
	}
	select {
	case err := <-waiting:
		require.Equal(t, apperr.KindUnavailable, apperr.KindOf(err), "%v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("a caller waiting for room was not refused when the store failed")
	}
	require.Error(t, w.Available())

	o.start()
	eventually(t, 30*time.Second, func() bool { return w.Available() == nil }, "available again once the store is back")
	require.NoError(t, w.Record(ctx, entry("create", "c", 10)))
	closeAndRequireStored(t, w, o.coll(), 6)
}
