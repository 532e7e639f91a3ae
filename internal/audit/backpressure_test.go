package audit_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/audit"
)

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
