package audit_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/audit"
	"github.com/permission-mongo/permission-mongo/internal/store"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

// outage is testenv.Outage with this package's audit collection.
type outage struct{ *testenv.Outage }

func newOutage(t *testing.T) *outage {
	t.Helper()
	return &outage{testenv.NewOutage(t)}
}

func (o *outage) start() { o.Start() }
func (o *outage) stop()  { o.Stop() }

func (o *outage) coll() *mongo.Collection {
	return o.Client.Database("app").Collection("audit")
}

// writer starts a writer on the outage's collection with outageOptions.
func (o *outage) writer(t *testing.T, opts audit.Options) *audit.Writer {
	t.Helper()
	return newWriter(t, o.coll(), outageOptions(opts))
}

// Timings for the outage tests: a failed write is noticed within a second.
func outageOptions(o audit.Options) audit.Options {
	o.FlushInterval = 10 * time.Millisecond
	o.WriteTimeout = time.Second
	o.RetryMin = 50 * time.Millisecond
	o.RetryMax = 300 * time.Millisecond
	return o
}

// fail_closed: while MongoDB is down, operations are refused before they
// run; what was accepted before is kept and written once it is back; then
// operations are accepted again.
func TestFailClosedRefusesWhileDownAndRecovers(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	o := newOutage(t)
	w := o.writer(t, audit.Options{Mode: audit.ModeFailClosed})

	recordCreates(t, w, 0, 10)
	eventually(t, 10*time.Second, func() bool { return w.Stats().Written == 10 }, "first entries written")

	o.stop()
	t.Logf("stopped")
	// Accepted before the outage was noticed: must be written later, not lost.
	op, err := w.Begin(ctx, entry("create", "c", 10))
	require.NoError(t, err)
	op.Finish(201, "")
	eventually(t, 15*time.Second, func() bool { return w.Available() != nil }, "audit unavailable while the store is down")

	err = w.Available()
	require.Equal(t, apperr.KindUnavailable, apperr.KindOf(err), "%v", err)
	_, err = w.Begin(ctx, entry("create", "c", 11))
	require.Equal(t, apperr.KindUnavailable, apperr.KindOf(err))
	require.Equal(t, apperr.KindUnavailable, apperr.KindOf(w.Record(ctx, entry("create", "c", 11))))
	var ae *apperr.Error
	require.ErrorAs(t, err, &ae)
	require.NotContains(t, ae.Message, "connection", "driver text stays out of the client's message")
	t.Logf("unavailable noticed")
	require.EqualValues(t, 1, w.Stats().QueueDepth, "the accepted entry is kept in memory")
	require.False(t, w.Stats().Available)

	o.start()
	t.Logf("restarted")
	eventually(t, 30*time.Second, func() bool { return w.Available() == nil }, "audit available again after the store came back")
	t.Logf("available again")
	require.EqualValues(t, 11, w.Stats().Written)
	recordCreates(t, w, 12, 15)
	closeWriter(t, w)

	require.EqualValues(t, 14, count(t, o.coll()))
	requireIntact(t, o.coll(), 14)
	require.Positive(t, w.Stats().WriteErrors)
	require.EqualValues(t, 2, w.Stats().Refused)
}

// buffer: while MongoDB is down, entries go to the spill file and
// operations keep being accepted; when it is back the file is replayed in
// order and emptied, and the chain is intact.
func TestBufferSpillsWhileDownAndReplays(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	o := newOutage(t)
	spill := filepath.Join(t.TempDir(), "audit", "spill.ndjson")
	w := o.writer(t, audit.Options{Mode: audit.ModeBuffer, SpillPath: spill})

	recordCreates(t, w, 0, 10)
	eventually(t, 10*time.Second, func() bool { return w.Stats().Written == 10 }, "first entries written")

	o.stop()
	for i := 10; i < 30; i++ {
		op, err := w.Begin(ctx, entry("update", "c", i))
		require.NoError(t, err, "buffer mode accepts operations while the store is down")
		op.Finish(200, "")
		time.Sleep(5 * time.Millisecond)
	}
	eventually(t, 15*time.Second, func() bool { return w.Stats().Spilled == 20 }, "entries spilled")
	require.NoError(t, w.Available())

	// The file holds the 20 entries, in chain order, fsynced.
	spilled := readSpill(t, spill)
	require.Len(t, spilled, 20)
	for i, e := range spilled {
		require.EqualValues(t, 11+i, e.Seq)
		require.Equal(t, audit.HashOf(&e), e.Hash)
	}
	st, err := os.Stat(spill)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	o.start()
	eventually(t, 30*time.Second, func() bool { return w.Stats().Replayed == 20 }, "spill file replayed")
	eventually(t, 5*time.Second, func() bool { st, err := os.Stat(spill); return err == nil && st.Size() == 0 }, "spill file truncated")
	recordCreates(t, w, 30, 35)
	closeWriter(t, w)

	require.EqualValues(t, 35, count(t, o.coll()))
	requireIntact(t, o.coll(), 35)
	require.Zero(t, w.Stats().Refused)
	require.Zero(t, w.Stats().Lost)
}

// A spill file left by an earlier process (it stopped while MongoDB was
// down) is replayed by the next one at start.
func TestBufferReplaysFileOfEarlierProcess(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	o, spill := downWithSpill(t)
	w1 := o.writer(t, audit.Options{Mode: audit.ModeBuffer, SpillPath: spill})
	for i := range 7 {
		require.NoError(t, w1.Record(ctx, entry("delete", "c", i)))
	}
	closeWriter(t, w1) // store down: Close leaves them in the file
	require.Len(t, readSpill(t, spill), 7)

	o.start()
	w2 := o.writer(t, audit.Options{Mode: audit.ModeBuffer, SpillPath: spill})
	require.NoError(t, w2.Record(ctx, entry("find", "c", 99)))
	closeAndRequireStored(t, w2, o.coll(), 8)
}

// fail_closed with a SpillPath: when Close's deadline passes with MongoDB
// down, what is in memory is saved to the file instead of lost, and the next
// start replays it.
func TestFailClosedSavesOnShutdownDeadline(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	o, spill := downWithSpill(t)
	w, err := audit.NewWriter(outageOptions(audit.Options{Collection: store.NewCollection(o.coll()), SpillPath: spill, Logger: testenv.Quiet}))
	require.NoError(t, err)
	recordCreates(t, w, 0, 5)
	cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	require.NoError(t, w.Close(cctx), "saved to the spill file: nothing lost")
	require.Len(t, readSpill(t, spill), 5)

	o.start()
	w2 := o.writer(t, audit.Options{SpillPath: spill})
	closeAndRequireStored(t, w2, o.coll(), 5)
}

// downWithSpill is an outage with MongoDB down, and a spill file path for
// the test.
func downWithSpill(t *testing.T) (*outage, string) {
	t.Helper()
	o := newOutage(t)
	o.stop()
	return o, spillPath(t)
}

// spillPath is a spill file for one test, not created yet.
func spillPath(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "spill.ndjson")
}

func readSpill(t *testing.T, path string) []audit.Entry {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer func() { _ = f.Close() }()
	var out []audit.Entry
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var e audit.Entry
		require.NoError(t, json.Unmarshal(sc.Bytes(), &e))
		out = append(out, e)
	}
	require.NoError(t, sc.Err())
	return out
}

// recordCreates records the create entries numbered from to to-1, each of
// which must be accepted.
func recordCreates(t testing.TB, w *audit.Writer, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		require.NoError(t, w.Record(t.Context(), entry("create", "c", i)))
	}
}

// buffer, with MongoDB down and a spill file that cannot take the entries
// (full here; a removed or read-only directory fails the same way):
// operations are refused, as in fail_closed, and the flush loop waits for
// the next MongoDB attempt instead of retrying the spill in a tight loop.
func TestBufferSpillFailureWaitsForRetry(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	o, spill := downWithSpill(t)
	opts := outageOptions(audit.Options{Collection: store.NewCollection(o.coll()), Mode: audit.ModeBuffer, SpillPath: spill, MaxSpillBytes: 1, Logger: testenv.Quiet})
	// The next MongoDB attempt is an hour away: every spill attempt seen
	// below is a retry the loop made on its own.
	opts.RetryMin, opts.RetryMax = time.Hour, time.Hour
	w, err := audit.NewWriter(opts)
	require.NoError(t, err)
	defer func() {
		// Nothing can be stored nor saved: Close waits for its deadline.
		cctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_ = w.Close(cctx)
	}()

	require.NoError(t, w.Record(ctx, entry("create", "c", 0)), "accepted: the failure is not known yet")
	eventually(t, 30*time.Second, func() bool { return audit.SpillErrors(w) >= 1 }, "the spill attempt failed")
	eventually(t, 10*time.Second, func() bool { return w.Available() != nil }, "audit unavailable once the spill file failed")
	err = w.Record(ctx, entry("create", "c", 1))
	require.Equal(t, apperr.KindUnavailable, apperr.KindOf(err), "%v", err)
	_, err = w.Begin(ctx, entry("create", "c", 2))
	require.Equal(t, apperr.KindUnavailable, apperr.KindOf(err), "%v", err)

	// The loop must now sleep until retryAt, an hour away, with nothing to
	// wake it. One that retries at once never sleeps (the queue is not
	// empty, so it has no pause) and fails this wait at its deadline; the
	// bound of 2 leaves room for an attempt already under way.
	before := audit.SpillErrors(w)
	eventually(t, 30*time.Second, func() bool { return audit.Sleeping(w) }, "the flush loop sleeping until the next attempt")
	require.LessOrEqual(t, audit.SpillErrors(w)-before, int64(2), "spill retried without waiting for the next attempt")
	require.EqualValues(t, 1, w.Stats().QueueDepth, "the accepted entry is kept in memory")
	require.Zero(t, w.Stats().Spilled)
}
