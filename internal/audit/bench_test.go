package audit_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/permission-mongo/permission-mongo/internal/audit"
	"github.com/permission-mongo/permission-mongo/internal/store"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

// BenchmarkRecord measures what a request pays: Begin + Finish (reserve,
// hash, chain, enqueue), from many goroutines. The batches are written by
// the flush goroutine meanwhile; the queue is sized so nothing is refused.
func BenchmarkRecord(b *testing.B) {
	coll := auditColl(b)
	w := newWriter(b, coll, audit.Options{QueueSize: max(b.N+1, audit.DefaultQueueSize)})
	base := entry("update", "orders", 1)
	base.DocIDs = []string{"65f0c0ffee0000000000abcd"}
	base.ChangedFields = []string{"status", "items.0.qty"}
	b.ReportAllocs()
	b.ResetTimer()
	recordParallel(b, w, base, false)
	b.StopTimer()
	closeSlow(b, w)
}

// recordOp is one request's part in the audit: Begin, Finish as a 200 and,
// when wait is set, Wait until the entry is durable. It returns the error
// instead of failing, for use inside b.RunParallel.
func recordOp(ctx context.Context, w *audit.Writer, e audit.Entry, wait bool) error {
	op, err := w.Begin(ctx, e)
	if err != nil {
		return err
	}
	op.Finish(200, "")
	if !wait {
		return nil
	}
	return op.Wait(ctx)
}

// recordParallel runs recordOp from b.RunParallel's goroutines, b.N times
// in all.
func recordParallel(b *testing.B, w *audit.Writer, base audit.Entry, wait bool) {
	b.Helper()
	ctx := b.Context()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := recordOp(ctx, w, base, wait); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// closeSlow closes w with time to store b.N entries: the embedded FerretDB
// stores a few thousand per second.
func closeSlow(b *testing.B, w *audit.Writer) {
	b.Helper()
	ctx, cancel := context.WithTimeout(b.Context(), time.Minute+time.Duration(b.N)*time.Millisecond)
	defer cancel()
	require.NoError(b, w.Close(ctx))
}

// BenchmarkRecordStored measures sustained throughput: Record from many
// goroutines until every entry is stored in MongoDB (Close included), as
// entries per second.
func BenchmarkRecordStored(b *testing.B) {
	coll := auditColl(b)
	w := newWriter(b, coll, audit.Options{QueueSize: max(b.N+1, audit.DefaultQueueSize)})
	base := entry("update", "orders", 1)
	ctx := b.Context()
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := w.Record(ctx, base); err != nil {
				b.Error(err)
				return
			}
		}
	})
	closeSlow(b, w)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "stored/s")
	require.EqualValues(b, b.N, w.Stats().Written)
}

// A torn last line (a crash in the middle of a spill write) is skipped and
// counted; the rest of the file is replayed.
func TestSpillTornLineSkipped(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	coll := auditColl(t)
	spill := spillPath(t)

	// Entries of an earlier process that died mid-write, with MongoDB down.
	dead, err := mongo.Connect(options.Client().ApplyURI("mongodb://127.0.0.1:1/").SetServerSelectionTimeout(100 * time.Millisecond))
	require.NoError(t, err)
	defer func() { _ = dead.Disconnect(ctx) }()
	down, err := audit.NewWriter(audit.Options{Collection: store.NewCollection(dead.Database("x").Collection("x")),
		Mode: audit.ModeBuffer, SpillPath: spill, Logger: testenv.Quiet, WriteTimeout: 200 * time.Millisecond})
	require.NoError(t, err)
	for i := range 3 {
		require.NoError(t, down.Record(ctx, entry("find", "c", i)))
	}
	require.NoError(t, down.Close(ctx)) // MongoDB down: the entries end in the file
	require.Len(t, readSpill(t, spill), 3)
	data, err := os.ReadFile(spill)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(spill, append(data, `{"id":"torn","ts":"2026-`...), 0o600))

	w := newWriter(t, coll, audit.Options{Mode: audit.ModeBuffer, SpillPath: spill})
	eventually(t, 10*time.Second, func() bool { return w.Stats().Replayed == 3 }, "replayed")
	closeWriter(t, w)
	require.EqualValues(t, 1, w.Stats().Corrupt)
	require.EqualValues(t, 3, count(t, coll))
	require.True(t, verifyAll(t, coll).OK)
	st, err := os.Stat(spill)
	require.NoError(t, err)
	require.Zero(t, st.Size())
}

// BenchmarkRecordDurable measures what a request pays now that it waits for
// its entry (group commit): Begin + Finish + Wait from one goroutine (seq:
// one insert per entry, the latency a lone request adds) and from 16
// goroutines per CPU (par), as entries per second and entries per insert
// (how well the batches fill). Compare with BenchmarkRecordStored, which
// does not wait.
func BenchmarkRecordDurable(b *testing.B) {
	b.Run("seq", func(b *testing.B) { benchmarkRecordDurable(b, 1) })
	b.Run("par", func(b *testing.B) { benchmarkRecordDurable(b, 16) })
}

func benchmarkRecordDurable(b *testing.B, parallelism int) {
	b.Helper()
	coll := auditColl(b)
	w := newWriter(b, coll, audit.Options{FlushInterval: audit.DefaultFlushInterval})
	base := entry("update", "orders", 1)
	ctx := b.Context()
	inserts := func() float64 { return float64(w.Stats().Inserts) }
	before := inserts()
	start := time.Now()
	b.ResetTimer()
	if parallelism == 1 {
		for range b.N {
			if err := recordOp(ctx, w, base, true); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		b.SetParallelism(parallelism)
		recordParallel(b, w, base, true)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "stored/s")
	if n := inserts() - before; n > 0 {
		b.ReportMetric(float64(b.N)/n, "entries/insert")
	}
	closeSlow(b, w)
}
