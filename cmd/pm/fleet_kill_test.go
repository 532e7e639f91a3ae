package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestProxyKilledUnderLoadKeepsAnsweredAudit: a `pm serve` process is
// SIGKILLed in the middle of a write load (no shutdown, no final flush).
// Every request that got a 2xx answer before the kill must have its audit
// entry, found by request id once the proxy is restarted, and the audit
// chains must verify. A proxy that answers before the entry is durable (an
// entry queued in memory at the kill) fails this.
func TestProxyKilledUnderLoadKeepsAnsweredAudit(t *testing.T) {
	for _, mode := range []string{"fail_closed", "buffer"} {
		t.Run(mode, func(t *testing.T) {
			extra := ""
			if mode == "buffer" {
				// The restarted proxy uses the same file, as a restarted
				// container with its volume would: it replays what is there.
				extra = "audit: {mode: buffer, spill_path: \"" + filepath.Join(t.TempDir(), "audit-spill.ndjson") + "\"}"
			}
			fs := newFleetSetup(t, fleetPolicy, extra,
				testKey{"admin", "boss", "t1", []string{"admin", "clerk"}},
				testKey{"clerk", "u1", "t1", []string{"clerk"}})
			a := fs.startProc(t, "A")
			answered := loadUntilKilled(t, a, fs.keys["clerk"], 150)
			t.Logf("%s: %d requests answered 2xx before the SIGKILL", mode, len(answered))

			// The restarted proxy (replaying the spill file in buffer mode)
			// serves the audit log of both lives.
			b := fs.startProc(t, "A-restarted")
			// In buffer mode the restarted proxy replays in the background:
			// poll, then name what is still missing.
			var missing []string
			for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
				missing = missingAudit(t, fs, answered)
				if len(missing) == 0 || time.Now().After(deadline) {
					break
				}
			}
			require.Empty(t, missing, "%d of %d answered requests have no audit entry", len(missing), len(answered))

			st, _, body := call(t, "GET", b.url+"/audit/verify", fs.keys["admin"], "")
			require.Equal(t, 200, st, "%v", body)
			res := body["data"].(map[string]any)
			require.Equal(t, true, res["ok"], "audit verify after the kill: %v", res)
			require.GreaterOrEqual(t, res["checked"].(float64), float64(len(answered)))
		})
	}
}

// missingAudit returns the request ids of answered without an audit entry.
func missingAudit(t *testing.T, fs *fleetSetup, answered map[string]bool) []string {
	t.Helper()
	ids := make([]any, 0, len(answered))
	for id := range answered {
		ids = append(ids, id)
	}
	vals, err := fs.db.Collection("pm_audit").Distinct(t.Context(), "request_id",
		bson.D{{Key: "request_id", Value: bson.D{{Key: "$in", Value: ids}}}}).Raw()
	require.NoError(t, err)
	found := map[string]bool{}
	vs, err := vals.Values()
	require.NoError(t, err)
	for _, v := range vs {
		found[v.StringValue()] = true
	}
	var missing []string
	for id := range answered {
		if !found[id] {
			missing = append(missing, id)
		}
	}
	return missing
}

// loadUntilKilled writes tickets through p from a few clients, SIGKILLs p
// once `after` requests were answered, while the load goes on, and returns
// the request ids of every 2xx answer received (before or after the kill:
// an answer is an answer).
func loadUntilKilled(t *testing.T, p *proc, key string, after int) map[string]bool {
	t.Helper()
	var (
		mu       sync.Mutex
		answered = map[string]bool{}
		n        atomic.Int64
		killed   = make(chan struct{})
		killOnce sync.Once
		wg       sync.WaitGroup
		bad      atomic.Value
	)
	kill := func() {
		killOnce.Do(func() {
			_ = p.cmd.Process.Kill() // SIGKILL: no shutdown, no flush
			close(killed)
		})
	}
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	defer client.CloseIdleConnections()
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				body := fmt.Sprintf(`{"title": "g%d-%d"}`, g, i)
				req, _ := http.NewRequest("POST", p.url+"/collections/tickets", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-API-Key", key)
				req.Header.Set("X-Request-ID", fmt.Sprintf("kill-g%d-%d", g, i))
				res, err := client.Do(req)
				if err != nil {
					select {
					case <-killed:
						return // the proxy is gone
					default:
						bad.Store(fmt.Sprintf("request before the kill failed: %v", err))
						kill()
						return
					}
				}
				_ = res.Body.Close()
				switch {
				case res.StatusCode/100 == 2:
					mu.Lock()
					answered[res.Header.Get("X-Request-ID")] = true
					mu.Unlock()
					if n.Add(1) == int64(after) {
						kill() // while the other clients' requests run
					}
				case res.StatusCode == 503:
					// The shared engine did not answer in time: no answer
					// to audit, the load goes on.
				default:
					bad.Store(fmt.Sprintf("unexpected status %d", res.StatusCode))
					kill()
					return
				}
			}
		}()
	}
	wg.Wait()
	if msg := bad.Load(); msg != nil {
		t.Fatal(msg)
	}
	require.NotContains(t, answered, "", "every answer carries its request id")
	return answered
}
