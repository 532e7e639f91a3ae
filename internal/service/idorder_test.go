package service_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/permission-mongo/permission-mongo/internal/cursor"
	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/principal"
	"github.com/permission-mongo/permission-mongo/internal/service"
	"github.com/permission-mongo/permission-mongo/internal/store"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

// countingStore is the real store, counting the list queries sent to the
// database and noting the _ids fetched one by one.
type countingStore struct {
	*store.Documents
	finds atomic.Int64

	mu      sync.Mutex
	fetched []bson.ObjectID
}

func (c *countingStore) FindOne(ctx context.Context, coll string, filter any) (bson.Raw, error) {
	// The service sends {_id} as raw BSON (idFilter); read it as the
	// server would, so a change of form cannot hide the fetches.
	raw, err := bson.Marshal(filter)
	if err != nil {
		return nil, err
	}
	if elems, err := bson.Raw(raw).Elements(); err == nil && len(elems) == 1 && elems[0].Key() == "_id" {
		if id, ok := elems[0].Value().ObjectIDOK(); ok {
			c.mu.Lock()
			c.fetched = append(c.fetched, id)
			c.mu.Unlock()
		}
	}
	return c.Documents.FindOne(ctx, coll, filter)
}

func (c *countingStore) takeFetched() []bson.ObjectID {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.fetched
	c.fetched = nil
	return f
}

func (c *countingStore) Find(ctx context.Context, coll string, filter any, sort bson.D, limit int64) ([]bson.Raw, error) {
	c.finds.Add(1)
	return c.Documents.Find(ctx, coll, filter, sort, limit)
}

// recordingOrder is the real IDOrder, noting the _ids of the documents it
// returns (read from SQLite), and turning the stored form of those for
// which spoil says so into one the decoder does not know.
type recordingOrder struct {
	*store.IDOrder
	spoil func(id bson.ObjectID) bool

	mu   sync.Mutex
	read []bson.ObjectID
}

func (r *recordingOrder) AfterDocs(ctx context.Context, coll string, after bson.ObjectID, n int, anyOf [][]store.StringEquals) ([]store.StoredDoc, bool) {
	docs, ok := r.IDOrder.AfterDocs(ctx, coll, after, n, anyOf)
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, d := range docs {
		r.read = append(r.read, d.ID)
		if r.spoil != nil && r.spoil(d.ID) {
			// An element type FerretDB v1 does not have.
			docs[i].Stored = bytes.Replace(d.Stored, []byte(`"t":"int"`), []byte(`"t":"decimal"`), 1)
		}
	}
	return docs, ok
}

func (r *recordingOrder) takeRead() []bson.ObjectID {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := r.read
	r.read = nil
	return ids
}

// walkSetup stores docs in db's collection docs, waits for the _id order
// of order, and returns over lookupPolicy a service that walks it (its
// store counting) and one that queries the database.
func walkSetup(t *testing.T, db *mongo.Database, order *recordingOrder, docs []any) (*countingStore, *service.Service, *service.Service) {
	t.Helper()
	ctx := context.Background()
	_, err := db.Collection("docs").InsertMany(ctx, docs)
	require.NoError(t, err)
	testenv.WaitIDOrder(t, order.IDOrder, "docs")

	set, err := policy.Parse(map[string][]byte{"p.yml": []byte(lookupPolicy)})
	require.NoError(t, err)
	codec := cursor.NewCodec([]byte(strings.Repeat("s", 32)))
	codec.Order = cursor.OrderOf(store.BackendFerretDB)
	walking := &countingStore{Documents: store.NewDocuments(db, 10*time.Second)}
	walk := service.New(service.Params{Store: walking, Policies: set, Cursors: codec, LookupByIDOnly: true, IDOrder: order})
	plain := service.New(service.Params{Store: store.NewDocuments(db, 10*time.Second), Policies: set, Cursors: codec})
	return walking, walk, plain
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
// the _ids in order, reading each document from SQLite with its _id; its
// pages are the ones the policy filter query gives, for every policy shape
// of lookupPolicy, and it sends no query to the database at all: no list,
// no find by {_id} (every document decodes). A policy with a null
// comparison on a dotted path, and a collection with a non-ObjectId _id,
// keep the filter query.
func TestListByIDOrderAnswersLikeTheFilter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	e, client := testenv.Embedded(t)
	db := client.Database("app")

	// The walk skips in SQL the documents whose tenant_id is a string other
	// than the caller's; every other shape of tenant_id must still reach
	// the policy check: an array holding the tenant is the caller's.
	const oddTenant = `t"é\\1` // escaped in FerretDB's JSON
	tenants := map[bson.ObjectID]any{}
	var inArray []bson.ObjectID // tenant_id an array holding t1
	var docs []any
	for i := range 90 {
		id := bson.NewObjectIDFromTimestamp(time.Unix(int64(1_900_000_000-i*7%90*1000), 0))
		var tenant any = []string{"t1", "t2"}[i%2]
		switch i % 15 {
		case 1:
			tenant = "T1"
		case 3:
			tenant = bson.A{"t2", "t1"}
			inArray = append(inArray, id)
		case 5:
			tenant = bson.A{"t2", "t3"}
		case 7:
			tenant = bson.A{bson.D{{Key: "t", Value: "t1"}}, int32(1)}
		case 9:
			tenant = int32(1)
		case 11:
			tenant = nil
		case 12:
			tenant = oddTenant
		case 13:
			tenant = bson.D{{Key: "t1", Value: "t1"}}
		}
		d := bson.D{{Key: "_id", Value: id}}
		if i%15 != 14 { // else no tenant_id at all
			d = append(d, bson.E{Key: "tenant_id", Value: tenant})
			tenants[id] = tenant
		}
		d = append(d, bson.D{{Key: "owner", Value: []string{"u1", "u2", "u3"}[i%3]}, {Key: "public", Value: i%4 == 0},
			{Key: "email", Value: fmt.Sprintf("e%d@x", i)}, {Key: "ssn", Value: "123"}, {Key: "n", Value: int32(i)}}...)
		if i%6 == 1 {
			d = append(d, bson.E{Key: "meta", Value: bson.D{{Key: "archived", Value: true}}})
		}
		docs = append(docs, d)
	}
	order := &recordingOrder{IDOrder: e.IDOrder("app")}
	walking, walk, plain := walkSetup(t, db, order, docs)

	callers := append(lookupCallers, &principal.Principal{ID: "u9", TenantID: "t9", Roles: []string{"tenant"}},
		&principal.Principal{ID: "u1", TenantID: oddTenant, Roles: []string{"tenant"}},
		// Two rules, each requiring the tenant: the prefilter is their $or.
		&principal.Principal{ID: "u2", TenantID: "t1", Roles: []string{"tenant", "mine"}})
	compare := func(wantFinds bool) {
		t.Helper()
		for _, p := range callers {
			for _, limit := range []int{1, 7, 100} {
				walking.finds.Store(0)
				walking.takeFetched()
				order.takeRead()
				got := pages(t, walk, p, limit)
				require.Equal(t, pages(t, plain, p, limit), got, "%v, limit %d", p.Roles, limit)
				// "live" compares a dotted path with null: never walked.
				walked := !wantFinds && p.Roles[0] != "live"
				require.Equal(t, walked, walking.finds.Load() == 0, "%v, limit %d: %d list queries", p.Roles, limit, walking.finds.Load())
				read := order.takeRead()
				if walked {
					require.Empty(t, walking.takeFetched(), "%v, limit %d: documents asked of FerretDB one by one", p.Roles, limit)
				}
				if !walked || p.Roles[0] == "both" { // both+pub: pub has no tenant condition
					continue
				}
				// Every role here but both+pub requires the tenant: another
				// tenant's document (tenant_id a string) is never read.
				require.NotEmpty(t, read)
				for _, id := range read {
					if s, ok := tenants[id].(string); ok {
						require.Equal(t, p.TenantID, s, "%v, limit %d: read %s of tenant %q", p.Roles, limit, id.Hex(), s)
					}
				}
			}
		}
	}
	compare(false)

	// The documents whose tenant_id is an array holding t1 are t1's.
	listed := strings.Join(slices.Concat(pages(t, walk, lookupCallers[0], 7)...), "\n")
	require.NotEmpty(t, inArray)
	for _, id := range inArray {
		require.Contains(t, listed, id.Hex())
	}

	// One string _id (it sorts before every ObjectId): lists go to the
	// database again, with the same answers.
	_, err := db.Collection("docs").InsertOne(ctx, bson.D{{Key: "_id", Value: "s1"}, {Key: "tenant_id", Value: "t1"}, {Key: "owner", Value: "u1"}})
	require.NoError(t, err)
	compare(true)
}

// A document whose stored form the decoder does not know (here an element
// type FerretDB v1 does not have, put in its place on the way from SQLite)
// is asked of FerretDB by {_id}: the pages are still the filter query's,
// and exactly those documents are fetched one by one.
func TestListByIDOrderFetchesWhatItCannotDecode(t *testing.T) {
	t.Parallel()
	e, client := testenv.Embedded(t)
	db := client.Database("app")
	var docs []any
	spoiled := map[bson.ObjectID]bool{}
	for i := range 60 {
		id := bson.NewObjectIDFromTimestamp(time.Unix(int64(1_900_000_000+i), 0))
		if i%4 == 1 {
			spoiled[id] = true
		}
		docs = append(docs, bson.D{{Key: "_id", Value: id}, {Key: "tenant_id", Value: []string{"t1", "t2"}[i%3/2]},
			{Key: "owner", Value: "u1"}, {Key: "public", Value: i%5 == 0}, {Key: "n", Value: int32(i)},
			{Key: "meta", Value: bson.D{{Key: "k", Value: bson.A{int32(i), "x"}}}}})
	}
	order := &recordingOrder{IDOrder: e.IDOrder("app"), spoil: func(id bson.ObjectID) bool { return spoiled[id] }}
	walking, walk, plain := walkSetup(t, db, order, docs)
	for _, p := range lookupCallers {
		for _, limit := range []int{1, 7, 100} {
			walking.finds.Store(0)
			walking.takeFetched()
			order.takeRead()
			require.Equal(t, pages(t, plain, p, limit), pages(t, walk, p, limit), "%v, limit %d", p.Roles, limit)
			if walking.finds.Load() != 0 {
				continue // not walked ("live")
			}
			fetched := walking.takeFetched()
			var want []bson.ObjectID
			for _, id := range order.takeRead() {
				if spoiled[id] {
					want = append(want, id)
				}
			}
			// Those read but beyond the last page's end are not needed:
			// every one fetched was spoiled.
			require.NotEmpty(t, fetched, "%v, limit %d", p.Roles, limit)
			for _, id := range fetched {
				require.True(t, spoiled[id], "%v, limit %d: %s fetched but decodable", p.Roles, limit, id.Hex())
			}
			require.Subset(t, want, fetched)
		}
	}
	// A page larger than the walk's budget could never be filled by it:
	// the database is asked at once, nothing is read from SQLite.
	order.takeRead()
	require.Equal(t, pages(t, plain, lookupCallers[0], 2000), pages(t, walk, lookupCallers[0], 2000))
	require.Empty(t, order.takeRead(), "a page of 2,000 was walked")
}

// BenchmarkListByIDOrder is the first page of 20 of one tenant's documents,
// half the collection, as the embedded backend's default list walks it:
// latency per page (p50, p99) and the process's CPU per page (the walk's
// SQL and decoding; no HTTP, no audit). It fails if a page was asked of the
// database instead.
func BenchmarkListByIDOrder(b *testing.B) {
	ctx := context.Background()
	e, client := testenv.Embedded(b)
	db := client.Database("app")
	docs := make([]any, 0, 4000)
	for i := range cap(docs) {
		docs = append(docs, bson.D{{Key: "_id", Value: bson.NewObjectID()}, {Key: "tenant_id", Value: []string{"t1", "t2"}[i%2]},
			{Key: "name", Value: fmt.Sprintf("Employee %d", i)}, {Key: "email", Value: fmt.Sprintf("e%d@example.com", i)},
			{Key: "ssn", Value: "123-45-6789"}, {Key: "salary", Value: int32(50000 + i)}})
	}
	_, err := db.Collection("docs").InsertMany(ctx, docs)
	require.NoError(b, err)
	order := e.IDOrder("app")
	testenv.WaitIDOrder(b, order, "docs")
	set, err := policy.Parse(map[string][]byte{"p.yml": []byte(lookupPolicy)})
	require.NoError(b, err)
	codec := cursor.NewCodec([]byte(strings.Repeat("s", 32)))
	codec.Order = cursor.OrderOf(store.BackendFerretDB)
	counted := &countingStore{Documents: store.NewDocuments(db, 10*time.Second)}
	s := service.New(service.Params{Store: counted, Policies: set, Cursors: codec, LookupByIDOnly: true, IDOrder: order})
	p := &principal.Principal{ID: "u1", TenantID: "t1", Roles: []string{"tenant"}}

	lat := make([]time.Duration, 0, b.N)
	cpu0 := processCPU()
	for b.Loop() {
		t0 := time.Now()
		page, err := s.Find(ctx, p, "docs", service.FindRequest{Limit: 20})
		if err != nil || len(page.Docs) != 20 {
			b.Fatalf("%v, %d documents", err, len(page.Docs))
		}
		lat = append(lat, time.Since(t0))
	}
	if n := counted.finds.Load(); n != 0 {
		b.Fatalf("%d pages asked of the database, not walked", n)
	}
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(len(lat)), "cpu-µs/op")
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// processCPU is the user and system CPU this process has used.
func processCPU() time.Duration {
	var r syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r)
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}
