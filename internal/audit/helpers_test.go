package audit_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/permission-mongo/permission-mongo/internal/audit"
	"github.com/permission-mongo/permission-mongo/internal/store"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// auditColl returns a fresh audit collection on the test server, with the
// indexes the product creates.
func auditColl(t testing.TB) *mongo.Collection {
	t.Helper()
	coll := testenv.Collection(t, "audit")
	require.NoError(t, audit.EnsureIndexes(t.Context(), store.NewCollection(coll), 0))
	return coll
}

// newWriter starts a writer on coll with test-friendly timings; opts fields
// that are set win.
func newWriter(t testing.TB, coll *mongo.Collection, opts audit.Options) *audit.Writer {
	t.Helper()
	opts.Collection = store.NewCollection(coll)
	if opts.FlushInterval == 0 {
		opts.FlushInterval = 10 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = testenv.Quiet
	}
	w, err := audit.NewWriter(opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = w.Close(ctx)
	})
	return w
}

func closeWriter(t testing.TB, w *audit.Writer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	require.NoError(t, w.Close(ctx))
}

// stepClock is an Options.Now that moves step forward at every call, so that
// entries get distinct, known timestamps.
func stepClock(start time.Time, step time.Duration) func() time.Time {
	var mu sync.Mutex
	now := start
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(step)
		return now
	}
}

func entry(action, coll string, i int) audit.Entry {
	return audit.Entry{
		RequestID:  "req-" + action + "-" + strconv.Itoa(i),
		Actor:      audit.Actor{ID: "u" + strconv.Itoa(i%3), TenantID: "t1", Roles: []string{"editor"}, Auth: "api_key", KeyID: "key-1"},
		Action:     action,
		Collection: coll,
		DocIDs:     []string{"doc-" + strconv.Itoa(i)},
		Count:      1,
		Status:     200,
		IP:         "10.0.0.1",
		UserAgent:  "test",
		LatencyMS:  1.5,
	}
}

// stored returns every entry of coll in chain order.
func stored(t testing.TB, coll *mongo.Collection) []audit.Entry {
	t.Helper()
	var out []audit.Entry
	chainOrder := bson.D{{Key: "writer", Value: 1}, {Key: "seq", Value: 1}}
	require.NoError(t, store.NewCollection(coll).FindAll(t.Context(), bson.D{}, store.Find{Sort: chainOrder}, &out))
	return out
}

func count(t testing.TB, coll *mongo.Collection) int64 {
	t.Helper()
	n, err := coll.CountDocuments(t.Context(), bson.D{})
	require.NoError(t, err)
	return n
}

func verifyAll(t testing.TB, coll *mongo.Collection) audit.VerifyResult {
	t.Helper()
	res, err := audit.Verify(t.Context(), store.NewCollection(coll), time.Time{}, time.Time{})
	require.NoError(t, err)
	return res
}

// closeAndRequireStored closes w and asserts that coll then holds n entries
// whose chains verify.
func closeAndRequireStored(t testing.TB, w *audit.Writer, coll *mongo.Collection, n int) {
	t.Helper()
	closeWriter(t, w)
	require.EqualValues(t, n, count(t, coll))
	res := verifyAll(t, coll)
	require.True(t, res.OK, "%+v", res)
}

// requireIntact asserts that every chain in coll verifies and that they
// hold n entries in all.
func requireIntact(t testing.TB, coll *mongo.Collection, n int) {
	t.Helper()
	res := verifyAll(t, coll)
	require.True(t, res.OK, "%+v", res)
	require.Equal(t, n, res.Checked)
}

// verifyTenant verifies every entry of tenant's chains.
func verifyTenant(t testing.TB, coll *mongo.Collection, tenant string) audit.VerifyResult {
	t.Helper()
	res, err := audit.VerifyTenant(t.Context(), store.NewCollection(coll), tenant, time.Time{}, time.Time{})
	require.NoError(t, err)
	return res
}

// requireBrokenAt asserts that a verification failed and named id as the
// first bad entry.
func requireBrokenAt(t testing.TB, res audit.VerifyResult, id string) {
	t.Helper()
	require.False(t, res.OK, "%+v", res)
	require.Equal(t, id, res.FirstBadID, "%+v", res)
}

// The tamper helpers change stored entries directly in MongoDB, behind the
// writer's back, as someone with database access would.

func tamperSet(t testing.TB, coll *mongo.Collection, id string, set bson.D) {
	t.Helper()
	_, err := coll.UpdateOne(t.Context(), bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: set}})
	require.NoError(t, err)
}

func tamperDelete(t testing.TB, coll *mongo.Collection, id string) {
	t.Helper()
	_, err := coll.DeleteOne(t.Context(), bson.D{{Key: "_id", Value: id}})
	require.NoError(t, err)
}

func tamperReplace(t testing.TB, coll *mongo.Collection, e audit.Entry) {
	t.Helper()
	_, err := coll.ReplaceOne(t.Context(), bson.D{{Key: "_id", Value: e.ID}}, e)
	require.NoError(t, err)
}

// eventually polls cond every 10ms until it holds or d passes.
func eventually(t testing.TB, d time.Duration, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v: %s", d, msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
