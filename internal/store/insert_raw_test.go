package store_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"

	"github.com/permission-mongo/permission-mongo/internal/store"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

func rawDoc(t *testing.T, d bson.D) bson.Raw {
	t.Helper()
	b, err := bson.Marshal(d)
	require.NoError(t, err)
	return b
}

// InsertRaw stores the documents as they are, and fails as InsertMany does:
// unordered, duplicates do not stop the others and OnlyDuplicates says so;
// ordered, the insert stops at the first refused document.
func TestInsertRaw(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c := testenv.Store(t).Collection("raw")

	docs := []bson.Raw{
		rawDoc(t, bson.D{{Key: "_id", Value: "a"}, {Key: "n", Value: int32(1)}, {Key: "s", Value: "x\x00y"}, {Key: "l", Value: bson.A{"p", "q"}}}),
		rawDoc(t, bson.D{{Key: "_id", Value: "b"}, {Key: "sub", Value: bson.D{{Key: "k", Value: int64(2)}}}}),
	}
	require.NoError(t, c.InsertRaw(ctx, docs, false))
	for _, d := range docs {
		var got bson.Raw
		require.NoError(t, c.FindOne(ctx, bson.D{{Key: "_id", Value: d.Lookup("_id").StringValue()}}, store.Find{}, &got))
		require.Equal(t, d, got, "stored as sent")
	}

	c2 := rawDoc(t, bson.D{{Key: "_id", Value: "c"}})
	err := c.InsertRaw(ctx, []bson.Raw{docs[0], c2, docs[1]}, false)
	require.Error(t, err)
	require.True(t, store.OnlyDuplicates(err), "%v", err)
	n, err := c.Count(ctx, bson.D{})
	require.NoError(t, err)
	require.EqualValues(t, 3, n, "the new document went in")

	err = c.InsertRaw(ctx, []bson.Raw{rawDoc(t, bson.D{{Key: "_id", Value: "d"}}), docs[0], rawDoc(t, bson.D{{Key: "_id", Value: "e"}})}, true)
	require.True(t, store.IsDuplicateKey(err), "%v", err)
	n, err = c.Count(ctx, bson.D{})
	require.NoError(t, err)
	require.EqualValues(t, 4, n, "ordered: stopped at the duplicate, after d")
}

// More than one command's worth of documents goes in several commands, and
// an unordered insert sends them all, whatever the duplicates of the first.
func TestInsertRawSplitsLargeBatches(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c := testenv.Store(t).Collection("rawbig")
	pad := strings.Repeat("x", 3<<20)
	var docs []bson.Raw
	for i := range 4 { // 12 MiB: two commands
		docs = append(docs, rawDoc(t, bson.D{{Key: "_id", Value: strconv.Itoa(i)}, {Key: "pad", Value: pad}}))
	}
	require.NoError(t, c.InsertRaw(ctx, docs[:1], false))
	err := c.InsertRaw(ctx, docs, false)
	require.True(t, store.OnlyDuplicates(err), "%v", err)
	n, err := c.Count(ctx, bson.D{})
	require.NoError(t, err)
	require.EqualValues(t, 4, n)
}

// InsertRaw sends its command with RunCommand, which applies no write
// concern of the client's: the one in the connection string must be named in
// the command, or w=majority would silently become the server's default for
// audit entries.
func TestInsertRawCarriesTheURIWriteConcern(t *testing.T) {
	t.Parallel()
	uri := testenv.MongoURI(t)
	sep := "?"
	if strings.Contains(uri, "?") {
		sep = "&"
	}
	client, err := store.Open(t.Context(), uri+sep+"w=majority&journal=true")
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close(context.Background()) })

	wc, ok := store.WriteConcernOf(client).(*writeconcern.WriteConcern)
	require.True(t, ok, "the connection string's write concern was not kept")
	cmd := store.AppendWriteConcern(nil, wc)
	doc := bson.Raw(append(append([]byte{byte(len(cmd) + 5), 0, 0, 0}, cmd...), 0))
	require.Equal(t, `{"writeConcern": {"w": "majority","j": true}}`, doc.String())

	numbered := store.AppendWriteConcern(nil, &writeconcern.WriteConcern{W: 2})
	doc = bson.Raw(append(append([]byte{byte(len(numbered) + 5), 0, 0, 0}, numbered...), 0))
	require.Equal(t, `{"writeConcern": {"w": {"$numberInt":"2"}}}`, doc.String())
	require.Empty(t, store.AppendWriteConcern(nil, nil), "no write concern: the server's default")

	// The server takes the command with it (both engines here are
	// standalone: majority is the one node). The database is the test's
	// own, dropped by testenv.
	c := client.Database(testenv.DB(t).Name()).Collection("raw")
	require.NoError(t, c.InsertRaw(t.Context(), []bson.Raw{rawDoc(t, bson.D{{Key: "_id", Value: 1}})}, true))
	n, err := c.Count(t.Context(), bson.D{})
	require.NoError(t, err)
	require.EqualValues(t, 1, n)

	require.NoError(t, client.Close(t.Context()))
	require.Nil(t, store.WriteConcernOf(client), "a closed client's write concern is forgotten")
}

// The driver retries InsertMany once on these; InsertRaw must too, or one
// primary election fails an audit batch that used to be stored.
func TestInsertRawRetriesWhatTheDriverWould(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"network error", mongo.CommandError{Labels: []string{"NetworkError"}}, true},
		{"labelled retryable", mongo.CommandError{Code: 91, Labels: []string{"RetryableWriteError"}}, true},
		{"not writable primary", mongo.CommandError{Code: 10107}, true},
		{"primary stepped down", mongo.CommandError{Code: 189}, true},
		{"duplicate key", mongo.BulkWriteException{WriteErrors: []mongo.BulkWriteError{{WriteError: mongo.WriteError{Code: 11000}}}}, false},
		{"bad value", mongo.CommandError{Code: 2}, false},
		{"context deadline", context.DeadlineExceeded, false},
	} {
		require.Equal(t, tc.want, store.RetryableInsert(tc.err), tc.name)
	}
}
