package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/store"
)

// A get by _id on the embedded backend is an index lookup: FerretDB's own
// query plan (explain) for {_id} names the index the embedded server adds,
// for ObjectId and string ids, in a collection created after the server
// started, and still after a restart. Without it the plan is a table scan
// ("SCAN <table>").
func TestEmbeddedGetByIDUsesAnIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()

	e, err := store.StartEmbedded(ctx, dir, nil)
	require.NoError(t, err)
	client, err := store.Connect(ctx, e.URI())
	require.NoError(t, err)
	db := client.Database("app")
	c := db.Collection("people")
	docs := make([]any, 0, 200)
	var oid bson.ObjectID
	for i := range 200 {
		id := any(fmt.Sprintf("s%03d", i))
		if i%2 == 0 {
			oid = bson.NewObjectID()
			id = oid
		}
		docs = append(docs, bson.D{{Key: "_id", Value: id}, {Key: "n", Value: i}})
	}
	_, err = c.InsertMany(ctx, docs)
	require.NoError(t, err)

	plan := func(id any) string {
		// EXPLAIN QUERY PLAN reads no table, so a pooled SQLite connection
		// that has not read since the index was created still plans with
		// the schema it knew; a find first makes it read the new schema.
		_ = db.Collection("people").FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Err()
		var res bson.Raw
		require.NoError(t, db.RunCommand(ctx, bson.D{
			{Key: "explain", Value: bson.D{{Key: "find", Value: "people"}, {Key: "filter", Value: bson.D{{Key: "_id", Value: id}}}}},
		}).Decode(&res))
		return res.Lookup("queryPlanner").String()
	}
	for _, id := range []any{oid, "s001"} {
		require.Eventually(t, func() bool { return strings.Contains(plan(id), "_pm_id_lookup") },
			30*time.Second, 50*time.Millisecond, "plan for _id %v never used the index: %s", id, plan(id))
		require.NotContains(t, plan(id), "SCAN")
	}

	// The documents are answered as stored, through the index.
	var got bson.M
	require.NoError(t, c.FindOne(ctx, bson.D{{Key: "_id", Value: "s001"}}).Decode(&got))
	require.EqualValues(t, 1, got["n"])
	require.NoError(t, c.FindOne(ctx, bson.D{{Key: "_id", Value: oid}}).Decode(&got))
	require.EqualValues(t, 198, got["n"])

	// FerretDB does not know of the index: listIndexes shows its own only,
	// and dropping the collection still works (the index goes with it).
	names, err := c.Indexes().ListSpecifications(ctx)
	require.NoError(t, err)
	require.Len(t, names, 1)
	require.Equal(t, "_id_", names[0].Name)
	require.NoError(t, c.Drop(ctx))
	_, err = c.InsertOne(ctx, bson.D{{Key: "_id", Value: "again"}})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return strings.Contains(plan("again"), "_pm_id_lookup") },
		30*time.Second, 50*time.Millisecond, "recreated collection not indexed: %s", plan("again"))

	require.NoError(t, client.Disconnect(ctx))
	e.Close()

	e, err = store.StartEmbedded(ctx, dir, nil)
	require.NoError(t, err)
	defer e.Close()
	client, err = store.Connect(ctx, e.URI())
	require.NoError(t, err)
	defer func() { _ = client.Disconnect(ctx) }()
	db = client.Database("app")
	require.Contains(t, plan("again"), "_pm_id_lookup")
}

// IDOrder lists ObjectId _ids in ascending order after a given one, and
// refuses (ok false) once the collection holds an _id of another type,
// whose place in MongoDB's order the index does not give.
func TestEmbeddedIDOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, err := store.StartEmbedded(ctx, t.TempDir(), nil)
	require.NoError(t, err)
	defer e.Close()
	client, err := store.Connect(ctx, e.URI())
	require.NoError(t, err)
	defer func() { _ = client.Disconnect(ctx) }()
	order := e.IDOrder("app")

	ids, ok := order.After(ctx, "nothing", bson.ObjectID{}, 10)
	require.True(t, ok, "a database that does not exist yet has no ids")
	require.Empty(t, ids)

	c := client.Database("app").Collection("c")
	var want []bson.ObjectID
	var docs []any
	for i := range 50 {
		// Not in insertion order: the timestamp part goes down.
		id := bson.NewObjectIDFromTimestamp(time.Unix(int64(2_000_000_000-i*1000), 0))
		want = append([]bson.ObjectID{id}, want...)
		docs = append(docs, bson.D{{Key: "_id", Value: id}})
	}
	_, err = c.InsertMany(ctx, docs)
	require.NoError(t, err)

	require.Eventually(t, func() bool { _, ok := order.After(ctx, "c", bson.ObjectID{}, 1); return ok },
		30*time.Second, 20*time.Millisecond, "indexes never built")
	ids, ok = order.After(ctx, "c", bson.ObjectID{}, 20)
	require.True(t, ok)
	require.Equal(t, want[:20], ids)
	ids, ok = order.After(ctx, "c", want[19], 100)
	require.True(t, ok)
	require.Equal(t, want[20:], ids)
	ids, ok = order.After(ctx, "other", bson.ObjectID{}, 5)
	require.True(t, ok, "a collection that does not exist has no ids")
	require.Empty(t, ids)

	_, err = c.InsertOne(ctx, bson.D{{Key: "_id", Value: "a-string"}})
	require.NoError(t, err)
	_, ok = order.After(ctx, "c", bson.ObjectID{}, 20)
	require.False(t, ok, "a string _id sorts before every ObjectId: the order is refused")
	_, err = c.DeleteOne(ctx, bson.D{{Key: "_id", Value: "a-string"}})
	require.NoError(t, err)
	ids, ok = order.After(ctx, "c", bson.ObjectID{}, 3)
	require.True(t, ok)
	require.Equal(t, want[:3], ids)
}
