// Package benchmarks measures the proxy against the MongoDB driver called
// directly, on the same backend in the same run, so that the figures can be
// read as ratios on a noisy machine. Run: make bench, or
//
//	go test -run '^$' -bench . -benchtime 3s ./benchmarks/
package benchmarks

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/permission-mongo/permission-mongo/internal/audit"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(envEmbeddedRole); dir != "" {
		os.Exit(serveEmbedded(dir)) // the process harness's backend
	}
	if spec := os.Getenv(envFloorRole); spec != "" {
		os.Exit(serveFloor(spec)) // the process harness's floor
	}
	testenv.Main(m)
}

const benchPolicy = `roles: {employee: {}, hr: {}}
policies:
  employees:
    employee:
      actions: [read]
      when: "resource.tenant_id == user.tenant_id && (resource.owner == user.id || resource.public == true)"
      fields: {deny: [ssn], mask: {email: email}}
    hr:
      actions: [read]
      when: "resource.tenant_id == user.tenant_id"
`

type fixture struct {
	coll  *mongo.Collection
	srv   *httptest.Server
	key   string
	ids   []string
	calls *http.Client
	audit *audit.Writer // nil when audit is off
}

// docCount employees are stored over two tenants. The embedded backend
// (FerretDB on SQLite) scans a collection for most queries, so a small
// collection keeps its share of each request from hiding the proxy's.
const docCount = 200

// setup stores the employees and starts the proxy with an hr caller of
// tenant t1 (who sees the half of them in its tenant).
func setup(b *testing.B) *fixture {
	b.Helper()
	return setupAudited(b, false)
}

// setupAudited is setup, with the audit writer on when audited.
func setupAudited(b *testing.B, audited bool) *fixture {
	b.Helper()
	_, db := testenv.Mongo(b)
	ctx := context.Background()
	coll := db.Collection("employees")
	var docs []any
	var ids []string
	for i := 0; i < docCount; i++ {
		id := bson.NewObjectID()
		tenant := "t1"
		if i%2 == 1 {
			tenant = "t2"
		} else {
			ids = append(ids, id.Hex())
		}
		docs = append(docs, bson.D{{Key: "_id", Value: id}, {Key: "tenant_id", Value: tenant}, {Key: "owner", Value: fmt.Sprintf("u%d", i%50)},
			{Key: "name", Value: fmt.Sprintf("Employee %d", i)}, {Key: "email", Value: fmt.Sprintf("e%d@example.com", i)},
			{Key: "ssn", Value: "123-45-6789"}, {Key: "public", Value: i%3 == 0}, {Key: "salary", Value: int32(50000 + i)}})
	}
	if _, err := coll.InsertMany(ctx, docs); err != nil {
		b.Fatal(err)
	}
	srv, key, w := startProxy(b, db, proxyOptions{policy: benchPolicy, role: "hr", audited: audited})
	tr := &http.Transport{MaxIdleConnsPerHost: 8}
	return &fixture{coll: coll, srv: srv, key: key, ids: ids, calls: &http.Client{Transport: tr}, audit: w}
}

func (f *fixture) get(b *testing.B, path string) {
	b.Helper()
	call(b, f.calls, http.MethodGet, f.srv.URL+path, f.key, "", nil, 200)
}

// cpuTime is the process's user+system CPU time: proxy, client and the
// embedded backend together, which all run in this process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// run measures fn and reports the CPU time per operation next to ns/op.
func run(b *testing.B, fn func(i int)) {
	b.Helper()
	b.ReportAllocs()
	start := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		fn(i)
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-start).Microseconds())/float64(b.N), "cpu-µs/op")
}

// BenchmarkGetByID: one document by id. "direct" is the driver's FindOne
// with the tenant condition the policy would add; "proxy" is GET
// /collections/employees/{id} over HTTP with an API key, policy filter,
// field rules and JSON encoding.
func BenchmarkGetByID(b *testing.B) {
	f := setup(b)
	ctx := context.Background()
	b.Run("direct", func(b *testing.B) {
		run(b, func(i int) {
			oid, _ := bson.ObjectIDFromHex(f.ids[i%len(f.ids)])
			var doc bson.Raw
			if err := f.coll.FindOne(ctx, bson.D{{Key: "_id", Value: oid}, {Key: "tenant_id", Value: "t1"}}).Decode(&doc); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("proxy", func(b *testing.B) {
		run(b, func(i int) { f.get(b, "/collections/employees/"+f.ids[i%len(f.ids)]) })
	})
}

// page20 is the driver's side of a list: 20 documents matching filter in
// _id order, decoded.
func (f *fixture) page20(ctx context.Context, b *testing.B, filter bson.D) {
	b.Helper()
	cur, err := f.coll.Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(20))
	if err != nil {
		b.Fatal(err)
	}
	var docs []bson.Raw
	if err := cur.All(ctx, &docs); err != nil || len(docs) != 20 {
		b.Fatal(err, len(docs))
	}
}

// BenchmarkList20: the first page of 20 documents sorted by _id.
func BenchmarkList20(b *testing.B) {
	f := setup(b)
	ctx := context.Background()
	b.Run("direct", func(b *testing.B) {
		run(b, func(int) { f.page20(ctx, b, bson.D{{Key: "tenant_id", Value: "t1"}}) })
	})
	b.Run("proxy", func(b *testing.B) {
		run(b, func(int) { f.get(b, "/collections/employees?limit=20") })
	})
}

// BenchmarkListNext: the second page of 20, after the first page's last
// document. "direct" asks for _id after it, as a client paging by hand
// would; "proxy" sends the first page's cursor (decoded, verified and
// turned into the keyset filter on every request).
func BenchmarkListNext(b *testing.B) {
	f := setup(b)
	ctx := context.Background()
	var first struct {
		Pagination struct{ Cursor string } `json:"pagination"`
	}
	body := call(b, f.calls, http.MethodGet, f.srv.URL+"/collections/employees?limit=20", f.key, "", nil, 200)
	if err := json.Unmarshal(body, &first); err != nil || first.Pagination.Cursor == "" {
		b.Fatalf("first page: %v %.200s", err, body)
	}
	// The ids the hr caller sees are f.ids, in insertion (= _id) order.
	last, _ := bson.ObjectIDFromHex(f.ids[19])
	b.Run("direct", func(b *testing.B) {
		run(b, func(int) {
			f.page20(ctx, b, bson.D{{Key: "tenant_id", Value: "t1"}, {Key: "_id", Value: bson.D{{Key: "$gt", Value: last}}}})
		})
	})
	b.Run("proxy", func(b *testing.B) {
		run(b, func(int) { f.get(b, "/collections/employees?limit=20&cursor="+first.Pagination.Cursor) })
	})
}
