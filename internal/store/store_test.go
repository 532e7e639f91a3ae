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

	e, client := startEmbedded(t, dir)
	require.NoError(t, client.Database("app").Collection("c").InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "v", Value: "kept"}}))
	require.NoError(t, client.Close(ctx))
	e.Close()
	e.Close() // idempotent

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.NotEmpty(t, entries, "no SQLite files written under the data directory")

	_, client = startEmbedded(t, dir)
	var got bson.M
	require.NoError(t, client.Database("app").Collection("c").FindOne(ctx, bson.D{{Key: "_id", Value: 1}}, store.Find{}, &got))
	require.Equal(t, "kept", got["v"])
}

// startEmbedded starts an embedded server on dir and opens a client to it;
// both are closed when the test ends, if the test has not closed them.
func startEmbedded(t *testing.T, dir string) (*store.Embedded, *store.Client) {
	t.Helper()
	e, err := store.StartEmbedded(t.Context(), dir, nil)
	require.NoError(t, err)
	t.Cleanup(e.Close)
	client, err := store.Open(t.Context(), e.URI())
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close(context.Background()) })
	return e, client
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
