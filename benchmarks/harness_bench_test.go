package benchmarks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/permission-mongo/permission-mongo/internal/auth"
	"github.com/permission-mongo/permission-mongo/internal/store"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

// BenchmarkProcesses is the process harness: the proxy (`pm serve` built
// from this tree, default audit) and the backend run as processes of their
// own, the load client (PM_BENCH_WORKERS, default 8) in this one. Each operation is
// measured through the proxy and with the driver called directly, in the
// same run, against:
//
//   - embedded: FerretDB v1 on SQLite, started by re-executing this test
//     binary (PM_BENCH_EMBEDDED=off leaves it out; =inproc runs it inside
//     the proxy instead, as `make run` does);
//   - external: the server at PM_BENCH_MONGODB_URI, by default the
//     DocumentDB engine at defaultExternalURI; left out, saying so, when
//     it does not answer (PM_BENCH_MONGODB_URI=none to skip it).
//
// PM_BENCH_DOCS sets the number of documents (default 1,000, half of them
// in the caller's tenant); PM_BENCH_OPS=get or =list measures one operation (list: both pages). Per operation it reports throughput, p50/p99
// latency and CPU per operation of each process (the proxy's and the
// embedded backend's from /proc/<pid>/stat), then prints a results table
// with the proxy's RSS.
func BenchmarkProcesses(b *testing.B) {
	docs := 1000
	if s := os.Getenv("PM_BENCH_DOCS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 40 {
			b.Fatalf("PM_BENCH_DOCS=%q: want a number ≥ 40", s)
		}
		docs = n
	}
	res := &results{}
	switch os.Getenv("PM_BENCH_EMBEDDED") {
	case "off":
		fmt.Println("BenchmarkProcesses: embedded backend left out: PM_BENCH_EMBEDDED=off")
	case "inproc":
		b.Run("embedded_inproc", func(b *testing.B) { runBackend(b, res, "embedded", 0, docs) })
	default:
		b.Run("embedded", func(b *testing.B) {
			p, uri := startEmbeddedBackend(b)
			runBackend(b, res, uri, p.pid(), docs)
		})
	}
	if uri, why := externalURI(); uri != "" {
		b.Run("external", func(b *testing.B) { runBackend(b, res, uri, 0, docs) })
	} else {
		fmt.Printf("BenchmarkProcesses: external backend left out: %s; embedded only\n", why)
	}
	// Printed, not logged: a parent benchmark's log is dropped when its
	// sub-benchmarks pass.
	fmt.Printf("BenchmarkProcesses results (%d documents, %d concurrent clients):\n%s", docs, workers, res.table())
}

// defaultExternalURI is where the DocumentDB engine (FerretDB v2 on
// PostgreSQL) of the development machine listens.
const defaultExternalURI = "mongodb://postgres:postgres@127.0.0.1:27300/?authMechanism=SCRAM-SHA-256"

// externalURI returns the external backend to measure, or "" and why not.
func externalURI() (string, string) {
	uri := os.Getenv("PM_BENCH_MONGODB_URI")
	switch uri {
	case "none":
		return "", "PM_BENCH_MONGODB_URI=none"
	case "":
		uri = defaultExternalURI
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c, err := mongo.Connect(options.Client().ApplyURI(uri).SetServerSelectionTimeout(2 * time.Second))
	if err != nil {
		return "", fmt.Sprintf("%s: %v", redact(uri), err)
	}
	defer func() { _ = c.Disconnect(context.Background()) }()
	if err := c.Ping(ctx, nil); err != nil {
		return "", fmt.Sprintf("no server answers at %s", redact(uri))
	}
	return uri, ""
}

func redact(uri string) string {
	if at := strings.LastIndexByte(uri, '@'); at >= 0 {
		if s := strings.Index(uri, "://"); s >= 0 && s < at {
			return uri[:s+3] + "…@" + uri[at+1:]
		}
	}
	return uri
}

// workers is the number of concurrent clients: 8, or PM_BENCH_WORKERS (1
// measures the latency of one request alone).
var workers = func() int {
	if n, err := strconv.Atoi(os.Getenv("PM_BENCH_WORKERS")); err == nil && n > 0 {
		return n
	}
	return 8
}()

// harnessPolicy: the hr role reads its tenant's employees, without ssn.
const harnessPolicy = `roles: {hr: {}}
policies:
  employees:
    hr:
      actions: [read]
      when: "resource.tenant_id == user.tenant_id"
      fields: {deny: [ssn]}
`

type apiKey struct{ id, hash, full, role string }

// runBackend seeds one database of the backend, starts the proxy on it and
// measures each operation directly and through the proxy.
//
// uri "embedded": FerretDB runs inside the proxy process (as with `make
// run`), the only setup where the proxy reads _id order from its SQLite
// files (docs/embedded-backend.md); the proxy starts first and the backend's
// CPU is the proxy process's (on the direct side, all of it is FerretDB's).
func runBackend(b *testing.B, res *results, uri string, backendPID, docs int) {
	b.Helper()
	ctx := context.Background()
	dbName := testenv.UniqueName("pmbench_")
	id, full, hash := auth.GenerateKey()
	key := apiKey{id: id, hash: hash, full: full, role: "hr"}
	var proxy *process
	var base string
	inproc := uri == "embedded"
	if inproc {
		proxy, base, uri = startProxyProcess(b, "embedded", dbName, harnessPolicy, key)
		backendPID = proxy.pid()
	}
	client, err := store.Connect(ctx, uri)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	caps, err := store.Probe(ctx, client, "pmbench_probe")
	if err != nil {
		b.Fatal(err)
	}
	name := caps.Backend + " " + caps.Version
	if caps.Backend == store.BackendFerretDB {
		name = "embedded FerretDB v1 (SQLite)"
		if inproc {
			name = "embedded FerretDB v1 (SQLite) in the proxy"
		}
	}
	db := client.Database(dbName)
	b.Cleanup(func() {
		// Bounded: dropping a database on the DocumentDB engine has been
		// seen to hang after a run that left its audit writer refusing.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := db.Drop(ctx); err != nil {
			fmt.Printf("BenchmarkProcesses: drop %s: %v\n", db.Name(), err)
		}
	})
	coll := db.Collection("employees")
	ids := seed(b, coll, docs)

	if !inproc {
		proxy, base, _ = startProxyProcess(b, uri, db.Name(), harnessPolicy, key)
	}
	h := &harness{coll: coll, ids: ids, base: base, key: full, proxyPID: proxy.pid(), backendPID: backendPID,
		http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}}
	h.check(b)
	sides := benchSides(b, caps.Backend == store.BackendFerretDB)
	if sides["floor"] {
		var floor *process
		floor, h.floorBase = startFloor(b, uri, db.Name(), full)
		h.floorPID = floor.pid()
		h.checkFloor(b)
	}

	ops := []struct {
		name                  string
		direct, floor, viaPxy func(i int) error
	}{
		{"GET by id", h.directGet, h.floorGet, h.proxyGet},
		{"list of 20", h.directList, h.floorList, h.proxyList},
		{"list of 20, next page", h.directNextList, h.floorNextList, h.proxyNextList},
	}
	only := os.Getenv("PM_BENCH_OPS") // "get" or "list": one operation only
	for _, op := range ops {
		if only != "" && !strings.HasPrefix(strings.ToLower(op.name), only) {
			continue
		}
		x := row{backend: name, docs: docs, op: op.name}
		prefix := strings.ReplaceAll(op.name, " ", "_")
		if sides["direct"] {
			b.Run(prefix+"/direct", func(b *testing.B) { x.direct = h.load(b, op.direct, 0) })
		}
		if sides["floor"] {
			b.Run(prefix+"/floor", func(b *testing.B) { x.floor = h.load(b, op.floor, h.floorPID) })
		}
		if sides["proxy"] {
			b.Run(prefix+"/proxy", func(b *testing.B) { x.proxy = h.load(b, op.viaPxy, h.proxyPID) })
		}
		res.add(x)
	}
}

// benchSides are what each operation is measured through (PM_BENCH_SIDES, a
// comma-separated subset; by default all three, except the floor on the
// embedded backend): "direct", the driver called from this process;
// "floor", the least HTTP proxy (floor_test.go); "proxy", `pm serve`. At
// 100,000 documents on the embedded backend a direct list is a scan of many
// seconds: PM_BENCH_SIDES=proxy measures the proxy alone. The floor's query
// there is a scan too (FerretDB v1 pushes down only {_id}, and a list
// sorted by _id never), so it measures FerretDB, not a floor; it runs on
// that backend only when named.
func benchSides(b *testing.B, embedded bool) map[string]bool {
	b.Helper()
	s := os.Getenv("PM_BENCH_SIDES")
	if s == "" {
		return map[string]bool{"direct": true, "floor": !embedded, "proxy": true}
	}
	m := map[string]bool{}
	for _, side := range strings.Split(s, ",") {
		side = strings.TrimSpace(side)
		if side != "direct" && side != "floor" && side != "proxy" {
			b.Fatalf("PM_BENCH_SIDES=%q: %q is not one of direct, floor, proxy", s, side)
		}
		m[side] = true
	}
	return m
}

// seed stores docs employees alternating between tenants t1 and t2 and
// returns the ids of t1's.
func seed(b *testing.B, coll *mongo.Collection, docs int) []bson.ObjectID {
	b.Helper()
	ctx := context.Background()
	var ids []bson.ObjectID
	batch := make([]any, 0, 1000)
	for i := 0; i < docs; i++ {
		id := bson.NewObjectID()
		tenant := "t2"
		if i%2 == 0 {
			tenant = "t1"
			ids = append(ids, id)
		}
		batch = append(batch, bson.D{{Key: "_id", Value: id}, {Key: "tenant_id", Value: tenant},
			{Key: "owner", Value: fmt.Sprintf("u%d", i%50)}, {Key: "name", Value: fmt.Sprintf("Employee %d", i)},
			{Key: "email", Value: fmt.Sprintf("e%d@example.com", i)}, {Key: "ssn", Value: "123-45-6789"},
			{Key: "salary", Value: int32(50000 + i)}, {Key: "dept", Value: fmt.Sprintf("d%d", i%7)}})
		if len(batch) == cap(batch) || i == docs-1 {
			if _, err := coll.InsertMany(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	return ids
}

type harness struct {
	coll                 *mongo.Collection
	ids                  []bson.ObjectID
	base, key            string
	http                 *http.Client
	proxyPID, backendPID int
	floorBase            string
	floorPID             int
	// cursor (escaped for a query string) continues after the first page,
	// whose last _id is after.
	cursor string
	after  bson.ObjectID
}

// directGet is what an application without the proxy would send: the
// driver's FindOne by _id, decoded into a map.
func (h *harness) directGet(i int) error {
	var doc bson.M
	return h.coll.FindOne(context.Background(), bson.D{{Key: "_id", Value: h.id(i)}}).Decode(&doc)
}

// directList is the first page of the tenant's employees by _id, decoded.
func (h *harness) directList(int) error {
	return h.directPage(bson.D{{Key: "tenant_id", Value: "t1"}}, "direct list")
}

// directPage reads and decodes a page of 20 documents matching filter by
// _id, as the proxy's list does, and fails unless the page is full: a short
// page would time less work than the proxy's.
func (h *harness) directPage(filter bson.D, what string) error {
	ctx := context.Background()
	cur, err := h.coll.Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(20))
	if err != nil {
		return err
	}
	var docs []bson.M
	if err := cur.All(ctx, &docs); err != nil {
		return err
	}
	if len(docs) != 20 {
		return fmt.Errorf("%s: %d documents", what, len(docs))
	}
	return nil
}

func (h *harness) proxyGet(i int) error {
	_, err := h.get("/collections/employees/" + h.id(i).Hex())
	return err
}

// id is the i-th document to read: spread over the whole collection, the
// same sequence on both sides, since the embedded backend's cost depends on
// where the document is stored.
func (h *harness) id(i int) bson.ObjectID { return h.ids[(i*7919+len(h.ids)/2)%len(h.ids)] }

func (h *harness) proxyList(int) error {
	_, err := h.get("/collections/employees?limit=20")
	return err
}

// directNextList is the second page: the tenant's employees after the
// first page's last _id.
func (h *harness) directNextList(int) error {
	return h.directPage(bson.D{{Key: "tenant_id", Value: "t1"}, {Key: "_id", Value: bson.D{{Key: "$gt", Value: h.after}}}}, "direct next page")
}

// proxyNextList is the second page through the proxy, with the cursor the
// first page returned.
func (h *harness) proxyNextList(int) error {
	_, err := h.get("/collections/employees?limit=20&cursor=" + h.cursor)
	return err
}

func (h *harness) floorGet(i int) error {
	_, err := h.getFrom(h.floorBase, "/collections/employees/"+h.id(i).Hex())
	return err
}

func (h *harness) floorList(int) error {
	_, err := h.getFrom(h.floorBase, "/collections/employees")
	return err
}

func (h *harness) floorNextList(int) error {
	_, err := h.getFrom(h.floorBase, "/collections/employees?after="+h.after.Hex())
	return err
}

// checkFloor makes sure the floor answers what the proxy does: the document
// without ssn, another tenant's as 404, the first page in _id order.
func (h *harness) checkFloor(b *testing.B) {
	b.Helper()
	body, err := h.getFrom(h.floorBase, "/collections/employees/"+h.ids[0].Hex())
	if err != nil {
		b.Fatal(err)
	}
	if !strings.Contains(string(body), h.ids[0].Hex()) || strings.Contains(string(body), "ssn") {
		b.Fatalf("floor GET by id answered %s", body)
	}
	var other bson.M
	if err := h.coll.FindOne(context.Background(), bson.D{{Key: "tenant_id", Value: "t2"}}).Decode(&other); err != nil {
		b.Fatal(err)
	}
	if _, err := h.getFrom(h.floorBase, "/collections/employees/"+other["_id"].(bson.ObjectID).Hex()); err == nil || !strings.Contains(err.Error(), ": 404 ") {
		b.Fatalf("floor, another tenant's document: want 404, got %v", err)
	}
	for _, path := range []string{"/collections/employees", "/collections/employees?after=" + h.after.Hex()} {
		body, err := h.getFrom(h.floorBase, path)
		if err != nil {
			b.Fatal(err)
		}
		var page struct {
			Data []map[string]any `json:"data"`
		}
		if err := json.Unmarshal(body, &page); err != nil || len(page.Data) != 20 {
			b.Fatalf("floor %s: %v, %d documents", path, err, len(page.Data))
		}
	}
}

func (h *harness) get(path string) ([]byte, error) { return h.getFrom(h.base, path) }

func (h *harness) getFrom(base, path string) ([]byte, error) {
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	req.Header.Set("X-API-Key", h.key)
	resp, err := h.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusServiceUnavailable {
		return nil, refusedError{fmt.Sprintf("GET %s: %d %s", path, resp.StatusCode, body)}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	return body, nil
}

// refusedError is a 503 from the proxy (audit log or database unavailable):
// counted and reported, since it is what the measurement is about, not a
// harness failure.
type refusedError struct{ msg string }

func (e refusedError) Error() string { return e.msg }

// check makes sure the proxy answers what is being measured: the document
// asked for without its denied field, another tenant's as 404, and a full
// page of the caller's tenant in _id order.
func (h *harness) check(b *testing.B) {
	b.Helper()
	body, err := h.get("/collections/employees/" + h.ids[0].Hex())
	if err != nil {
		b.Fatal(err)
	}
	var one struct {
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal(body, &one); err != nil {
		b.Fatal(err)
	}
	if doc := one.Data; doc["tenant_id"] != "t1" || doc["ssn"] != nil || !strings.Contains(fmt.Sprint(doc["_id"]), h.ids[0].Hex()) {
		b.Fatalf("GET by id answered %s", body)
	}
	var other bson.M
	if err := h.coll.FindOne(context.Background(), bson.D{{Key: "tenant_id", Value: "t2"}}).Decode(&other); err != nil {
		b.Fatal(err)
	}
	if _, err := h.get("/collections/employees/" + other["_id"].(bson.ObjectID).Hex()); err == nil || !strings.Contains(err.Error(), ": 404 ") {
		b.Fatalf("another tenant's document: want 404, got %v", err)
	}
	body, err = h.get("/collections/employees?limit=20")
	if err != nil {
		b.Fatal(err)
	}
	var page struct {
		Data       []map[string]any `json:"data"`
		Pagination struct {
			Cursor string `json:"cursor"`
		} `json:"pagination"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		b.Fatal(err)
	}
	if page.Pagination.Cursor == "" {
		b.Fatalf("list: no cursor in %s", body)
	}
	h.cursor = url.QueryEscape(page.Pagination.Cursor)
	want := slices.Clone(h.ids)
	slices.SortFunc(want, func(x, y bson.ObjectID) int { return strings.Compare(x.Hex(), y.Hex()) })
	if len(page.Data) != 20 {
		b.Fatalf("list: %d documents in %s", len(page.Data), body)
	}
	for i, d := range page.Data {
		if got := fmt.Sprint(d["_id"]); !strings.Contains(got, want[i].Hex()) || d["ssn"] != nil {
			b.Fatalf("list item %d: %v, want _id %s", i, d, want[i].Hex())
		}
	}
	h.after = want[19]
	body, err = h.get("/collections/employees?limit=20&cursor=" + h.cursor)
	if err != nil {
		b.Fatal(err)
	}
	if err := json.Unmarshal(body, &page); err != nil {
		b.Fatal(err)
	}
	if len(page.Data) != 20 || !strings.Contains(fmt.Sprint(page.Data[0]["_id"]), want[20].Hex()) {
		b.Fatalf("next page: want 20 documents from _id %s, got %s", want[20].Hex(), body)
	}
}

// measure is one operation measured on one side.
type measure struct {
	n, refused        int
	perSec            float64 // answered (not refused) per second
	p50, p99          time.Duration
	client, prx, back time.Duration // CPU per operation; -1 when not measured
	rss, peakRSS      int64         // of the proxy, after the load
}

// load runs b.N calls of fn from workers goroutines and reports throughput,
// latency percentiles and each process's CPU per operation; server is the
// HTTP server's process (the proxy's or the floor's), 0 for the driver.
func (h *harness) load(b *testing.B, fn func(i int) error, server int) measure {
	b.Helper()
	n := b.N
	lat := make([]time.Duration, n)
	var next, refused atomic.Int64
	var firstErr error
	var errOnce sync.Once
	cpu := func(pid int) time.Duration {
		if pid == 0 {
			return -1
		}
		d, err := procCPU(pid)
		if err != nil {
			return -1
		}
		return d
	}
	c0, p0, k0 := selfCPU(), cpu(server), cpu(h.backendPID)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				t := time.Now()
				err := fn(i)
				if errors.As(err, new(refusedError)) {
					refused.Add(1)
					err = nil
				}
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					next.Store(int64(n))
					return
				}
				lat[i] = time.Since(t)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	c1, p1, k1 := selfCPU(), cpu(server), cpu(h.backendPID)
	per := func(a, z time.Duration) time.Duration {
		if a < 0 || z < 0 {
			return -1
		}
		return (z - a) / time.Duration(n)
	}
	slices.Sort(lat)
	m := measure{n: n, refused: int(refused.Load()), perSec: float64(n-int(refused.Load())) / elapsed.Seconds(), p50: lat[n/2], p99: lat[min(n-1, n*99/100)],
		client: per(c0, c1), prx: -1, back: per(k0, k1)}
	if server != 0 {
		m.prx = per(p0, p1)
		m.rss, m.peakRSS = procMemory(server)
	}
	b.ReportMetric(m.perSec, "ops/s")
	b.ReportMetric(float64(m.p50.Microseconds()), "p50-µs")
	b.ReportMetric(float64(m.p99.Microseconds()), "p99-µs")
	b.ReportMetric(float64(m.client.Microseconds()), "client-cpu-µs/op")
	if m.prx >= 0 {
		b.ReportMetric(float64(m.prx.Microseconds()), "server-cpu-µs/op")
		b.ReportMetric(float64(m.rss)/(1<<20), "server-rss-MiB")
	}
	if m.back >= 0 {
		b.ReportMetric(float64(m.back.Microseconds()), "backend-cpu-µs/op")
	}
	if server != 0 {
		b.ReportMetric(float64(m.refused), "refused")
	}
	return m
}

type row struct {
	backend              string
	docs                 int
	op                   string
	direct, floor, proxy measure
}

type results struct{ rows []row }

func (r *results) add(x row) { r.rows = append(r.rows, x) }

// table is the results as Markdown, one line per backend and operation.
func (r *results) table() string {
	var sb strings.Builder
	sb.WriteString("| backend | operation | direct ops/s | proxy req/s | proxy/direct | direct p50 / p99 | proxy p50 / p99 | " +
		"client CPU/op direct → proxy | proxy CPU/req | backend CPU/op direct → proxy | proxy RSS (peak) | refused (503) |\n")
	sb.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, x := range r.rows {
		d, p := x.direct.shown(), x.proxy.shown()
		fmt.Fprintf(&sb, "| %s, %d docs | %s | %s | %s | %s | %s / %s | %s / %s | %s → %s | %s | %s → %s | %.1f MiB (%.1f) | %d of %d |\n",
			x.backend, x.docs, x.op, rate(d.perSec), rate(p.perSec), ratio(p.perSec, d.perSec), dur(d.p50), dur(d.p99), dur(p.p50), dur(p.p99),
			dur(d.client), dur(p.client), dur(p.prx), dur(d.back), dur(p.back),
			float64(p.rss)/(1<<20), float64(p.peakRSS)/(1<<20), p.refused, p.n)
	}
	// The second table sets both HTTP servers' CPU against the driver's:
	// the floor's share is what any proxy pays, the rest is this one's own.
	sb.WriteString("\n| backend | operation | driver CPU/op (client) | floor CPU/req | floor ÷ driver | proxy CPU/req | proxy ÷ driver | proxy − floor | floor req/s ÷ direct | proxy req/s ÷ floor |\n")
	sb.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, x := range r.rows {
		d, f, p := x.direct.shown(), x.floor.shown(), x.proxy.shown()
		over := "–"
		if f.prx >= 0 && p.prx >= 0 {
			over = dur(p.prx - f.prx)
			if p.prx < f.prx {
				over = "−" + dur(f.prx-p.prx)
			}
		}
		fmt.Fprintf(&sb, "| %s, %d docs | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", x.backend, x.docs, x.op,
			dur(d.client), dur(f.prx), ratio(float64(f.prx), float64(d.client)), dur(p.prx), ratio(float64(p.prx), float64(d.client)),
			over, ratio(f.perSec, d.perSec), ratio(p.perSec, f.perSec))
	}
	return sb.String()
}

// shown is m for a table: a side left out (PM_BENCH_SIDES) reads "–".
func (m measure) shown() measure {
	if m.n == 0 {
		return measure{p50: -1, p99: -1, client: -1, prx: -1, back: -1}
	}
	return m
}

// ratio is a ÷ b to two decimals, "–" when either was not measured.
func ratio(a, b float64) string {
	if a <= 0 || b <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func rate(r float64) string {
	if r < 10 {
		return fmt.Sprintf("%.2f", r)
	}
	return fmt.Sprintf("%.0f", r)
}

func dur(d time.Duration) string {
	switch {
	case d < 0:
		return "–"
	case d < time.Millisecond:
		return fmt.Sprintf("%d µs", d.Microseconds())
	default:
		return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
	}
}
