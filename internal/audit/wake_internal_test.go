package audit

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

// A stored batch wakes the operations whose entries it made durable, and
// only those: an operation whose entry is in a later batch sleeps on. A
// waiter that gives up is forgotten, and stopping the writer wakes the rest.
func TestDurableWaitersWokenByTheirOwnBatch(t *testing.T) {
	t.Parallel()
	coll := testenv.Store(t).Collection("audit")
	w, err := NewWriter(Options{Collection: coll, Logger: testenv.Quiet})
	require.NoError(t, err)
	defer func() { _ = w.Close(context.Background()) }()

	early, late, gaveUp := make(chan struct{}), make(chan struct{}), make(chan struct{})
	w.mu.Lock()
	base := w.durable
	w.durableWaiters = append(w.durableWaiters,
		durableWaiter{t: base + 5, ch: late}, durableWaiter{t: base + 1, ch: early}, durableWaiter{t: base + 9, ch: gaveUp})
	w.dropDurableWaiterLocked(gaveUp)
	w.durable += 2
	w.wakeDurableLocked()
	w.mu.Unlock()

	requireClosed(t, early, "ticket 1 is durable")
	requireOpen(t, late, "ticket 5 is not: not woken")
	requireOpen(t, gaveUp, "dropped")

	w.mu.Lock()
	require.Len(t, w.durableWaiters, 1)
	w.stopped = true
	w.wakeDurableLocked()
	require.Empty(t, w.durableWaiters)
	w.stopped = false
	w.mu.Unlock()
	requireClosed(t, late, "a stopped writer wakes every waiter")

	// Wait gives up with its context and leaves no waiter behind.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.ErrorIs(t, w.waitDurable(ctx, base+100), context.Canceled)
	w.mu.Lock()
	require.Empty(t, w.durableWaiters)
	w.mu.Unlock()
}

func requireClosed(t *testing.T, ch chan struct{}, msg string) {
	t.Helper()
	select {
	case <-ch:
	default:
		t.Fatal(msg)
	}
}

func requireOpen(t *testing.T, ch chan struct{}, msg string) {
	t.Helper()
	select {
	case <-ch:
		t.Fatal(msg)
	default:
	}
}
