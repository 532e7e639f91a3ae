package store_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/store"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

// The handles other packages read and write their collections through
// behave as the driver calls they replace, on whichever engine runs.
func TestCollectionHandle(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := testenv.Store(t)
	c := db.Collection("handle")

	caps, err := db.Probe(ctx)
	require.NoError(t, err)
	require.Equal(t, testenv.Backend(), caps.Backend)

	ixs, err := c.Indexes(ctx)
	require.NoError(t, err, "a collection that does not exist yet has no indexes, not an error")
	require.Empty(t, ixs)

	require.NoError(t, c.CreateIndex(ctx, store.Index{Name: "k_unique", Keys: bson.D{{Key: "k", Value: 1}}, Unique: true}))
	require.NoError(t, c.CreateIndex(ctx, store.Index{Name: "k_unique", Keys: bson.D{{Key: "k", Value: 1}}, Unique: true}), "idempotent")
	ixs, err = c.Indexes(ctx)
	require.NoError(t, err)
	var names []string
	for _, ix := range ixs {
		names = append(names, ix.Name)
	}
	require.Contains(t, names, "k_unique")

	docs := []bson.D{
		{{Key: "_id", Value: 1}, {Key: "k", Value: "a"}, {Key: "n", Value: 10}},
		{{Key: "_id", Value: 2}, {Key: "k", Value: "b"}, {Key: "n", Value: 20}},
		{{Key: "_id", Value: 3}, {Key: "k", Value: "c"}, {Key: "n", Value: 30}},
	}
	require.NoError(t, c.InsertMany(ctx, docs, true))

	// Unordered, a batch whose only failures are duplicates is stored in
	// full (the new document goes in) and says so.
	err = c.InsertMany(ctx, []bson.D{docs[0], {{Key: "_id", Value: 4}, {Key: "k", Value: "d"}, {Key: "n", Value: 40}}}, false)
	require.Error(t, err)
	require.True(t, store.OnlyDuplicates(err), "%v", err)
	n, err := c.Count(ctx, bson.D{})
	require.NoError(t, err)
	require.EqualValues(t, 4, n)

	err = c.InsertOne(ctx, bson.D{{Key: "_id", Value: 5}, {Key: "k", Value: "a"}})
	require.True(t, store.IsDuplicateKey(err), "unique index on k: %v", err)
	require.False(t, store.OnlyDuplicates(errors.New("other")))

	var got []struct {
		ID int `bson:"_id"`
		N  int `bson:"n"`
	}
	require.NoError(t, c.FindAll(ctx, bson.D{{Key: "n", Value: bson.D{{Key: "$gte", Value: 20}}}},
		store.Find{Sort: bson.D{{Key: "n", Value: -1}}, Limit: 2, Projection: bson.D{{Key: "k", Value: 0}}}, &got))
	require.Equal(t, []int{4, 3}, []int{got[0].ID, got[1].ID})

	var raw bson.Raw
	require.NoError(t, c.FindOne(ctx, bson.D{}, store.Find{Sort: bson.D{{Key: "n", Value: 1}}, Projection: bson.D{{Key: "n", Value: 1}}}, &raw))
	require.EqualValues(t, 10, raw.Lookup("n").AsInt64())
	require.Error(t, raw.Lookup("k").Validate(), "projected away")
	err = c.FindOne(ctx, bson.D{{Key: "_id", Value: 99}}, store.Find{}, &raw)
	require.ErrorIs(t, err, store.ErrNoDocuments)

	// Each stops at the first error fn returns, and returns it.
	stop := errors.New("stop")
	seen := 0
	err = c.Each(ctx, bson.D{}, store.Find{Sort: bson.D{{Key: "_id", Value: 1}}}, func(bson.Raw) error {
		seen++
		if seen == 2 {
			return stop
		}
		return nil
	})
	require.ErrorIs(t, err, stop)
	require.Equal(t, 2, seen)

	matched, err := c.UpdateOne(ctx, bson.D{{Key: "_id", Value: 2}}, bson.D{{Key: "$set", Value: bson.D{{Key: "n", Value: 21}}}})
	require.NoError(t, err)
	require.EqualValues(t, 1, matched)
	matched, err = c.UpdateOne(ctx, bson.D{{Key: "_id", Value: 99}}, bson.D{{Key: "$set", Value: bson.D{{Key: "n", Value: 0}}}})
	require.NoError(t, err)
	require.Zero(t, matched)

	var ks []string
	require.NoError(t, c.Distinct(ctx, "k", bson.D{{Key: "n", Value: bson.D{{Key: "$lt", Value: 40}}}}, &ks))
	require.ElementsMatch(t, []string{"a", "b", "c"}, ks)

	deleted, err := c.DeleteMany(ctx, bson.D{{Key: "n", Value: bson.D{{Key: "$gt", Value: 20}}}})
	require.NoError(t, err)
	require.EqualValues(t, 3, deleted)

	require.NoError(t, c.DropIndex(ctx, "k_unique"))
	require.Equal(t, "handle_claims", c.Sibling("handle_claims").Name())
}
