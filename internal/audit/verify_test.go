package audit_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/permission-mongo/permission-mongo/internal/audit"
	"github.com/permission-mongo/permission-mongo/internal/store"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// chain writes n entries, one second apart from t0+1s, into a new audit
// collection, and returns the collection and the entries in chain order.
func chain(t *testing.T, n int) (*mongo.Collection, []audit.Entry) {
	t.Helper()
	coll := auditColl(t)
	w := newWriter(t, coll, audit.Options{Now: stepClock(t0, time.Second)})
	for i := range n {
		require.NoError(t, w.Record(context.Background(), entry("update", "orders", i)))
	}
	closeWriter(t, w)
	got := stored(t, coll)
	require.Len(t, got, n)
	requireIntact(t, coll, n)
	return coll, got
}

// The test the issue asks for: entries edited and deleted directly in
// MongoDB, behind the proxy's back, are caught and the first bad one named.
func TestVerifyCatchesTampering(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("edited", func(t *testing.T) {
		t.Parallel()
		coll, es := chain(t, 20)
		tamperSet(t, coll, es[6].ID, bson.D{{Key: "outcome", Value: "allowed"}, {Key: "status", Value: 200}, {Key: "action", Value: "find"}})
		res := verifyAll(t, coll)
		requireBrokenAt(t, res, es[6].ID)
		require.Contains(t, res.Reason, "hash mismatch")
		require.Equal(t, 7, res.Checked)
	})

	t.Run("deleted", func(t *testing.T) {
		t.Parallel()
		coll, es := chain(t, 20)
		tamperDelete(t, coll, es[11].ID)
		res := verifyAll(t, coll)
		require.False(t, res.OK)
		require.Equal(t, es[12].ID, res.FirstBadID, "the entry after the gap is named")
		require.Contains(t, res.Reason, "seq 12 to 12 removed")
	})

	t.Run("edited and deleted: the first is named", func(t *testing.T) {
		t.Parallel()
		coll, es := chain(t, 20)
		tamperDelete(t, coll, es[14].ID)
		tamperSet(t, coll, es[4].ID, bson.D{{Key: "doc_ids", Value: bson.A{"other"}}})
		res := verifyAll(t, coll)
		requireBrokenAt(t, res, es[4].ID)
	})

	t.Run("edited with its hash recomputed", func(t *testing.T) {
		// Whoever knows the algorithm can fix an entry's own hash; the next
		// entry's prev_hash still points at the original.
		t.Parallel()
		coll, es := chain(t, 10)
		forged := es[3]
		forged.Actor.ID = "someone-else"
		forged.Hash = audit.HashOf(&forged)
		tamperReplace(t, coll, forged)
		res := verifyAll(t, coll)
		requireBrokenAt(t, res, es[4].ID)
		require.Contains(t, res.Reason, "prev_hash")
	})

	t.Run("reordered", func(t *testing.T) {
		t.Parallel()
		coll, es := chain(t, 10)
		// Swap the positions of entries 3 and 4 (through a free seq: the
		// unique (writer, seq) index refuses a duplicate even for a moment).
		for _, step := range []struct {
			id  string
			seq int
		}{{es[2].ID, 1000}, {es[3].ID, 3}, {es[2].ID, 4}} {
			tamperSet(t, coll, step.id, bson.D{{Key: "seq", Value: step.seq}})
		}
		res := verifyAll(t, coll)
		require.False(t, res.OK)
		require.Contains(t, []string{es[2].ID, es[3].ID}, res.FirstBadID)
	})

	t.Run("first entry of the range deleted", func(t *testing.T) {
		// The entry before the range still exists, so the link is checked.
		t.Parallel()
		coll, es := chain(t, 20)
		tamperDelete(t, coll, es[9].ID)
		res, err := audit.Verify(ctx, store.NewCollection(coll), es[9].TS, time.Time{})
		require.NoError(t, err)
		requireBrokenAt(t, res, es[10].ID)
	})

	t.Run("entry moved out of the range by its ts", func(t *testing.T) {
		t.Parallel()
		coll, es := chain(t, 10)
		tamperSet(t, coll, es[5].ID, bson.D{{Key: "ts", Value: t0.Add(time.Hour)}})
		res, err := audit.Verify(ctx, store.NewCollection(coll), t0, es[9].TS)
		require.NoError(t, err)
		requireBrokenAt(t, res, es[6].ID)
	})

	t.Run("genesis forged", func(t *testing.T) {
		t.Parallel()
		coll, es := chain(t, 3)
		first := es[0]
		first.PrevHash = audit.Genesis("another-writer")
		first.Hash = audit.HashOf(&first)
		tamperReplace(t, coll, first)
		res := verifyAll(t, coll)
		requireBrokenAt(t, res, first.ID)
	})
}

// Ranges: a chain that began before `from` is verified from its first entry
// in the range; one whose beginning expired (retention) too.
func TestVerifyRanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	coll, es := chain(t, 20)

	res, err := audit.Verify(ctx, store.NewCollection(coll), es[9].TS, es[14].TS)
	require.NoError(t, err)
	require.True(t, res.OK, "%+v", res)
	require.Equal(t, 6, res.Checked)

	res, err = audit.Verify(ctx, store.NewCollection(coll), es[19].TS.Add(time.Second), time.Time{})
	require.NoError(t, err)
	require.True(t, res.OK)
	require.Zero(t, res.Checked)

	// Retention removed the oldest five: what is left still verifies.
	_, err = coll.DeleteMany(ctx, bson.D{{Key: "ts", Value: bson.D{{Key: "$lt", Value: es[5].TS}}}})
	require.NoError(t, err)
	requireIntact(t, coll, 15)
}

// Several proxies side by side: one chain each, in one collection.
func TestVerifySeveralWriters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	coll := auditColl(t)
	w1 := newWriter(t, coll, audit.Options{})
	w2 := newWriter(t, coll, audit.Options{})
	require.NotEqual(t, w1.ID(), w2.ID())
	for i := range 50 {
		require.NoError(t, w1.Record(ctx, entry("find", "a", i)))
		require.NoError(t, w2.Record(ctx, entry("find", "b", i)))
	}
	closeWriter(t, w1)
	closeWriter(t, w2)
	requireIntact(t, coll, 100)

	// Breaking the second chain names an entry of the second chain.
	var victim audit.Entry
	require.NoError(t, coll.FindOne(ctx, bson.D{{Key: "writer", Value: audit.ChainOf(w2.ID(), "t1")}, {Key: "seq", Value: 30}}).Decode(&victim))
	tamperDelete(t, coll, victim.ID)
	res := verifyAll(t, coll)
	require.False(t, res.OK)
	var after audit.Entry
	require.NoError(t, coll.FindOne(ctx, bson.D{{Key: "writer", Value: audit.ChainOf(w2.ID(), "t1")}, {Key: "seq", Value: 31}}).Decode(&after))
	require.Equal(t, after.ID, res.FirstBadID)
}
