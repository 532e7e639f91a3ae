// Package webhooktest holds a webhook receiver for tests: a real local HTTP
// server that checks what the deliverer sends and can be told to fail or to
// hang, so retry, timeout and dead-letter paths run against the network
// rather than a fake client.
package webhooktest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/permission-mongo/permission-mongo/internal/webhook"
)

// Receiver answers 503 to the next Fail requests, never answers while Hang
// is set (the deliverer's timeout must end the attempt), and otherwise
// accepts an event signed with its secret whose body id matches the
// X-PM-Event-Id header. Anything else is counted as bad and answered 401.
type Receiver struct {
	URL string

	secret []byte
	mu     sync.Mutex
	fail   int
	hang   bool
	events []map[string]any
	bad    int
}

// New starts a receiver that expects deliveries signed with secret; it is
// closed when the test ends.
func New(t testing.TB, secret string) *Receiver {
	t.Helper()
	r := &Receiver{secret: []byte(secret)}
	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	hang := r.hang
	fail := !hang && r.fail > 0
	if fail {
		r.fail--
	}
	r.mu.Unlock()
	switch {
	case hang:
		<-req.Context().Done()
		return
	case fail:
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var ev map[string]any
	good := req.Header.Get("X-PM-Signature") == webhook.Sign(r.secret, body) &&
		json.Unmarshal(body, &ev) == nil && ev["id"] == req.Header.Get("X-PM-Event-Id")
	r.mu.Lock()
	defer r.mu.Unlock()
	if !good {
		r.bad++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	r.events = append(r.events, ev)
	w.WriteHeader(http.StatusOK)
}

// Set makes the next fail requests answer 503, and every request hang while
// hang is true.
func (r *Receiver) Set(fail int, hang bool) {
	r.mu.Lock()
	r.fail, r.hang = fail, hang
	r.mu.Unlock()
}

// Got returns the events accepted so far, oldest first, and how many
// requests were refused as badly signed or malformed.
func (r *Receiver) Got() ([]map[string]any, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]map[string]any(nil), r.events...), r.bad
}
