package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/permission-mongo/permission-mongo/internal/principal"
)

// ErrKeyNotFound is returned by a KeyStore when it holds no key with the id.
var ErrKeyNotFound = errors.New("auth: api key not found")

// KeyRecord is a stored API key. It never holds the secret itself, only its
// hash, so a leaked store or config file does not leak usable keys.
type KeyRecord struct {
	ID           string
	Name         string
	SecretSHA256 string // lowercase hex SHA-256 of the secret, see HashSecret
	Principal    principal.Principal
	CreatedAt    time.Time
	ExpiresAt    *time.Time // nil: never expires
	RevokedAt    *time.Time // non-nil: revoked, whatever the time it holds
}

// KeyStore finds API keys by id.
//
// Get returns ErrKeyNotFound (possibly wrapped) when there is no such key;
// any other error means the store could not answer and is reported as
// unavailable rather than as a bad credential. The returned record may be
// shared; the Authenticator does not modify it.
type KeyStore interface {
	Get(ctx context.Context, id string) (*KeyRecord, error)
}

// StaticKey is one bootstrap key declared in the configuration file. Only the
// hash of the secret is configured; generate one with GenerateKey.
type StaticKey struct {
	Name      string              `json:"name" yaml:"name"`
	KeyID     string              `json:"key_id" yaml:"key_id"`
	KeySHA256 string              `json:"key_sha256" yaml:"key_sha256"`
	Principal principal.Principal `json:"principal" yaml:"principal"`
	ExpiresAt *time.Time          `json:"expires_at,omitempty" yaml:"expires_at,omitempty"`
}

// StaticKeys is a read-only KeyStore built from configuration. Static keys
// cannot be revoked at run time: remove them from the config and restart.
type StaticKeys struct {
	byID map[string]*KeyRecord
}

// NewStaticKeys validates the configured keys and indexes them by id. It
// fails on anything that would make a key silently unusable or ambiguous: a
// malformed id or hash, a duplicate id, or a principal without an id (every
// request must be attributable in the audit log).
func NewStaticKeys(keys []StaticKey) (*StaticKeys, error) {
	s := &StaticKeys{byID: make(map[string]*KeyRecord, len(keys))}
	for i, k := range keys {
		if !ValidKeyID(k.KeyID) {
			return nil, fmt.Errorf("auth: static key %d (%q): key_id must be %d lowercase hex characters", i, k.Name, KeyIDLen)
		}
		hash := strings.ToLower(k.KeySHA256)
		if len(hash) != 64 || !isHex(hash) {
			return nil, fmt.Errorf("auth: static key %q: key_sha256 must be 64 hex characters", k.KeyID)
		}
		if _, dup := s.byID[k.KeyID]; dup {
			return nil, fmt.Errorf("auth: static key %q declared twice", k.KeyID)
		}
		if k.Principal.ID == "" {
			return nil, fmt.Errorf("auth: static key %q: principal.id is required", k.KeyID)
		}
		rec := &KeyRecord{
			ID:           k.KeyID,
			Name:         k.Name,
			SecretSHA256: hash,
			Principal:    clonePrincipal(k.Principal),
		}
		if k.ExpiresAt != nil {
			t := *k.ExpiresAt
			rec.ExpiresAt = &t
		}
		s.byID[k.KeyID] = rec
	}
	return s, nil
}

// Get implements KeyStore. It returns a copy so callers cannot alter the
// configured keys.
func (s *StaticKeys) Get(_ context.Context, id string) (*KeyRecord, error) {
	if s == nil {
		return nil, ErrKeyNotFound
	}
	rec, ok := s.byID[id]
	if !ok {
		return nil, ErrKeyNotFound
	}
	cp := *rec
	cp.Principal = clonePrincipal(rec.Principal)
	if rec.ExpiresAt != nil {
		t := *rec.ExpiresAt
		cp.ExpiresAt = &t
	}
	return &cp, nil
}

// ChainKeyStore asks each store in order and returns the first record found.
// The first store that has the id is authoritative: a wrong secret there is
// not retried against later stores. A store error other than ErrKeyNotFound
// stops the search, because skipping an unreachable store could let a key it
// has revoked be answered by another one.
type ChainKeyStore []KeyStore

// Get implements KeyStore.
func (c ChainKeyStore) Get(ctx context.Context, id string) (*KeyRecord, error) {
	for _, s := range c {
		if s == nil {
			continue
		}
		rec, err := s.Get(ctx, id)
		if errors.Is(err, ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if rec == nil { // a store bug; treat like "not here"
			continue
		}
		return rec, nil
	}
	return nil, ErrKeyNotFound
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// clonePrincipal deep-copies p so a principal handed to a request can be
// mutated without affecting the stored key or other requests.
func clonePrincipal(p principal.Principal) principal.Principal {
	out := p
	out.Roles = append([]string{}, p.Roles...)
	if p.Claims != nil {
		out.Claims = cloneValue(p.Claims).(map[string]any)
	}
	return out
}

func cloneValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = cloneValue(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = cloneValue(e)
		}
		return s
	case []string:
		return append([]string(nil), x...)
	default:
		return v
	}
}
