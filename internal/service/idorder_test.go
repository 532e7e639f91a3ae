package service_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/cursor"
	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/principal"
	"github.com/permission-mongo/permission-mongo/internal/service"
	"github.com/permission-mongo/permission-mongo/internal/store"
)

// countingStore is the real store, counting the list queries sent to the
// database.
type countingStore struct {
	*store.Documents
	finds atomic.Int64
}

func (c *countingStore) Find(ctx context.Context, coll string, filter any, sort bson.D, limit int64) ([]bson.Raw, error) {
	c.finds.Add(1)
	return c.Documents.Find(ctx, coll, filter, sort, limit)
}

// pages lists everything p may read, limit documents at a time, following
// the cursors, and returns each page's documents as Extended JSON.
func pages(t *testing.T, s *service.Service, p *principal.Principal, limit int) [][]string {
	t.Helper()
	var out [][]string
	req := service.FindRequest{Limit: limit}
	for {
		page, err := s.Find(context.Background(), p, "docs", req)
		require.NoError(t, err)
		var docs []string
		for _, d := range page.Docs {
			docs = append(docs, d.String())
		}
		out = append(out, docs)
		if !page.HasMore {
			return out
		}
		require.NotEmpty(t, page.Cursor)
		req.Cursor = page.Cursor
		require.Less(t, len(out), 1000, "paging does not end")
	}
}

// On the embedded backend a default list (by _id, no client filter) walks
// the _ids in order and fetches each document by {_id}; its pages are the
// ones the policy filter query gives, for every policy shape of
// lookupPolicy, and it sends no list query to the database. A policy with a
// null comparison on a dotted path, and a collection with a non-ObjectId
// _id, keep the filter query.
func TestListByIDOrderAnswersLikeTheFilter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, err := store.StartEmbedded(ctx, t.TempDir(), nil)
	require.NoError(t, err)
	t.Cleanup(e.Close)
	client, err := store.Connect(ctx, e.URI())
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Disconnect(ctx) })
	db := client.Database("app")

	var docs []any
	for i := range 90 {
		d := bson.D{{Key: "_id", Value: bson.NewObjectIDFromTimestamp(time.Unix(int64(1_900_000_000-i*7%90*1000), 0))},
			{Key: "tenant_id", Value: []string{"t1", "t2"}[i%2]},
			{Key: "owner", Value: []string{"u1", "u2", "u3"}[i%3]}, {Key: "public", Value: i%4 == 0},
			{Key: "email", Value: fmt.Sprintf("e%d@x", i)}, {Key: "ssn", Value: "123"}, {Key: "n", Value: int32(i)}}
		if i%6 == 1 {
			d = append(d, bson.E{Key: "meta", Value: bson.D{{Key: "archived", Value: true}}})
		}
		docs = append(docs, d)
	}
	_, err = db.Collection("docs").InsertMany(ctx, docs)
	require.NoError(t, err)
	order := e.IDOrder("app")
	require.Eventually(t, func() bool { _, ok := order.After(ctx, "docs", bson.ObjectID{}, 1); return ok },
		30*time.Second, 20*time.Millisecond, "the embedded backend never indexed the collection")

	set, err := policy.Parse(map[string][]byte{"p.yml": []byte(lookupPolicy)})
	require.NoError(t, err)
	codec := cursor.NewCodec([]byte(strings.Repeat("s", 32)))
	codec.Order = cursor.OrderOf(store.BackendFerretDB)
	walking := &countingStore{Documents: store.NewDocuments(db, 10*time.Second)}
	walk := service.New(service.Params{Store: walking, Policies: set, Cursors: codec, LookupByIDOnly: true, IDOrder: order})
	plain := service.New(service.Params{Store: store.NewDocuments(db, 10*time.Second), Policies: set, Cursors: codec})

	callers := append(lookupCallers, &principal.Principal{ID: "u9", TenantID: "t9", Roles: []string{"tenant"}})
	compare := func(wantFinds bool) {
		t.Helper()
		for _, p := range callers {
			for _, limit := range []int{1, 7, 100} {
				walking.finds.Store(0)
				got := pages(t, walk, p, limit)
				require.Equal(t, pages(t, plain, p, limit), got, "%v, limit %d", p.Roles, limit)
				// "live" compares a dotted path with null: never walked.
				walked := !wantFinds && p.Roles[0] != "live"
				require.Equal(t, walked, walking.finds.Load() == 0, "%v, limit %d: %d list queries", p.Roles, limit, walking.finds.Load())
			}
		}
	}
	compare(false)

	// One string _id (it sorts before every ObjectId): lists go to the
	// database again, with the same answers.
	_, err = db.Collection("docs").InsertOne(ctx, bson.D{{Key: "_id", Value: "s1"}, {Key: "tenant_id", Value: "t1"}, {Key: "owner", Value: "u1"}})
	require.NoError(t, err)
	compare(true)
}
