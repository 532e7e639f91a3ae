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
	"github.com/permission-mongo/permission-mongo/internal/testenv"
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
	e, client := testenv.Embedded(t)
	order := e.IDOrder("app")

	ids, ok := order.After(ctx, "nothing", bson.ObjectID{}, 10, nil)
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
	_, err := c.InsertMany(ctx, docs)
	require.NoError(t, err)

	testenv.WaitIDOrder(t, order, "c")
	ids, ok = order.After(ctx, "c", bson.ObjectID{}, 20, nil)
	require.True(t, ok)
	require.Equal(t, want[:20], ids)
	// A read bounded by a timeout already over gives up (the caller then
	// asks the server); a generous one answers.
	_, ok = e.IDOrder("app").Bounded(time.Nanosecond).After(ctx, "c", bson.ObjectID{}, 20, nil)
	require.False(t, ok, "a read past its timeout answered")
	ids, ok = e.IDOrder("app").Bounded(time.Minute).After(ctx, "c", bson.ObjectID{}, 20, nil)
	require.True(t, ok)
	require.Equal(t, want[:20], ids)
	ids, ok = order.After(ctx, "c", want[19], 100, nil)
	require.True(t, ok)
	require.Equal(t, want[20:], ids)
	ids, ok = order.After(ctx, "other", bson.ObjectID{}, 5, nil)
	require.True(t, ok, "a collection that does not exist has no ids")
	require.Empty(t, ids)

	_, err = c.InsertOne(ctx, bson.D{{Key: "_id", Value: "a-string"}})
	require.NoError(t, err)
	_, ok = order.After(ctx, "c", bson.ObjectID{}, 20, nil)
	require.False(t, ok, "a string _id sorts before every ObjectId: the order is refused")
	_, err = c.DeleteOne(ctx, bson.D{{Key: "_id", Value: "a-string"}})
	require.NoError(t, err)
	ids, ok = order.After(ctx, "c", bson.ObjectID{}, 3, nil)
	require.True(t, ok)
	require.Equal(t, want[:3], ids)
}

// With conditions, IDOrder skips exactly the documents whose field is a
// string other than the value (of every list of conditions), and keeps
// every other shape (an array, a number, a missing field) for the caller to
// check; a condition it cannot write in SQL keeps everything.
func TestEmbeddedIDOrderStringEquals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, client := testenv.Embedded(t)
	order := e.IDOrder("app")

	const odd = `<a&"b\é>` // escaped in FerretDB's JSON
	tenants := []any{"t1", "t2", odd, "T1", bson.A{"t2", "t1"}, bson.A{"t2"}, int32(1), nil, bson.D{{Key: "t1", Value: "t1"}}, "t1 "}
	type doc struct {
		id     bson.ObjectID
		tenant any // absent: missing
		kind   string
	}
	var all []doc
	var docs []any
	for i := range 40 {
		d := doc{id: bson.NewObjectIDFromTimestamp(time.Unix(int64(2_000_000_000+i*1000), 0)), kind: []string{"a", "b", "c"}[i%3]}
		stored := bson.D{{Key: "_id", Value: d.id}, {Key: "kind", Value: d.kind}}
		if i%11 != 10 {
			d.tenant = tenants[i%len(tenants)]
			stored = append(stored, bson.E{Key: "tenant_id", Value: d.tenant})
		} else {
			d.tenant = absent{}
		}
		all = append(all, d)
		docs = append(docs, stored)
	}
	_, err := client.Database("app").Collection("c").InsertMany(ctx, docs)
	require.NoError(t, err)
	testenv.WaitIDOrder(t, order, "c")

	// kept is the model: a string field must equal the value.
	kept := func(anyOf [][]store.StringEquals) []bson.ObjectID {
		var out []bson.ObjectID
		for _, d := range all {
			for _, conds := range anyOf {
				ok := true
				for _, c := range conds {
					v := map[string]any{"tenant_id": d.tenant, "kind": d.kind}[c.Field]
					if s, isString := v.(string); isString && s != c.Value {
						ok = false
					}
				}
				if ok {
					out = append(out, d.id)
					break
				}
			}
		}
		return out
	}
	var everything []bson.ObjectID
	for _, d := range all {
		everything = append(everything, d.id)
	}
	for _, tc := range []struct {
		name  string
		anyOf [][]store.StringEquals
		want  []bson.ObjectID
	}{
		{"one tenant", [][]store.StringEquals{{{Field: "tenant_id", Value: "t1"}}}, nil},
		{"escaped value", [][]store.StringEquals{{{Field: "tenant_id", Value: odd}}}, nil},
		{"and", [][]store.StringEquals{{{Field: "tenant_id", Value: "t1"}, {Field: "kind", Value: "a"}}}, nil},
		{"or", [][]store.StringEquals{{{Field: "tenant_id", Value: "t1"}}, {{Field: "kind", Value: "b"}}}, nil},
		{"a list without conditions", [][]store.StringEquals{{{Field: "tenant_id", Value: "t1"}}, {}}, everything},
		{"a dotted path", [][]store.StringEquals{{{Field: "tenant_id.x", Value: "t1"}}}, everything},
		{"FerretDB's own key", [][]store.StringEquals{{{Field: "$s", Value: "t1"}}}, everything},
		{"a NUL", [][]store.StringEquals{{{Field: "tenant_id", Value: "t1\x00"}}}, everything},
		{"invalid UTF-8", [][]store.StringEquals{{{Field: "tenant_id", Value: "t1\xff"}}}, everything},
	} {
		want := tc.want
		if want == nil {
			want = kept(tc.anyOf)
			require.Less(t, len(want), len(all), tc.name)
		}
		got, ok := order.After(ctx, "c", bson.ObjectID{}, 100, tc.anyOf)
		require.True(t, ok, tc.name)
		require.Equal(t, want, got, tc.name)
		// Paged, from the middle: the same ids after it.
		got, ok = order.After(ctx, "c", want[2], 3, tc.anyOf)
		require.True(t, ok, tc.name)
		require.Equal(t, want[3:6], got, tc.name)
	}
}

// absent marks a document without the field in TestEmbeddedIDOrderStringEquals.
type absent struct{}
