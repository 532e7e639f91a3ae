package audit_test

import (
	"cmp"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/audit"
	"github.com/permission-mongo/permission-mongo/internal/store"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

// Paging walks every entry exactly once, newest first, even when many share
// a millisecond and two writers interleave (the (ts, writer, seq) keyset).
func TestQueryPagesNewestFirst(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	coll := auditColl(t)
	// Both writers' clocks stand still for 4 calls at a time: plenty of ties.
	clock := func() func() time.Time {
		calls := 0
		return func() time.Time {
			calls++
			return t0.Add(time.Duration(calls/4) * time.Millisecond)
		}
	}
	w1 := newWriter(t, coll, audit.Options{Now: clock()})
	w2 := newWriter(t, coll, audit.Options{Now: clock()})
	for i := range 30 {
		e := entry("update", []string{"a", "b"}[i%2], i)
		if i%5 == 0 {
			e.Status, e.ErrorCode = 403, "FORBIDDEN"
		}
		require.NoError(t, w1.Record(ctx, e))
		require.NoError(t, w2.Record(ctx, entry("find", "a", 100+i)))
	}
	closeWriter(t, w1)
	closeWriter(t, w2)

	var all []audit.Entry
	var after *audit.Position
	pages := 0
	for {
		page, next, err := audit.Query(ctx, store.NewCollection(coll), audit.Filter{Limit: 7, After: after})
		require.NoError(t, err)
		all = append(all, page...)
		pages++
		if next == nil {
			break
		}
		require.Len(t, page, 7)
		after = next
	}
	require.Len(t, all, 60)
	require.Equal(t, 9, pages)
	seen := map[string]bool{}
	for i, e := range all {
		require.False(t, seen[e.ID], "%s twice", e.ID)
		seen[e.ID] = true
		if i > 0 {
			p := all[i-1]
			less := e.TS.Before(p.TS) ||
				e.TS.Equal(p.TS) && (e.Writer < p.Writer || e.Writer == p.Writer && e.Seq < p.Seq)
			require.True(t, less, "entry %d (%s) not after %s", i, e.ID, p.ID)
		}
	}

	for _, tc := range []struct {
		name string
		f    audit.Filter
		want int
	}{
		{"collection", audit.Filter{Collection: "b"}, 15},
		{"action", audit.Filter{Action: "find"}, 30},
		{"outcome", audit.Filter{Outcome: "denied"}, 6},
		{"actor", audit.Filter{Actor: "u1"}, 20},
		{"doc id", audit.Filter{DocID: "doc-7"}, 1},
		{"tenant", audit.Filter{TenantID: "t1"}, 60},
		{"other tenant", audit.Filter{TenantID: "t2"}, 0},
		{"from", audit.Filter{From: ptrTime(t0.Add(5 * time.Millisecond))}, 2 * 11}, // calls 20..30 of each clock
		{"to", audit.Filter{To: ptrTime(t0.Add(time.Millisecond))}, 2 * 7},          // calls 1..7
		{"combined", audit.Filter{Collection: "a", Action: "update", Outcome: "denied"}, 3},
		{"operator as a value", audit.Filter{Collection: `{"$ne": ""}`}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.f.Limit = audit.MaxQueryLimit
			got, next, err := audit.Query(ctx, store.NewCollection(coll), tc.f)
			require.NoError(t, err)
			require.Nil(t, next)
			require.Equal(t, tc.want, len(got))
		})
	}

	_, _, err := audit.Query(ctx, store.NewCollection(coll), audit.Filter{Outcome: "maybe"})
	require.Equal(t, apperr.KindInvalid, apperr.KindOf(err))
	_, _, err = audit.Query(ctx, store.NewCollection(coll), audit.Filter{Limit: -1})
	require.Equal(t, apperr.KindInvalid, apperr.KindOf(err))
	got, _, err := audit.Query(ctx, store.NewCollection(coll), audit.Filter{})
	require.NoError(t, err)
	require.Len(t, got, audit.DefaultQueryLimit)
}

// The index that orders pages is on ts alone, and a millisecond can hold more
// entries than a page: here two writers' clocks stand still, 40 entries
// share one ts, and pages of 7 still walk them once each, in (writer, seq)
// order, across page ends that fall inside the millisecond.
func TestQueryPagesWithinOneMillisecond(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	coll := auditColl(t)
	still := func() time.Time { return t0 }
	w1 := newWriter(t, coll, audit.Options{Now: still})
	w2 := newWriter(t, coll, audit.Options{Now: still})
	for i := range 20 {
		require.NoError(t, w1.Record(ctx, entry("update", "a", i)))
		require.NoError(t, w2.Record(ctx, entry("find", "a", 100+i)))
	}
	closeWriter(t, w1)
	closeWriter(t, w2)
	// Entries a millisecond older, so that the last page mixes both.
	w3 := newWriter(t, coll, audit.Options{Now: func() time.Time { return t0.Add(-time.Millisecond) }})
	for i := range 3 {
		require.NoError(t, w3.Record(ctx, entry("find", "b", 200+i)))
	}
	closeWriter(t, w3)

	want := stored(t, coll)
	slices.SortFunc(want, func(a, b audit.Entry) int {
		return cmp.Or(b.TS.Compare(a.TS), cmp.Compare(b.Writer, a.Writer), cmp.Compare(b.Seq, a.Seq))
	})
	var got []string
	var after *audit.Position
	for {
		page, next, err := audit.Query(ctx, store.NewCollection(coll), audit.Filter{Limit: 7, After: after})
		require.NoError(t, err)
		for _, e := range page {
			got = append(got, e.ID)
		}
		if next == nil {
			break
		}
		after = next
	}
	ids := make([]string, len(want))
	for i, e := range want {
		ids[i] = e.ID
	}
	require.Len(t, ids, 43)
	require.Equal(t, ids, got)
}

func ptrTime(t time.Time) *time.Time { return &t }

func TestEnsureIndexes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	coll := testenv.Collection(t, "audit")

	ttl := func() *int32 {
		specs, err := coll.Indexes().ListSpecifications(ctx)
		require.NoError(t, err)
		names := map[string]bool{}
		var exp *int32
		for _, s := range specs {
			names[s.Name] = true
			if s.Name == "audit_ts" {
				exp = s.ExpireAfterSeconds
			}
		}
		require.True(t, names["audit_ts"], "index audit_ts missing")
		// Only the indexes reads need: every index slows every insert.
		// audit_chain's work is done by _id (Verify walks it), audit_order's
		// by audit_ts.
		for _, n := range []string{"audit_collection", "audit_actor", "audit_doc_ids", "audit_chain", "audit_order"} {
			require.False(t, names[n], "retired index %s still there", n)
		}
		require.Len(t, names, 2, "_id and audit_ts only: %v", names)
		return exp
	}

	// Indexes earlier versions created (for a Query filter, for chain
	// order) are dropped.
	_, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "doc_ids", Value: 1}, {Key: "ts", Value: -1}},
		Options: options.Index().SetName("audit_doc_ids")})
	require.NoError(t, err)
	_, err = coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "writer", Value: 1}, {Key: "seq", Value: 1}},
		Options: options.Index().SetName("audit_chain").SetUnique(true)})
	require.NoError(t, err)
	_, err = coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "ts", Value: -1}, {Key: "writer", Value: -1}, {Key: "seq", Value: -1}},
		Options: options.Index().SetName("audit_order")})
	require.NoError(t, err)

	err = audit.EnsureIndexes(ctx, store.NewCollection(coll), 90*24*time.Hour)
	if !testenv.Has(t, testenv.CapTTLIndex) {
		// A server without TTL indexes: the other indexes are there, the
		// error says so, and Expire does the retention.
		var ae *apperr.Error
		require.ErrorAs(t, err, &ae)
		require.Equal(t, audit.CapTTLIndex, ae.Details["capability"])
		require.Nil(t, ttl())
		require.NoError(t, audit.EnsureIndexes(ctx, store.NewCollection(coll), 0))
		require.Nil(t, ttl())

		w := newWriter(t, coll, audit.Options{Now: stepClock(t0, time.Hour)})
		for i := range 10 {
			require.NoError(t, w.Record(ctx, entry("find", "c", i)))
		}
		closeWriter(t, w)
		n, err := audit.Expire(ctx, store.NewCollection(coll), t0.Add(4*time.Hour+time.Minute))
		require.NoError(t, err)
		require.EqualValues(t, 4, n)
		requireIntact(t, coll, 6)
	} else {
		require.NoError(t, err)
		require.NotNil(t, ttl())
		require.EqualValues(t, 90*24*3600, *ttl())
		require.NoError(t, audit.EnsureIndexes(ctx, store.NewCollection(coll), 90*24*time.Hour), "idempotent")
		require.NoError(t, audit.EnsureIndexes(ctx, store.NewCollection(coll), 30*24*time.Hour), "retention changed")
		require.EqualValues(t, 30*24*3600, *ttl())
		require.NoError(t, audit.EnsureIndexes(ctx, store.NewCollection(coll), 0), "retention off")
		require.Nil(t, ttl())
	}

	require.Equal(t, apperr.KindInvalid, apperr.KindOf(audit.EnsureIndexes(ctx, store.NewCollection(coll), 1<<62)))
}

// Where the server has TTL indexes, it does the retention: entries older
// than the retention disappear on their own, oldest first, and what remains
// still verifies. The server's TTL pass runs every few seconds (DocumentDB)
// to every minute (MongoDB), so the test waits for the condition.
func TestRetentionThroughTTLIndex(t *testing.T) {
	testenv.RequireCapability(t, testenv.CapTTLIndex)
	ctx := t.Context()
	coll := testenv.Collection(t, "pm_audit")
	require.NoError(t, audit.EnsureIndexes(ctx, store.NewCollection(coll), time.Second))
	// Ten entries an hour apart, from four hours ago: about half are past
	// the retention, the rest are in the future.
	w := newWriter(t, coll, audit.Options{Now: stepClock(time.Now().Add(-4*time.Hour), time.Hour)})
	for i := range 10 {
		require.NoError(t, w.Record(ctx, entry("find", "c", i)))
	}
	closeWriter(t, w)
	future := bson.D{{Key: "ts", Value: bson.D{{Key: "$gt", Value: time.Now().Add(time.Minute)}}}}
	keep, err := coll.CountDocuments(ctx, future)
	require.NoError(t, err)
	require.GreaterOrEqual(t, keep, int64(4))
	require.LessOrEqual(t, keep, int64(6))
	deadline := time.Now().Add(3 * time.Minute)
	for {
		n, err := coll.CountDocuments(ctx, bson.D{})
		require.NoError(t, err)
		if n == keep {
			break
		}
		require.Greater(t, n, keep, "entries that have not expired were removed")
		if time.Now().After(deadline) {
			t.Fatalf("%d entries left after 3 minutes, want %d", n, keep)
		}
		time.Sleep(250 * time.Millisecond) // polling interval, not a wait standing in for the condition
	}
	res := verifyAll(t, coll)
	require.True(t, res.OK, "%+v", res)
	require.EqualValues(t, keep, res.Checked)
}

// Starting again with the same configuration leaves audit_ts as it is, on a
// server without TTL indexes too, whose plain audit_ts is all it can have
// with retention on: it used to be dropped and rebuilt at every start. The
// index is made here with a property EnsureIndexes never sets (unique), so
// that a rebuilt one shows: it comes back without it.
func TestEnsureIndexesLeavesAFittingIndex(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	coll := testenv.Collection(t, "audit")
	const retention = 90 * 24 * time.Hour
	ttlBackend := testenv.Has(t, testenv.CapTTLIndex)
	marked := options.Index().SetName("audit_ts").SetUnique(true)
	if ttlBackend {
		marked.SetExpireAfterSeconds(int32(retention.Seconds()))
	}
	_, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "ts", Value: 1}}, Options: marked})
	require.NoError(t, err)

	// ts returns audit_ts's TTL and whether it is still the index made above.
	ts := func() (ttl *int32, same bool) {
		specs, err := coll.Indexes().ListSpecifications(ctx)
		require.NoError(t, err)
		for _, s := range specs {
			if s.Name == "audit_ts" {
				return s.ExpireAfterSeconds, s.Unique != nil && *s.Unique
			}
		}
		t.Fatal("index audit_ts missing")
		return nil, false
	}

	for i := range 2 {
		err := audit.EnsureIndexes(ctx, store.NewCollection(coll), retention)
		ttl, same := ts()
		require.True(t, same, "start %d rebuilt audit_ts", i+1)
		if ttlBackend {
			require.NoError(t, err)
			require.NotNil(t, ttl)
			require.EqualValues(t, retention.Seconds(), *ttl)
			continue
		}
		// Still reported, at every start: the caller runs Expire instead.
		var ae *apperr.Error
		require.ErrorAs(t, err, &ae, "start %d", i+1)
		require.Equal(t, audit.CapTTLIndex, ae.Details["capability"])
		require.Nil(t, ttl)
	}

	if ttlBackend {
		// A changed retention is a changed index: rebuilt with the new TTL.
		require.NoError(t, audit.EnsureIndexes(ctx, store.NewCollection(coll), 30*24*time.Hour))
		ttl, same := ts()
		require.False(t, same)
		require.NotNil(t, ttl)
		require.EqualValues(t, 30*24*3600, *ttl)
		return
	}
	// Retention off: the plain index is what is wanted, as it is.
	require.NoError(t, audit.EnsureIndexes(ctx, store.NewCollection(coll), 0))
	ttl, same := ts()
	require.True(t, same)
	require.Nil(t, ttl)
}
