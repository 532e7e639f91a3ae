package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/store"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

// Find copies a page into one buffer: every document must come back whole
// and in order, whatever their sizes (one larger than the buffer sized from
// the first), and appending to one must not write over the next.
func TestDocumentsFindReturnsSeparateDocuments(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, db := testenv.Mongo(t)
	d := store.NewDocuments(db, 0)
	for i := 0; i < 5; i++ {
		pad := strings.Repeat("x", 10)
		if i == 3 {
			pad = strings.Repeat("y", 5000)
		}
		require.NoError(t, d.Insert(ctx, "docs", bson.D{{Key: "_id", Value: int32(i)}, {Key: "pad", Value: pad}}))
	}

	docs, err := d.Find(ctx, "docs", bson.D{}, bson.D{{Key: "_id", Value: 1}}, 4)
	require.NoError(t, err)
	require.Len(t, docs, 4)
	for i, doc := range docs {
		require.NoError(t, doc.Validate())
		require.Equal(t, int32(i), doc.Lookup("_id").Int32(), "document %d", i)
		want := 10
		if i == 3 {
			want = 5000
		}
		require.Len(t, doc.Lookup("pad").StringValue(), want)
	}
	next := append(bson.Raw(nil), docs[1]...)
	_ = append(docs[0], 0xff, 0xff, 0xff, 0xff)
	require.Equal(t, next, docs[1], "appending to one document changed the next")

	none, err := d.Find(ctx, "docs", bson.D{{Key: "_id", Value: "absent"}}, nil, 10)
	require.NoError(t, err)
	require.Empty(t, none)
	all, err := d.Find(ctx, "docs", bson.D{}, nil, 0)
	require.NoError(t, err)
	require.Len(t, all, 5, "limit 0 is no limit")
}
