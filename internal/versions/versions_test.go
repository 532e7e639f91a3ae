package versions

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// newStore is a version store on a fresh database keeping keep versions of
// a document (0: all); the test creates its indexes, whose answer some
// tests check.
func newStore(t *testing.T, keep int) *Store {
	t.Helper()
	return &Store{Coll: testenv.Store(t).Collection("pm_versions"), Keep: keep}
}

func TestSaveListGet(t *testing.T) {
	ctx := t.Context()
	s := newStore(t, 0)
	_, err := s.EnsureIndexes(ctx, 0)
	require.NoError(t, err)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 1; i <= 3; i++ {
		v, err := s.Save(ctx, "orders", "o1", testenv.Raw(t, bson.D{{Key: "_id", Value: "o1"}, {Key: "n", Value: int32(i)}}), "update", "u1", at.Add(time.Duration(i)*time.Minute))
		require.NoError(t, err)
		require.EqualValues(t, i, v)
	}
	_, err = s.Save(ctx, "orders", "o2", testenv.Raw(t, bson.D{{Key: "_id", Value: "o2"}}), "delete", "u2", at)
	require.NoError(t, err)

	list, err := s.List(ctx, "orders", "o1", 100)
	require.NoError(t, err)
	require.Len(t, list, 3)
	require.EqualValues(t, 3, list[0].Version, "newest first")
	require.Equal(t, "u1", list[0].UpdatedBy)

	v, err := s.Get(ctx, "orders", "o1", 2)
	require.NoError(t, err)
	require.EqualValues(t, 2, v.Doc.Lookup("n").Int32())
	_, err = s.Get(ctx, "orders", "o1", 9)
	require.Equal(t, apperr.KindNotFound, apperr.KindOf(err))
	_, err = s.Get(ctx, "other", "o1", 1)
	require.Equal(t, apperr.KindNotFound, apperr.KindOf(err), "versions are per collection")
}

// Concurrent saves of one document get distinct, gapless version numbers.
func TestConcurrentSaves(t *testing.T) {
	ctx := t.Context()
	s := newStore(t, 0)
	_, err := s.EnsureIndexes(ctx, 0)
	require.NoError(t, err)
	var wg sync.WaitGroup
	got := make(chan int64, 6)
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := s.Save(ctx, "c", int32(7), testenv.Raw(t, bson.D{{Key: "_id", Value: int32(7)}}), "update", "u", time.Now())
			require.NoError(t, err)
			got <- v
		}()
	}
	wg.Wait()
	close(got)
	seen := map[int64]bool{}
	for v := range got {
		require.False(t, seen[v], "version %d given twice", v)
		seen[v] = true
	}
	for i := int64(1); i <= 6; i++ {
		require.True(t, seen[i], "version %d missing", i)
	}
}

func TestKeepBoundsVersions(t *testing.T) {
	ctx := t.Context()
	s := newStore(t, 2)
	ttl, err := s.EnsureIndexes(ctx, time.Hour)
	require.NoError(t, err)
	require.Equal(t, testenv.Has(t, testenv.CapTTLIndex), ttl, "EnsureIndexes reports a TTL index exactly where the server has them")
	for i := 0; i < 5; i++ {
		_, err = s.Save(ctx, "c", "d", testenv.Raw(t, bson.D{{Key: "_id", Value: "d"}}), "update", "u", time.Now())
		require.NoError(t, err)
	}
	list, err := s.List(ctx, "c", "d", 100)
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.EqualValues(t, 5, list[0].Version)
	require.EqualValues(t, 4, list[1].Version)
}

// Where the server has TTL indexes, retention in time is the server's job:
// versions older than the retention disappear without the proxy doing
// anything. The server's TTL pass runs every few seconds (DocumentDB) to
// every minute (MongoDB), so the test waits for the condition.
func TestRetentionThroughTTLIndex(t *testing.T) {
	testenv.RequireCapability(t, testenv.CapTTLIndex)
	ctx := t.Context()
	s := newStore(t, 100)
	ttl, err := s.EnsureIndexes(ctx, time.Second)
	require.NoError(t, err)
	require.True(t, ttl)
	old := time.Now().Add(-time.Hour)
	for i := 0; i < 3; i++ {
		_, err = s.Save(ctx, "c", "old", testenv.Raw(t, bson.D{{Key: "_id", Value: "old"}}), "update", "u", old)
		require.NoError(t, err)
	}
	// A version stamped far in the future outlives the test: the pass
	// removes expired entries only.
	_, err = s.Save(ctx, "c", "new", testenv.Raw(t, bson.D{{Key: "_id", Value: "new"}}), "update", "u", time.Now().Add(24*time.Hour))
	require.NoError(t, err)
	deadline := time.Now().Add(3 * time.Minute)
	for {
		list, err := s.List(ctx, "c", "old", 100)
		require.NoError(t, err)
		if len(list) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d expired versions still there after 3 minutes", len(list))
		}
		time.Sleep(250 * time.Millisecond) // polling interval, not a wait standing in for the condition
	}
	list, err := s.List(ctx, "c", "new", 100)
	require.NoError(t, err)
	require.Len(t, list, 1, "an unexpired version was removed")
}
