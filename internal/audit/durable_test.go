package audit_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/audit"
)

// Op.Wait returns only once the entry is in MongoDB: right after it, with
// the writer still running (no Close), every waiting operation's entry can
// be read back.
func TestWaitReturnsOnceStored(t *testing.T) {
	t.Parallel()
	coll := auditColl(t)
	// A flush interval far longer than the test: the first entry goes at
	// once (no insert runs), the others wait for that insert to return and
	// go together. A Wait that returned before the insert finds nothing.
	w := newWriter(t, coll, audit.Options{BatchSize: 100, FlushInterval: time.Hour})
	ctx := t.Context()
	var ops []*audit.Op
	for g := range 8 {
		op, err := w.Begin(ctx, entry("create", "c", g))
		require.NoError(t, err)
		ops = append(ops, op)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g, op := range ops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			op.Finish(201, "")
			if err := op.Wait(ctx); err != nil {
				errs <- err
				return
			}
			id := entry("create", "c", g).RequestID
			n, err := coll.CountDocuments(ctx, bson.D{{Key: "request_id", Value: id}})
			if err == nil && n != 1 {
				err = fmt.Errorf("%s: %d entries stored when Wait returned", id, n)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.EqualValues(t, 0, w.Stats().Unconfirmed)

	// A lone operation does not wait for the flush interval: nothing else
	// runs that could join its batch.
	op := finished(t, w, entry("read", "c", 99))
	require.NoError(t, waitWithin(op, 30*time.Second))
	require.EqualValues(t, 9, w.Stats().Written)
}

// Wait before Finish is a programming error, said as one; a nil Op (audit
// off) never waits.
func TestWaitBeforeFinish(t *testing.T) {
	t.Parallel()
	w := newWriter(t, auditColl(t), audit.Options{})
	op, err := w.Begin(t.Context(), entry("read", "c", 1))
	require.NoError(t, err)
	require.Error(t, op.Wait(t.Context()))
	op.Finish(200, "")
	require.NoError(t, op.Wait(t.Context()))
	var none *audit.Op
	require.NoError(t, none.Wait(t.Context()))
}

// buffer mode with MongoDB down: Wait returns once the entry is fsynced to
// the spill file, and the file holds it.
func TestWaitBufferModeSpilled(t *testing.T) {
	t.Parallel()
	o := newOutage(t)
	spill := spillPath(t)
	w := o.writer(t, audit.Options{Mode: audit.ModeBuffer, SpillPath: spill})
	o.stop()
	e := entry("delete", "c", 7)
	op := finished(t, w, e)
	require.NoError(t, waitWithin(op, 30*time.Second))
	var ids []string
	for _, s := range readSpill(t, spill) {
		ids = append(ids, s.RequestID)
	}
	require.Contains(t, ids, e.RequestID, "durable means in the spill file while MongoDB is down")
	o.start()
}

// fail_closed with MongoDB down: Wait gives up after MaxWait instead of
// holding the answer forever, and says so in Unconfirmed; the entry stays
// queued and is stored when MongoDB is back.
func TestWaitFailClosedGivesUp(t *testing.T) {
	t.Parallel()
	o := newOutage(t)
	w := o.writer(t, audit.Options{Mode: audit.ModeFailClosed, MaxWait: 500 * time.Millisecond})
	o.stop()
	op := finished(t, w, entry("update", "c", 3))
	require.Error(t, waitWithin(op, 60*time.Second))
	require.EqualValues(t, 1, w.Stats().Unconfirmed)
	o.start()
	eventually(t, 30*time.Second, func() bool { return w.Stats().Written == 1 }, "the entry stored once MongoDB is back")
}

// An operation that finishes after Close gave up on it is lost, and Wait
// says so instead of reporting it durable.
func TestWaitAfterCloseGaveUp(t *testing.T) {
	t.Parallel()
	w := newWriter(t, auditColl(t), audit.Options{})
	op, err := w.Begin(t.Context(), entry("update", "c", 1))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	require.Error(t, w.Close(ctx), "an operation is still running")
	op.Finish(200, "")
	require.Error(t, op.Wait(t.Context()))
	require.EqualValues(t, 1, w.Stats().Lost)
	require.EqualValues(t, 1, w.Stats().Unconfirmed)
}

// finished begins and finishes an operation for e, as a request answered
// 200 would, and returns it for Wait.
func finished(t testing.TB, w *audit.Writer, e audit.Entry) *audit.Op {
	t.Helper()
	op, err := w.Begin(t.Context(), e)
	require.NoError(t, err)
	op.Finish(200, "")
	return op
}

// waitWithin is op.Wait bounded by d, so that an entry that never becomes
// durable fails the test instead of hanging it.
func waitWithin(op *audit.Op, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return op.Wait(ctx)
}
