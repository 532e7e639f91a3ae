package store_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/store"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

// The embedded server keeps data in its directory across restarts, which is
// what `make run` relies on.
func TestEmbeddedRoundTripAndRestart(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "not", "yet", "there")

	e, err := store.StartEmbedded(ctx, dir, nil)
	require.NoError(t, err)
	client, err := store.Connect(ctx, e.URI())
	require.NoError(t, err)
	_, err = client.Database("app").Collection("c").InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "v", Value: "kept"}})
	require.NoError(t, err)
	require.NoError(t, client.Disconnect(ctx))
	e.Close()
	e.Close() // idempotent

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.NotEmpty(t, entries, "no SQLite files written under the data directory")

	e, err = store.StartEmbedded(ctx, dir, nil)
	require.NoError(t, err)
	defer e.Close()
	client, err = store.Connect(ctx, e.URI())
	require.NoError(t, err)
	defer func() { _ = client.Disconnect(ctx) }()
	var got bson.M
	require.NoError(t, client.Database("app").Collection("c").FindOne(ctx, bson.D{{Key: "_id", Value: 1}}).Decode(&got))
	require.Equal(t, "kept", got["v"])
}

func TestConnectFailures(t *testing.T) {
	t.Parallel()
	ctx := t.Context()

	_, err := store.Connect(ctx, "not-a-uri")
	require.Equal(t, apperr.KindInvalid, apperr.KindOf(err), "%v", err)

	// A port nobody listens on: the embedded server's, after it stopped.
	e, err := store.StartEmbedded(ctx, t.TempDir(), nil)
	require.NoError(t, err)
	e.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = store.Connect(ctx, e.URI())
	require.Equal(t, apperr.KindUnavailable, apperr.KindOf(err), "%v", err)
}

func TestProbe(t *testing.T) {
	t.Parallel()
	client, db := testenv.Mongo(t)
	caps, err := store.Probe(t.Context(), client, db.Name())
	require.NoError(t, err)
	require.Equal(t, testenv.Backend(), caps.Backend)
	require.NotEmpty(t, caps.Version)

	names, err := db.ListCollectionNames(t.Context(), bson.D{})
	require.NoError(t, err)
	require.Empty(t, names, "Probe must not create collections")

	if caps.Backend == store.BackendFerretDB {
		// As measured and documented in backends.md for FerretDB v1.24 / SQLite.
		require.False(t, caps.Lookup, "FerretDB v1.24 does not implement $lookup")
		require.False(t, caps.UserManagement, "embedded FerretDB has no usersInfo")
		require.False(t, caps.Transactions, "embedded FerretDB is not a replica set")
	}
	require.Equal(t, caps.Lookup, caps.Has(store.CapLookup))
	require.False(t, caps.Has("no-such-capability"))
}
