package testenv

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/auth"
	"github.com/permission-mongo/permission-mongo/internal/principal"
)

// Quiet is a logger that drops everything, for components under test whose
// logged failures the test provokes on purpose (its assertions say what
// matters).
var Quiet = slog.New(slog.DiscardHandler)

// Raw is d (a bson.D, a map or a struct) encoded as a BSON document, for
// tests that feed code raw documents as the database returns them; it
// fails the test if d cannot be encoded.
func Raw(t testing.TB, d any) bson.Raw {
	t.Helper()
	b, err := bson.Marshal(d)
	if err != nil {
		t.Fatalf("testenv: encode %v: %v", d, err)
	}
	return b
}

// SyncBuffer collects output written from other goroutines (a server's
// log, a child process's output) while the test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String is everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Keys is an API key store whose records the test controls (revocation,
// expiry), which a configuration's static keys cannot express. It is a
// real auth.KeyStore: keys are checked by their hash like any other.
type Keys struct {
	mu   sync.Mutex
	recs map[string]*auth.KeyRecord
}

// NewKeys is an empty key store.
func NewKeys() *Keys { return &Keys{recs: map[string]*auth.KeyRecord{}} }

// Get implements auth.KeyStore; the record is a copy.
func (k *Keys) Get(_ context.Context, id string) (*auth.KeyRecord, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	r, ok := k.recs[id]
	if !ok {
		return nil, auth.ErrKeyNotFound
	}
	c := *r
	return &c, nil
}

// Add creates a key for p, lets mod (when set) change its record, and
// returns the full key.
func (k *Keys) Add(p principal.Principal, mod func(*auth.KeyRecord)) string {
	id, key, hash := auth.GenerateKey()
	r := &auth.KeyRecord{ID: id, Name: p.ID, SecretSHA256: hash, Principal: p, CreatedAt: time.Now()}
	if mod != nil {
		mod(r)
	}
	k.mu.Lock()
	k.recs[id] = r
	k.mu.Unlock()
	return key
}

// WaitUntil polls cond until it holds and fails the test when it has not
// within two minutes: a deadline generous enough for a loaded machine, so
// that no test depends on its speed.
func WaitUntil(t testing.TB, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // the polling interval; the deadline is above
	}
}

// IDOf is the id of a key whose principal is principalID ("" if none):
// tests that name a key by its id (explain as a key, revoke) find it here.
func (k *Keys) IDOf(principalID string) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	for id, r := range k.recs {
		if r.Principal.ID == principalID {
			return id
		}
	}
	return ""
}
