package permissionmongo_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	pm "github.com/permission-mongo/permission-mongo/sdk/go"
)

// These tests need no permission-mongo server: a scripted HTTP server
// answers. The SDK against a real proxy is tested in the main module
// (cmd/pm/sdk_go_test.go), which imports this module through a replace
// directive.

type answer struct {
	status  int
	headers map[string]string
	body    string
}

type request struct {
	method, path string
	header       http.Header
	body         string
}

type scripted struct {
	mu       sync.Mutex
	script   []answer
	requests []request
}

func newScripted(t *testing.T, script ...answer) (*scripted, string) {
	t.Helper()
	s := &scripted{script: script}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.requests = append(s.requests, request{r.Method, r.URL.RequestURI(), r.Header.Clone(), string(b)})
		a := answer{200, nil, `{"data":{}}`}
		if len(s.script) > 0 {
			a, s.script = s.script[0], s.script[1:]
		}
		s.mu.Unlock()
		for k, v := range a.headers {
			w.Header().Set(k, v)
		}
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
	}))
	t.Cleanup(srv.Close)
	return s, srv.URL
}

func errBody(code string) string {
	return `{"error":{"code":"` + code + `","message":"m","details":{"max_limit":2}},"request_id":"rid"}`
}

// fast retries: the waits are real, so keep them tiny.
var fast = pm.RetryPolicy{MaxRetries: 3, Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
	MaxRetryAfter: 10 * time.Second, RetryOn: []int{429, 502, 503, 504}}

func TestIdempotentCallsAreRetriedAndWritesAreNot(t *testing.T) {
	s, url := newScripted(t,
		answer{503, nil, errBody("UNAVAILABLE")},
		answer{502, nil, "<html>bad gateway</html>"},
		answer{200, nil, `{"data":{"_id":"a","n":1}}`},
		answer{503, nil, errBody("UNAVAILABLE")},
		answer{200, nil, `{"data":{}}`})
	var events []pm.Event
	c := pm.New(url, "pm_k_s", pm.WithRetry(fast), pm.WithHook(func(e pm.Event) { events = append(events, e) }))
	var doc pm.Doc
	if err := c.Get(context.Background(), "c", "a", &doc); err != nil {
		t.Fatal(err)
	}
	if doc["n"] != int64(1) || len(s.requests) != 3 {
		t.Fatalf("doc %v after %d requests, want n=1 after 3", doc, len(s.requests))
	}
	if len(events) != 3 || events[0].Status != 503 || events[0].RetryIn == 0 || events[2].Err != nil {
		t.Fatalf("events: %+v", events)
	}
	err := c.Insert(context.Background(), "c", pm.M{"a": 1}, nil)
	if !errors.Is(err, pm.ErrUnavailable) || len(s.requests) != 4 {
		t.Fatalf("insert: %v after %d requests; an insert is sent once", err, len(s.requests))
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	s, url := newScripted(t,
		answer{429, map[string]string{"Retry-After": "1"}, errBody("RATE_LIMITED")},
		answer{200, nil, `{"data":{"count":7}}`})
	var waits []time.Duration
	c := pm.New(url, "k", pm.WithRetry(fast), pm.WithHook(func(e pm.Event) { waits = append(waits, e.RetryIn) }))
	n, err := c.Count(context.Background(), "c", nil)
	if err != nil || n != 7 {
		t.Fatalf("count %d, %v", n, err)
	}
	if waits[0] != time.Second {
		t.Fatalf("waited %v before the retry, want the server's Retry-After (1s)", waits[0])
	}
	if got := s.requests[0].body; got != `{"filter":{}}` {
		t.Fatalf("count body %s", got)
	}
	// Too long a Retry-After is not waited for.
	_, url2 := newScripted(t, answer{429, map[string]string{"Retry-After": "3600"}, errBody("RATE_LIMITED")})
	_, err = pm.New(url2, "k", pm.WithRetry(fast)).Count(context.Background(), "c", nil)
	var e *pm.Error
	if !errors.As(err, &e) || e.Code != "RATE_LIMITED" || e.RetryAfter != time.Hour {
		t.Fatalf("got %v", err)
	}
}

func TestUnopenedConnectionIsRetriedForWrites(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	n := 0
	c := pm.New("http://"+addr, "k", pm.WithRetry(fast), pm.WithHook(func(pm.Event) { n++ }))
	if err := c.Insert(context.Background(), "c", pm.M{}, nil); err == nil {
		t.Fatal("insert to a closed port succeeded")
	}
	if n != 4 {
		t.Fatalf("%d attempts, want 4: a connection never opened cannot have applied the write", n)
	}
}

func TestErrorsAndHeaders(t *testing.T) {
	s, url := newScripted(t, answer{412, nil, errBody("PRECONDITION_FAILED")}, answer{403, nil, errBody("FORBIDDEN")})
	c := pm.New(url, "pm_k_s", pm.WithRetry(fast), pm.WithHeader("X-Tenant", "t1"))
	ctx := pm.WithIfMatch(pm.WithRequestHeader(context.Background(), "X-Request-ID", "mine"), `"v1"`)
	err := c.Update(ctx, "my notes", "a/b", pm.M{"$set": pm.M{"x": 1}}, nil)
	var e *pm.Error
	if !errors.Is(err, pm.ErrPreconditionFailed) || !errors.As(err, &e) || e.Status != 412 || e.RequestID != "rid" {
		t.Fatalf("got %#v", err)
	}
	r := s.requests[0]
	if r.method != "PATCH" || r.path != "/collections/my%20notes/a%2Fb" {
		t.Fatalf("request %s %s", r.method, r.path)
	}
	for k, want := range map[string]string{"If-Match": `"v1"`, "X-Request-ID": "mine", "X-Tenant": "t1",
		"Authorization": "Bearer pm_k_s", "Content-Type": "application/json"} {
		if got := r.header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if !pm.IsForbidden(c.Delete(context.Background(), "c", "x")) || len(s.requests) != 2 {
		t.Fatal("403 is returned at once, typed")
	}
}

func TestGetWithETag(t *testing.T) {
	_, url := newScripted(t, answer{200, map[string]string{"ETag": `"e1"`}, `{"data":{"_id":"a"}}`}, answer{200, nil, `{"data":{"_id":"b"}}`})
	c := pm.New(url, "k")
	var d pm.Doc
	if tag, err := c.GetWithETag(context.Background(), "c", "a", &d); err != nil || tag != `"e1"` || d.ID() != "a" {
		t.Fatalf("%q %v %v", tag, d, err)
	}
	if tag, err := c.GetWithETag(context.Background(), "c", "b", &d); err != nil || tag != "" {
		t.Fatalf("a server without ETags: %q %v", tag, err)
	}
}

func TestIterPageSizeAndCap(t *testing.T) {
	s, url := newScripted(t,
		answer{400, nil, errBody("BAD_REQUEST")}, // page size above the server's max_limit (2)
		answer{200, nil, `{"data":[{"n":1},{"n":2}],"pagination":{"cursor":"c1","has_more":true}}`},
		answer{200, nil, `{"data":[{"n":3}],"pagination":{"cursor":"c2","has_more":true}}`})
	c := pm.New(url, "k", pm.WithRetry(fast))
	it := c.Find(context.Background(), "c", pm.M{"a": 1}, pm.FindOptions{Sort: []string{"-n"}, PageSize: 5, MaxDocs: 3})
	var ns []int
	for it.Next() {
		var d struct{ N int }
		if err := it.Decode(&d); err != nil {
			t.Fatal(err)
		}
		ns = append(ns, d.N)
	}
	if it.Err() != nil || len(ns) != 3 || ns[2] != 3 {
		t.Fatalf("%v %v", ns, it.Err())
	}
	var limits []float64
	for _, r := range s.requests {
		var b map[string]any
		_ = json.Unmarshal([]byte(r.body), &b)
		limits = append(limits, b["limit"].(float64))
	}
	if len(limits) != 3 || limits[0] != 3 || limits[1] != 2 || limits[2] != 1 {
		t.Fatalf("limits asked %v: want 3 (PageSize 5 capped by MaxDocs), then the server's max 2, then the 1 left", limits)
	}
	if !strings.Contains(s.requests[2].body, `"cursor":"c1"`) {
		t.Fatalf("second page without the cursor: %s", s.requests[2].body)
	}
}

func TestImportStreamsWithProgress(t *testing.T) {
	s, url := newScripted(t, answer{200, nil, `{"data":{"import_id":"i","inserted":3,"failed":[]}}`})
	c := pm.New(url, "k")
	var lines, bytes int64
	docs := func(yield func(any) bool) {
		for i := 0; i < 3; i++ {
			if !yield(pm.M{"n": i, "at": time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}) {
				return
			}
		}
	}
	res, err := c.ImportDocs(context.Background(), "c", docs, pm.ImportOptions{Progress: func(l, b int64) { lines, bytes = l, b }})
	if err != nil || res.Inserted != 3 {
		t.Fatalf("%+v %v", res, err)
	}
	r := s.requests[0]
	if r.header.Get("Content-Type") != "application/x-ndjson" || strings.Count(r.body, "\n") != 3 ||
		!strings.Contains(r.body, `{"$date":"2024-01-01T00:00:00.000Z"}`) {
		t.Fatalf("body %q (%s)", r.body, r.header.Get("Content-Type"))
	}
	if lines != 3 || bytes != int64(len(r.body)) {
		t.Fatalf("progress %d lines %d bytes, body %d bytes", lines, bytes, len(r.body))
	}
}

func TestExtendedJSON(t *testing.T) {
	var d pm.Doc
	err := json.Unmarshal([]byte(`{"_id":{"$oid":"507f1f77bcf86cd799439011"},"at":{"$date":"2024-03-04T10:00:00.123Z"},
		"old":{"$date":{"$numberLong":"-86400000"}},"big":{"$numberLong":"9007199254740993"},"f":1.5,"i":3,
		"dec":{"$numberDecimal":"1.10"},"nested":[{"x":{"$oid":"507f1f77bcf86cd799439012"}}],"q":{"$in":[1]}}`), &d)
	if err != nil {
		t.Fatal(err)
	}
	if d["_id"] != pm.ObjectID("507f1f77bcf86cd799439011") || d.ID() != "507f1f77bcf86cd799439011" {
		t.Errorf("_id %#v", d["_id"])
	}
	if d["at"] != time.Date(2024, 3, 4, 10, 0, 0, 123e6, time.UTC) || d["old"] != time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC) {
		t.Errorf("dates %v %v", d["at"], d["old"])
	}
	if d["big"] != int64(9007199254740993) || d["f"] != 1.5 || d["i"] != int64(3) || d["dec"] != pm.Decimal("1.10") {
		t.Errorf("numbers %#v %#v %#v %#v", d["big"], d["f"], d["i"], d["dec"])
	}
	if d["nested"].([]any)[0].(pm.Doc)["x"] != pm.ObjectID("507f1f77bcf86cd799439012") {
		t.Errorf("nested %#v", d["nested"])
	}
	if _, ok := d["q"].(pm.Doc); !ok {
		t.Errorf("an operator document stays a document: %#v", d["q"])
	}
	out, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"_id":{"$oid":"507f1f77bcf86cd799439011"}`, `"at":{"$date":"2024-03-04T10:00:00.123Z"}`,
		`"old":{"$date":{"$numberLong":"-86400000"}}`, `"dec":{"$numberDecimal":"1.10"}`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("%s lacks %s", out, want)
		}
	}
	var s struct {
		ID ObjectIDAlias `json:"_id"`
		At pm.Date       `json:"at"`
	}
	if err := json.Unmarshal([]byte(`{"_id":"plain-string-id","at":{"$date":"2024-03-04T10:00:00Z"}}`), &s); err != nil ||
		s.ID != "plain-string-id" || s.At.Year() != 2024 {
		t.Fatalf("%+v %v", s, err)
	}
	if _, err := pm.ParseObjectID("nope"); err == nil {
		t.Error("ParseObjectID accepted nope")
	}
}

type ObjectIDAlias = pm.ObjectID
