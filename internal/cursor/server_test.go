package cursor_test

import (
	"math/rand"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/cursor"
	"github.com/permission-mongo/permission-mongo/internal/store"
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
		return bson.D{{Key: "x", Value: int32(r.Intn(3))}}
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
		d := bson.D{{Key: "_id", Value: int32(i)}}
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

func fetch(t *testing.T, coll *store.Collection, filter any, sort bson.D) []bson.Raw {
	t.Helper()
	var out []bson.Raw
	require.NoError(t, coll.FindAll(t.Context(), filter, store.Find{Sort: sort}, &out))
	return out
}

// sortDocsCollection stores n documents from genSortDocs (arrays included)
// in a fresh collection (FerretDB v1.24 refuses nested arrays only; arrays
// of scalars are fine); r is the test's seeded source, so a failure replays
// with the same data.
func sortDocsCollection(t *testing.T, r *rand.Rand, n int) (*store.Collection, []any) {
	t.Helper()
	docs := genSortDocs(r, n, true)
	coll := testenv.Store(t).Collection("sortdocs")
	require.NoError(t, coll.InsertMany(t.Context(), docs, true))
	return coll, docs
}

func TestMain(m *testing.M) { testenv.Main(m) }

// codec pages in the test backend's sort order (cursor.OrderOf).
func codec() *cursor.Codec {
	c := cursor.NewCodec([]byte("0123456789abcdef0123456789abcdef"))
	c.Order = cursor.OrderOf(testenv.Backend())
	return c
}

// TestSortOrderMatchesServer: the server's order of documents whose sort
// fields are missing, null, of mixed types, arrays or empty arrays is the
// order ComparePositions gives, so keyset pagination can trust both.
func TestSortOrderMatchesServer(t *testing.T) {
	coll, docs := sortDocsCollection(t, rand.New(rand.NewSource(3)), 300)
	for _, sort := range []bson.D{
		{{Key: "a", Value: 1}, {Key: "_id", Value: 1}},
		{{Key: "a", Value: -1}, {Key: "_id", Value: -1}},
		{{Key: "a", Value: 1}, {Key: "b", Value: -1}, {Key: "_id", Value: 1}},
	} {
		got := fetch(t, coll, bson.D{}, sort)
		require.Len(t, got, len(docs))
		c := codec()
		for i := 1; i < len(got); i++ {
			ka, kb := c.PositionOf(got[i-1], sort), c.PositionOf(got[i], sort)
			require.LessOrEqual(t, cursor.ComparePositions(ka, kb, sort), 0, "sort %v: server put\n%s\nbefore\n%s", sort, got[i-1], got[i])
		}
	}
}

// TestAfterPagesExactly pages through mixed-type data (empty arrays
// included) with the keyset filter and random page sizes, and checks that
// every document comes exactly once.
func TestAfterPagesExactly(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	coll, docs := sortDocsCollection(t, r, 250)
	for _, sort := range []bson.D{
		{{Key: "_id", Value: 1}},
		{{Key: "a", Value: 1}, {Key: "_id", Value: 1}},
		{{Key: "a", Value: -1}, {Key: "_id", Value: -1}},
		{{Key: "b", Value: 1}, {Key: "a", Value: -1}, {Key: "_id", Value: 1}},
	} {
		seen := map[int32]bool{}
		c := codec()
		var last *cursor.Position
		for page := 0; page < 300; page++ {
			limit := 1 + r.Intn(17)
			var filter any = bson.D{}
			if last != nil {
				filter = c.After(sort, *last)
			}
			var kept []bson.Raw
			for _, d := range fetch(t, coll, filter, sort) {
				if last == nil || cursor.ComparePositions(c.PositionOf(d, sort), *last, sort) > 0 {
					kept = append(kept, d)
				}
				if len(kept) == limit {
					break
				}
			}
			if len(kept) == 0 {
				break
			}
			for _, d := range kept {
				id := d.Lookup("_id").Int32()
				require.False(t, seen[id], "sort %v: document %d seen twice", sort, id)
				seen[id] = true
			}
			p := c.PositionOf(kept[len(kept)-1], sort)
			last = &p
		}
		require.Len(t, seen, len(docs), "sort %v: paging missed documents", sort)
	}
}

// OrderOf knows the backends by the names store.Probe reports.
func TestOrderOfBackendNames(t *testing.T) {
	require.Equal(t, cursor.FerretDBUnstorable, cursor.OrderOf(store.BackendFerretDB).Unstorable)
	require.True(t, cursor.OrderOf(store.BackendDocumentDB).EmptyArrayAsNull)
	require.Equal(t, cursor.Order{}, cursor.OrderOf(store.BackendMongoDB))
}

// A Keyer gives every document the position Codec.PositionOf gives it, in
// either order of the backends, one document after another (its Position is
// reused).
func TestKeyerMatchesPositionOf(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	var docs []bson.Raw
	for _, d := range genSortDocs(r, 400, true) {
		raw, err := bson.Marshal(d)
		require.NoError(t, err)
		docs = append(docs, raw)
	}
	nested, err := bson.Marshal(bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: bson.A{bson.D{{Key: "x", Value: 3}}, bson.D{{Key: "x", Value: bson.A{}}}, bson.D{{Key: "x", Value: 1}}}}})
	require.NoError(t, err)
	docs = append(docs, nested)
	for _, emptyAsNull := range []bool{false, true} {
		c := cursor.NewCodec([]byte("0123456789abcdef0123456789abcdef"))
		c.EmptyArrayAsNull = emptyAsNull
		for _, sort := range []bson.D{
			{{Key: "_id", Value: 1}},
			{{Key: "a", Value: 1}, {Key: "_id", Value: 1}},
			{{Key: "a", Value: -1}, {Key: "b", Value: 1}, {Key: "_id", Value: -1}},
			{{Key: "a.x", Value: 1}, {Key: "b.x", Value: -1}, {Key: "_id", Value: 1}},
		} {
			k := c.Keyer(sort)
			for _, d := range docs {
				require.Equal(t, c.PositionOf(d, sort), k.Of(d), "sort %v, empty array as null %v, document %s", sort, emptyAsNull, d)
			}
		}
	}
}
