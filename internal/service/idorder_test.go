package service_test

import (
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
	_, err := db.Collection("docs").InsertMany(ctx, docs)
	require.NoError(t, err)
	order := e.IDOrder("app")
	require.Eventually(t, func() bool { _, ok := order.After(ctx, "docs", bson.ObjectID{}, 1, nil); return ok },
		30*time.Second, 20*time.Millisecond, "the embedded backend never indexed the collection")

	set, err := policy.Parse(map[string][]byte{"p.yml": []byte(lookupPolicy)})
	require.NoError(t, err)
	codec := cursor.NewCodec([]byte(strings.Repeat("s", 32)))
	codec.Order = cursor.OrderOf(store.BackendFerretDB)
	walking := &countingStore{Documents: store.NewDocuments(db, 10*time.Second)}
	walk := service.New(service.Params{Store: walking, Policies: set, Cursors: codec, LookupByIDOnly: true, IDOrder: order})
	plain := service.New(service.Params{Store: store.NewDocuments(db, 10*time.Second), Policies: set, Cursors: codec})

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
				got := pages(t, walk, p, limit)
				require.Equal(t, pages(t, plain, p, limit), got, "%v, limit %d", p.Roles, limit)
				// "live" compares a dotted path with null: never walked.
				walked := !wantFinds && p.Roles[0] != "live"
				require.Equal(t, walked, walking.finds.Load() == 0, "%v, limit %d: %d list queries", p.Roles, limit, walking.finds.Load())
				fetched := walking.takeFetched()
				if !walked || p.Roles[0] == "both" { // both+pub: pub has no tenant condition
					continue
				}
				// Every role here but both+pub requires the tenant: another
				// tenant's document (tenant_id a string) is never fetched.
				require.NotEmpty(t, fetched)
				for _, id := range fetched {
					if s, ok := tenants[id].(string); ok {
						require.Equal(t, p.TenantID, s, "%v, limit %d: fetched %s of tenant %q", p.Roles, limit, id.Hex(), s)
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
	_, err = db.Collection("docs").InsertOne(ctx, bson.D{{Key: "_id", Value: "s1"}, {Key: "tenant_id", Value: "t1"}, {Key: "owner", Value: "u1"}})
	require.NoError(t, err)
	compare(true)
}

// BenchmarkListByIDOrder is the first page of 20 of one tenant's documents,
// half the collection, as the embedded backend's default list walks it:
// latency per page (p50, p99) and the process's CPU per page (FerretDB's
// finds and the walk; no HTTP, no audit).
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
	require.Eventually(b, func() bool { _, ok := order.After(ctx, "docs", bson.ObjectID{}, 1, nil); return ok },
		30*time.Second, 20*time.Millisecond, "the embedded backend never indexed the collection")
	set, err := policy.Parse(map[string][]byte{"p.yml": []byte(lookupPolicy)})
	require.NoError(b, err)
	codec := cursor.NewCodec([]byte(strings.Repeat("s", 32)))
	codec.Order = cursor.OrderOf(store.BackendFerretDB)
	s := service.New(service.Params{Store: store.NewDocuments(db, 10*time.Second), Policies: set, Cursors: codec, LookupByIDOnly: true, IDOrder: order})
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
