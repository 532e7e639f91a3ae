package mongosem_test

import (
	"context"
	"math/rand"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/permission-mongo/permission-mongo/internal/mongosem"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

func sortValue(r *rand.Rand, arrays bool) any {
	switch r.Intn(12) {
	case 0:
		return nil
	case 1:
		return int32(r.Intn(5))
	case 2:
		return float64(r.Intn(10)) / 2
	case 3:
		return int64(r.Intn(5) - 2)
	case 4, 5:
		return []string{"a", "b", "B", "", "ab"}[r.Intn(5)]
	case 6:
		return r.Intn(2) == 0
	case 7:
		return bson.NewDateTimeFromTime(time.Date(2026, 1, 1+r.Intn(3), 0, 0, 0, 0, time.UTC))
	case 8:
		return bson.D{{"x", int32(r.Intn(3))}}
	case 9:
		if arrays {
			return bson.A{int32(r.Intn(5)), "a"}
		}
		return "c"
	case 10:
		if arrays {
			return bson.A{}
		}
		return int32(9)
	}
	return bson.ObjectID{byte(r.Intn(3))}
}

// genSortDocs makes documents whose sort fields are missing, null or of
// mixed types.
func genSortDocs(r *rand.Rand, n int, arrays bool) []any {
	docs := make([]any, n)
	for i := range docs {
		d := bson.D{{"_id", int32(i)}}
		if r.Intn(5) != 0 {
			d = append(d, bson.E{Key: "a", Value: sortValue(r, arrays)})
		}
		if r.Intn(5) != 0 {
			d = append(d, bson.E{Key: "b", Value: sortValue(r, arrays)})
		}
		docs[i] = d
	}
	return docs
}

func fetch(t *testing.T, coll *mongo.Collection, filter any, sort bson.D, limit int64) []bson.Raw {
	t.Helper()
	opts := options.Find().SetSort(sort)
	if limit > 0 {
		opts.SetLimit(limit)
	}
	cur, err := coll.Find(context.Background(), filter, opts)
	require.NoError(t, err)
	var out []bson.Raw
	for cur.Next(context.Background()) {
		out = append(out, append(bson.Raw(nil), cur.Current...))
	}
	require.NoError(t, cur.Err())
	return out
}

// TestSortOrderMatchesServer: the server's order of mixed-type values is the
// order Compare gives, so keyset pagination can trust both.
func TestSortOrderMatchesServer(t *testing.T) {
	_, db := testenv.Mongo(t)
	r := rand.New(rand.NewSource(3))
	// FerretDB v1.24 refuses nested arrays only; arrays of scalars are fine.
	docs := genSortDocs(r, 300, true)
	coll := db.Collection("s")
	_, err := coll.InsertMany(context.Background(), docs)
	require.NoError(t, err)
	for _, spec := range [][]mongosem.SortField{
		{{Path: []string{"a"}}, {Path: []string{"_id"}}},
		{{Path: []string{"a"}, Desc: true}, {Path: []string{"_id"}, Desc: true}},
		{{Path: []string{"a"}}, {Path: []string{"b"}, Desc: true}, {Path: []string{"_id"}}},
	} {
		sort := bson.D{}
		for _, f := range spec {
			dir := 1
			if f.Desc {
				dir = -1
			}
			sort = append(sort, bson.E{Key: f.Path[0], Value: dir})
		}
		got := fetch(t, coll, bson.D{}, sort, 0)
		require.Len(t, got, len(docs))
		for i := 1; i < len(got); i++ {
			ka, kb := mongosem.Keys(got[i-1], spec), mongosem.Keys(got[i], spec)
			require.LessOrEqual(t, mongosem.CompareKeys(ka, kb, spec), 0, "sort %v: server put\n%s\nbefore\n%s", sort, got[i-1], got[i])
		}
	}
}

// TestAfterFilterPagesExactly pages through mixed-type data with the keyset
// filter and checks every document comes exactly once, in order.
func TestAfterFilterPagesExactly(t *testing.T) {
	_, db := testenv.Mongo(t)
	r := rand.New(rand.NewSource(4))
	docs := genSortDocs(r, 250, true)
	coll := db.Collection("p")
	_, err := coll.InsertMany(context.Background(), docs)
	require.NoError(t, err)
	for _, spec := range [][]mongosem.SortField{
		{{Path: []string{"_id"}}},
		{{Path: []string{"a"}}, {Path: []string{"_id"}}},
		{{Path: []string{"a"}, Desc: true}, {Path: []string{"_id"}, Desc: true}},
		{{Path: []string{"b"}}, {Path: []string{"a"}, Desc: true}, {Path: []string{"_id"}}},
	} {
		sort := bson.D{}
		for _, f := range spec {
			dir := 1
			if f.Desc {
				dir = -1
			}
			sort = append(sort, bson.E{Key: f.Path[0], Value: dir})
		}
		seen := map[int32]bool{}
		var last []bson.RawValue
		for page := 0; page < 200; page++ {
			limit := int64(1 + r.Intn(17))
			var filter any = bson.D{}
			if last != nil {
				filter = mongosem.AfterFilter(spec, last)
			}
			got := fetch(t, coll, filter, sort, 0)
			var kept []bson.Raw
			for _, d := range got {
				if last == nil || mongosem.CompareKeys(mongosem.Keys(d, spec), last, spec) > 0 {
					kept = append(kept, d)
				}
				if int64(len(kept)) == limit {
					break
				}
			}
			if len(kept) == 0 {
				break
			}
			for _, d := range kept {
				id := d.Lookup("_id").Int32()
				require.False(t, seen[id], "spec %v: document %d seen twice", sort, id)
				seen[id] = true
			}
			last = mongosem.Keys(kept[len(kept)-1], spec)
		}
		require.Len(t, seen, len(docs), "spec %v: paging missed documents", sort)
	}
}
