package audit

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

// A batch retried after its answer was lost is partly or wholly stored
// already. The ids are deterministic, so the retry meets duplicate keys,
// which count as success: no error, no second copy.
func TestInsertRetryIsIdempotent(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	coll := testenv.Store(t).Collection("audit")
	require.NoError(t, EnsureIndexes(ctx, coll, 0))
	w, err := NewWriter(Options{Collection: coll, Logger: testenv.Quiet})
	require.NoError(t, err)
	defer func() { _ = w.Close(ctx) }()

	w.mu.Lock()
	for i := range 5 {
		w.appendLocked(Entry{Action: "find", Status: 200, RequestID: string(rune('a' + i))})
	}
	batch := append([]bson.Raw(nil), w.queue...)
	w.mu.Unlock()

	require.NoError(t, w.insert(batch[:2]), "the first attempt stored two")
	require.NoError(t, w.insert(batch), "the retry of the whole batch")
	require.NoError(t, w.insert(batch), "and again")
	n, err := coll.Count(ctx, bson.D{})
	require.NoError(t, err)
	require.EqualValues(t, 5, n)
}
