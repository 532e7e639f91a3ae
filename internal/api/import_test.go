package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/permission-mongo/permission-mongo/internal/app"
	"github.com/permission-mongo/permission-mongo/internal/app/apptest"
	"github.com/permission-mongo/permission-mongo/internal/config"
	"github.com/permission-mongo/permission-mongo/internal/query"
	"github.com/permission-mongo/permission-mongo/internal/service"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
	pmsdk "github.com/permission-mongo/permission-mongo/sdk/go"
)

const importTestPolicy = `
version: "1"
roles:
  loader: {}
  viewer: {}
policies:
  staff:
    loader:
      actions: [create, read]
      when: "resource.tenant_id == user.tenant_id"
      fields:
        deny_write: [salary]
    viewer:
      actions: [read]
    presets:
      tenant_id: user.tenant_id
`

// importMaxBody is the server's MaxBodyBytes in these tests, hence the
// longest line an import accepts.
const importMaxBody = 16 << 10

type importEnv struct {
	t       *testing.T
	handler http.Handler
	srv     *httptest.Server
	db      *mongo.Database
	keys    *testenv.Keys
	log     *testenv.SyncBuffer
}

// newImportEnv starts the API on a fresh database with importTestPolicy;
// start=false leaves the HTTP server to the test (handler is set).
func newImportEnv(t *testing.T, start bool) *importEnv {
	t.Helper()
	logs := &testenv.SyncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg := testConfig(t, writePolicy(t, importTestPolicy))
	cfg.Limits = config.Default().Limits
	cfg.Limits.MaxBatch, cfg.Limits.MaxBodyBytes = 1000, importMaxBody
	env := startEnv(t, cfg, app.Options{NoAudit: true, Logger: logger, Service: func(p *service.Params) {
		p.Limits.Filter = query.DefaultLimits
	}})
	e := &importEnv{t: t, handler: env.app.Handler(), db: env.db, keys: env.keys, log: logs}
	if start {
		e.srv = env.srv
	}
	return e
}

func (e *importEnv) key(id, tenant string, roles ...string) string {
	return e.keys.Add(principalFor(id, tenant, roles...), nil)
}

// importReq builds an import request; body may be any reader.
func importReq(t *testing.T, base, coll, key string, body io.Reader) *http.Request {
	t.Helper()
	return apptest.NewRequest(t, "POST", base+"/collections/"+coll+"/import", key, body,
		map[string]string{"Content-Type": "application/x-ndjson"})
}

// importAnswer is the SDK's ImportResult, except that audit_id is a pointer
// so a test can tell an empty id from a missing member.
type importAnswer struct {
	Data struct {
		pmsdk.ImportResult
		AuditID *string `json:"audit_id"`
	} `json:"data"`
	Error *struct {
		Code    string         `json:"code"`
		Message string         `json:"message"`
		Details map[string]any `json:"details"`
	} `json:"error"`
}

func sendImport(t *testing.T, client *http.Client, req *http.Request) (int, importAnswer, string) {
	t.Helper()
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var a importAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatalf("answer is not JSON (%d): %s", res.StatusCode, b)
	}
	return res.StatusCode, a, string(b)
}

func (e *importEnv) count(coll string) int64 {
	e.t.Helper()
	n, err := e.db.Collection(coll).CountDocuments(e.t.Context(), bson.D{})
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func TestImportReportsLinesAndInsertsTheRest(t *testing.T) {
	e := newImportEnv(t, true)
	key := e.key("u1", "t1", "loader")
	long := `{"_id": "long", "pad": "` + strings.Repeat("x", importMaxBody) + `"}`
	lines := []string{
		`{"_id": "a", "name": "Ann"}`,             // 1 ok
		``,                                        // 2 blank, skipped
		`{"_id": "b", "name": `,                   // 3 malformed JSON
		`{"_id": "c", "salary": 10}`,              // 4 deny_write
		`{"_id": "d", "tenant_id": "t2"}`,         // 5 another tenant
		`{"_id": "e", "$where": "sleep(1)"}`,      // 6 $-key
		`{"_id": "f", "created_by": "someone"}`,   // 7 stamp
		`{"_id": "a", "name": "again"}`,           // 8 duplicate _id
		`{"_id": "g", "n": {"$numberLong": "7"}}`, // 9 ok, Extended JSON
		long,     // 10 longer than the line cap
		"   \t",  // 11 blank
		`[1, 2]`, // 12 not a document
		`{"_id": "h", "tenant_id": "t1", "name": "H"}` + "\r", // 13 ok, CRLF, echoes the preset
		`{"_id": "i"}`, // 14 ok, no final newline
	}
	body := strings.Join(lines, "\n")
	status, a, raw := sendImport(t, http.DefaultClient, importReq(t, e.srv.URL, "staff", key, strings.NewReader(body)))
	if status != 200 {
		t.Fatalf("status %d: %s", status, raw)
	}
	d := a.Data
	if d.Inserted != 4 || d.FailedCount != 8 || len(d.Failed) != 8 || d.ImportID == "" || d.AuditID == nil || *d.AuditID != "" {
		t.Fatalf("answer %s", raw)
	}
	want := map[int64]string{3: "BAD_REQUEST", 4: "FORBIDDEN", 5: "FORBIDDEN", 6: "BAD_REQUEST", 7: "BAD_REQUEST",
		8: "CONFLICT", 10: "PAYLOAD_TOO_LARGE", 12: "BAD_REQUEST"}
	for _, f := range d.Failed {
		if want[f.Line] != f.Error.Code || f.Error.Message == "" {
			t.Errorf("line %d: %s %q, want %s", f.Line, f.Error.Code, f.Error.Message, want[f.Line])
		}
	}
	if e.count("staff") != 4 {
		t.Fatalf("%d stored", e.count("staff"))
	}
	var doc bson.M
	if err := e.db.Collection("staff").FindOne(t.Context(), bson.D{{Key: "_id", Value: "a"}}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc["tenant_id"] != "t1" || doc["created_by"] != "u1" || doc["name"] != "Ann" || doc["created_at"] == nil {
		t.Fatalf("preset or stamps missing: %v", doc)
	}
	if err := e.db.Collection("staff").FindOne(t.Context(), bson.D{{Key: "_id", Value: "g"}}).Decode(&doc); err != nil || doc["n"] != int64(7) {
		t.Fatalf("Extended JSON: %v %v", doc, err)
	}
	if !strings.Contains(e.log.String(), "import finished") {
		t.Fatalf("no log line: %s", e.log.String())
	}
}

// countingReader records whether the body was read.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func TestImportRefusals(t *testing.T) {
	e := newImportEnv(t, true)
	viewer := e.key("v1", "t1", "viewer")
	loader := e.key("u1", "t1", "loader")

	// Without create: 403, and with Expect: 100-continue the client never
	// sends the body, which shows the server decided before reading it.
	body := &countingReader{r: strings.NewReader(`{"a": 1}` + "\n")}
	req := importReq(t, e.srv.URL, "staff", viewer, body)
	req.Header.Set("Expect", "100-continue")
	client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: 10 * time.Second}}
	status, a, raw := sendImport(t, client, req)
	if status != 403 || a.Error == nil || a.Error.Code != "FORBIDDEN" {
		t.Fatalf("viewer: %d %s", status, raw)
	}
	if body.n.Load() != 0 {
		t.Fatalf("the body was sent (%d bytes) before the refusal", body.n.Load())
	}
	// A collection no policy lists: 403 as well.
	status, _, raw = sendImport(t, http.DefaultClient, importReq(t, e.srv.URL, "other", loader, strings.NewReader(`{"a":1}`)))
	if status != 403 {
		t.Fatalf("unlisted collection: %d %s", status, raw)
	}
	// Not NDJSON: 400.
	req = importReq(t, e.srv.URL, "staff", loader, strings.NewReader(`{"a":1}`))
	req.Header.Set("Content-Type", "application/json")
	if status, _, raw = sendImport(t, http.DefaultClient, req); status != 400 {
		t.Fatalf("content type: %d %s", status, raw)
	}
	// No credentials: 401.
	if status, _, raw = sendImport(t, http.DefaultClient, importReq(t, e.srv.URL, "staff", "", strings.NewReader(`{"a":1}`))); status != 401 {
		t.Fatalf("anonymous: %d %s", status, raw)
	}
	// An empty body is an empty import.
	status, a, raw = sendImport(t, http.DefaultClient, importReq(t, e.srv.URL, "staff", loader, strings.NewReader("")))
	if status != 200 || a.Data.Inserted != 0 || a.Data.FailedCount != 0 {
		t.Fatalf("empty: %d %s", status, raw)
	}
	if e.count("staff") != 0 {
		t.Fatal("refused imports wrote documents")
	}
}

// The body limit of the other endpoints (MaxBodyBytes) does not cap an
// import: a body many times larger goes through.
func TestImportIsNotCappedByMaxBodyBytes(t *testing.T) {
	e := newImportEnv(t, true)
	key := e.key("u1", "t1", "loader")
	var b strings.Builder
	n := 0
	for b.Len() < 8*importMaxBody {
		n++
		fmt.Fprintf(&b, `{"n": %d, "pad": "%s"}`+"\n", n, strings.Repeat("p", 200))
	}
	status, a, raw := sendImport(t, http.DefaultClient, importReq(t, e.srv.URL, "staff", key, strings.NewReader(b.String())))
	if status != 200 || a.Data.Inserted != int64(n) || a.Data.FailedCount != 0 {
		t.Fatalf("%d: %.300s", status, raw)
	}
}

// ndjsonStream writes n small documents into a pipe, generated on the fly.
func ndjsonStream(n int, after func(i int)) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		w := make([]byte, 0, 64<<10)
		for i := 1; i <= n; i++ {
			w = fmt.Appendf(w, `{"n": %d, "name": "doc %d", "tags": ["a", "b"]}`+"\n", i, i)
			if len(w) > 60<<10 || i == n {
				if _, err := pw.Write(w); err != nil {
					return
				}
				w = w[:0]
			}
			if after != nil {
				after(i)
			}
		}
		_ = pw.Close()
	}()
	return pr
}

// TestImportMemoryIsBounded streams 100,000 documents (20,000 with -short
// or -race) while another goroutine samples the heap: the heap in use
// (server, client and, with the default backend, the embedded database, all
// in this process) must stay under 64 MiB whatever the size of the import.
// PM_TEST_IMPORT_DOCS sets another count (e.g. 1000000).
func TestImportMemoryIsBounded(t *testing.T) {
	n := 100_000
	if testing.Short() || raceEnabled {
		n = 20_000
	}
	if v := os.Getenv("PM_TEST_IMPORT_DOCS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			t.Fatalf("PM_TEST_IMPORT_DOCS=%q", v)
		}
	}
	const bound = 64 << 20
	e := newImportEnv(t, true)
	key := e.key("u1", "t1", "loader")

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak, peakRSS atomic.Uint64
	baseRSS := rss()
	stop := make(chan struct{})
	sampled := make(chan int)
	go func() {
		samples := 0
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				sampled <- samples
				return
			case <-tick.C:
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				samples++
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
				if r := rss(); r > peakRSS.Load() {
					peakRSS.Store(r)
				}
			}
		}
	}()
	start := time.Now()
	status, a, raw := sendImport(t, http.DefaultClient, importReq(t, e.srv.URL, "staff", key, ndjsonStream(n, nil)))
	elapsed := time.Since(start)
	close(stop)
	samples := <-sampled
	if status != 200 || a.Data.Inserted != int64(n) || a.Data.FailedCount != 0 {
		t.Fatalf("%d: %.500s", status, raw)
	}
	if got := e.count("staff"); got != int64(n) {
		t.Fatalf("%d documents stored, want %d", got, n)
	}
	t.Logf("%d documents in %v (%.0f docs/s); heap in use: %.1f MiB before, peak %.1f MiB over %d samples; RSS %.1f MiB before, peak %.1f MiB",
		n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), float64(base)/(1<<20), float64(peak.Load())/(1<<20), samples,
		float64(baseRSS)/(1<<20), float64(peakRSS.Load())/(1<<20))
	if samples == 0 {
		t.Fatal("no heap sample taken")
	}
	if peak.Load() > bound {
		t.Fatalf("heap in use peaked at %.1f MiB, over the %d MiB bound", float64(peak.Load())/(1<<20), bound>>20)
	}
}

// rss is the resident set size of the process (Linux; 0 elsewhere). It
// includes what the heap does not: the embedded database's own allocations.
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}

// A client that goes away mid-stream stops the import: the chunks already
// written stay, nothing more is written, and the log says how many were
// inserted.
func TestImportClientDisconnectStops(t *testing.T) {
	e := newImportEnv(t, true)
	key := e.key("u1", "t1", "loader")
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		// 1,200 documents: two full chunks of 500 written, 200 pending.
		for i := 1; i <= 1200; i++ {
			if _, err := fmt.Fprintf(pw, `{"n": %d}`+"\n", i); err != nil {
				return
			}
		}
		// Wait until the server has written the two chunks, then leave.
		deadline := time.Now().Add(30 * time.Second)
		for e.count("staff") < 1000 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		pw.CloseWithError(context.Canceled)
	}()
	req := importReq(t, e.srv.URL, "staff", key, pr).WithContext(ctx)
	if res, err := http.DefaultClient.Do(req); err == nil {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		t.Fatalf("the request was answered: %d %s", res.StatusCode, b)
	}
	testenv.WaitUntil(t, func() bool { return strings.Contains(e.log.String(), "import stopped") }, "an 'import stopped' log line")
	logged := e.log.String()
	if !strings.Contains(logged, "inserted=1000") {
		t.Fatalf("log does not report the 1000 inserted documents: %s", logged)
	}
	time.Sleep(200 * time.Millisecond)
	if got := e.count("staff"); got != 1000 {
		t.Fatalf("%d documents stored, want the 1000 of the two written chunks", got)
	}
}

// An import outlives the server's ReadTimeout and WriteTimeout, which bound
// ordinary requests: while the body flows, the deadlines move forward.
func TestImportOutlivesServerTimeouts(t *testing.T) {
	e := newImportEnv(t, false)
	key := e.key("u1", "t1", "loader")
	srv := httptest.NewUnstartedServer(e.handler)
	srv.Config.ReadTimeout = 300 * time.Millisecond
	srv.Config.WriteTimeout = 300 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	pr, pw := io.Pipe()
	go func() {
		for i := 1; i <= 12; i++ {
			_, _ = fmt.Fprintf(pw, `{"n": %d}`+"\n", i)
			time.Sleep(100 * time.Millisecond)
		}
		_ = pw.Close()
	}()
	status, a, raw := sendImport(t, http.DefaultClient, importReq(t, srv.URL, "staff", key, pr))
	if status != 200 || a.Data.Inserted != 12 {
		t.Fatalf("%d: %s", status, raw)
	}
}
