package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/permission-mongo/permission-mongo/internal/audit"
	"github.com/permission-mongo/permission-mongo/internal/store"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

// loadClient sends GET requests with unique request ids from goroutines
// (no require there) and remembers every answer.
type loadClient struct {
	url, key string
	http     *http.Client
	mu       sync.Mutex
	status   map[string]int // request id → status; -1: no answer
}

func newLoadClient(e *auditEnv, key string) *loadClient {
	return &loadClient{url: e.srv.URL, key: key, status: map[string]int{},
		http: &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
}

func (c *loadClient) get(path, reqID string) int {
	req, _ := http.NewRequest("GET", c.url+path, nil)
	req.Header.Set("X-API-Key", c.key)
	req.Header.Set("X-Request-ID", reqID)
	status := -1
	if res, err := c.http.Do(req); err == nil {
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		status = res.StatusCode
	}
	c.mu.Lock()
	c.status[reqID] = status
	c.mu.Unlock()
	return status
}

// answered returns the ids of the requests answered with status, and how
// many requests got each status.
func (c *loadClient) answered(status int) (ids map[string]bool, counts map[int]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids, counts = map[string]bool{}, map[int]int{}
	for id, s := range c.status {
		counts[s]++
		if s == status {
			ids[id] = true
		}
	}
	return ids, counts
}

// checkOneEntryEach: the entries are exactly one per id in want, plus extra
// ones of requests outside the load (none for any other request).
func checkOneEntryEach(t *testing.T, all []audit.Entry, want map[string]bool, extra int) {
	t.Helper()
	require.Len(t, all, len(want)+extra, "one entry per answered request")
	got := byRequestID(all)
	for id := range want {
		require.Len(t, got[id], 1, "entries of request %s", id)
	}
}

// TestAuditSustainedLoadRefusesNothing (issue: a healthy backend under load
// must not turn into refused requests): 16 clients × 100 GETs by id through
// the real server, with an audit queue far smaller than the load (16
// entries, batches of 8) so that requests outrun the writer all along. A
// full queue is back-pressure: every request is answered 200, none 503, the
// audit log has exactly one entry per request, and the chain verifies.
func TestAuditSustainedLoadRefusesNothing(t *testing.T) {
	e := newAuditEnvOpts(t, nil, audit.Options{QueueSize: 16, BatchSize: 8, MaxWait: time.Minute})
	key := e.user("ann", "t1", "member")
	expect(t, e.req("POST", "/collections/docs", key, "seed", map[string]any{"_id": "d1", "name": "x"}), 201, "")

	const clients, each = 16, 100
	c := newLoadClient(e, key)
	var wg sync.WaitGroup
	var bad atomic.Int64
	for g := range clients {
		wg.Go(func() {
			for i := range each {
				if c.get("/collections/docs/d1", fmt.Sprintf("load-%02d-%03d", g, i)) != 200 {
					bad.Add(1)
				}
			}
		})
	}
	wg.Wait()
	ok, counts := c.answered(200)
	require.Zero(t, bad.Load(), "answers by status: %v", counts)
	require.Len(t, ok, clients*each)
	st := e.w.Stats()
	require.Zero(t, st.Refused)
	t.Logf("requests that waited for room in the audit queue: %d of %d", st.Waited, clients*each)

	auditor := e.user("aud", "t1", "auditor")
	r := e.req("GET", "/audit/verify", auditor, "verify", nil)
	expect(t, r, 200, "")
	require.Equal(t, true, r.data(t)["ok"], "%s", r.Body)

	// Everything stored (Close waits as long as the store needs, on a
	// loaded machine too), then counted.
	closeCtx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	require.NoError(t, e.w.Close(closeCtx))
	all := entriesN(t, e.coll, clients*each+2)
	checkOneEntryEach(t, all, ok, 2) // the seed and the verify
	for _, en := range byRequestID(all) {
		if id := en[0].RequestID; id != "seed" && id != "verify" {
			require.Equal(t, "read", en[0].Action)
			require.Equal(t, 200, en[0].Status)
		}
	}
	res, err := audit.Verify(t.Context(), store.NewCollection(e.coll), time.Time{}, time.Time{})
	require.NoError(t, err)
	require.True(t, res.OK, "%+v", res)
	require.Equal(t, clients*each+2, res.Checked)
}

// TestAuditLoadThroughOutageRefusesThenRecovers: fail_closed under a steady
// load while the audit store goes down and comes back. While it is down,
// requests are answered 503 (never 500, never left hanging); afterwards they
// are answered 200 again. Every request answered 200, including those
// accepted just before the outage was noticed, has exactly one entry; the
// refused ones have none; the chain verifies.
func TestAuditLoadThroughOutageRefusesThenRecovers(t *testing.T) {
	o := testenv.NewOutage(t)
	coll := o.Client.Database("app").Collection("pm_audit")
	require.NoError(t, audit.EnsureIndexes(t.Context(), store.NewCollection(coll), 0))
	e := newAuditEnvOpts(t, coll, audit.Options{Mode: audit.ModeFailClosed, QueueSize: 64, BatchSize: 16,
		WriteTimeout: time.Second, RetryMin: 50 * time.Millisecond, RetryMax: 300 * time.Millisecond})
	key := e.user("ann", "t1", "member")
	expect(t, e.req("POST", "/collections/docs", key, "seed", map[string]any{"_id": "d1"}), 201, "")

	c := newLoadClient(e, key)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var n200, n503 atomic.Int64
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				switch c.get("/collections/docs/d1", fmt.Sprintf("out-%d-%05d", g, i)) {
				case 200:
					n200.Add(1)
				case 503:
					n503.Add(1)
				}
			}
		})
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				close(stop)
				wg.Wait()
				_, counts := c.answered(200)
				t.Fatalf("%s: not within a minute (answers by status: %v)", what, counts)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	waitFor("answers before the outage", func() bool { return n200.Load() >= 100 })
	o.Stop()
	waitFor("the writer notices the outage", func() bool { return e.w.Available() != nil })
	refused := n503.Load()
	waitFor("503 while the audit store is down", func() bool { return n503.Load() >= refused+20 })
	o.Start()
	waitFor("audit available again", func() bool { return e.w.Available() == nil })
	after := n200.Load()
	waitFor("answers after the outage", func() bool { return n200.Load() >= after+100 })
	close(stop)
	wg.Wait()

	ok, counts := c.answered(200)
	require.Equal(t, len(ok)+counts[503], len(c.status), "only 200 and 503: %v", counts)
	closeCtx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	require.NoError(t, e.w.Close(closeCtx), "everything accepted is stored")
	all := entriesN(t, coll, len(ok)+1)
	checkOneEntryEach(t, all, ok, 1)
	res, err := audit.Verify(t.Context(), store.NewCollection(coll), time.Time{}, time.Time{})
	require.NoError(t, err)
	require.True(t, res.OK, "%+v", res)
	t.Logf("answers by status: %v", counts)
}
