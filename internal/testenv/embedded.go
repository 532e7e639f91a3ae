package testenv

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/permission-mongo/permission-mongo/internal/store"
)

// Embedded starts an embedded backend of t's own (FerretDB v1 on SQLite in
// this process, whatever PM_TEST_MONGODB_URI names) and returns it with a
// client of it, both closed when t ends: for what only the embedded backend
// does, such as reading _id order from its files (store.IDOrder).
func Embedded(t testing.TB) (*store.Embedded, *mongo.Client) {
	t.Helper()
	ctx := context.Background()
	e, err := store.StartEmbedded(ctx, t.TempDir(), nil)
	require.NoError(t, err)
	t.Cleanup(e.Close)
	client, err := store.Connect(ctx, e.URI())
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	return e, client
}

// WaitIDOrder waits until order answers for coll: the embedded backend
// builds the lookup indexes it reads in the background, after the first
// documents are stored.
func WaitIDOrder(t testing.TB, order *store.IDOrder, coll string) {
	t.Helper()
	WaitUntil(t, func() bool {
		_, ok := order.After(context.Background(), coll, bson.ObjectID{}, 1, nil)
		return ok
	}, "the embedded backend's _id order of "+coll)
}
