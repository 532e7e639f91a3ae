package auth

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/principal"
)

// mapStore is a KeyStore for records StaticKeys cannot express (revoked).
type mapStore struct {
	recs  map[string]*KeyRecord
	err   error
	calls []string
	mu    sync.Mutex
}

func (m *mapStore) Get(_ context.Context, id string) (*KeyRecord, error) {
	m.mu.Lock()
	m.calls = append(m.calls, id)
	m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	r, ok := m.recs[id]
	if !ok {
		return nil, ErrKeyNotFound
	}
	return r, nil
}

type issuedKey struct {
	id, full, secret, hash string
}

func issue(t *testing.T) issuedKey {
	t.Helper()
	id, full, hash := GenerateKey()
	_, secret, err := ParseKey(full)
	if err != nil {
		t.Fatal(err)
	}
	return issuedKey{id, full, secret, hash}
}

func ptime(t time.Time) *time.Time { return &t }

type authFixture struct {
	a                                    *Authenticator
	good, revoked, revokedLater, expired issuedKey
	expiresNow, future, static, unknown  issuedKey
	wrongSecret                          string // id of good, secret of another key
	wrongStoreID                         issuedKey
	jwtToken                             string
	store                                *mapStore
	goodPrincipal                        principal.Principal
}

func newFixture(t *testing.T) *authFixture {
	t.Helper()
	f := &authFixture{
		good: issue(t), revoked: issue(t), revokedLater: issue(t), expired: issue(t),
		expiresNow: issue(t), future: issue(t), static: issue(t), unknown: issue(t),
		wrongStoreID: issue(t),
	}
	f.goodPrincipal = principal.Principal{
		ID: "svc-1", TenantID: "tenant-a", Roles: []string{"writer"},
		Claims: map[string]any{"team": map[string]any{"name": "core"}, "tags": []any{"x"}},
	}
	rec := func(k issuedKey) *KeyRecord {
		return &KeyRecord{ID: k.id, Name: "k", SecretSHA256: k.hash, Principal: f.goodPrincipal, CreatedAt: testNow.Add(-time.Hour)}
	}
	f.store = &mapStore{recs: map[string]*KeyRecord{}}
	for _, k := range []issuedKey{f.good, f.revoked, f.revokedLater, f.expired, f.expiresNow, f.future} {
		f.store.recs[k.id] = rec(k)
	}
	f.store.recs[f.revoked.id].RevokedAt = ptime(testNow.Add(-time.Minute))
	f.store.recs[f.revokedLater.id].RevokedAt = ptime(testNow.Add(time.Minute))
	f.store.recs[f.expired.id].ExpiresAt = ptime(testNow.Add(-time.Second))
	f.store.recs[f.expiresNow.id].ExpiresAt = ptime(testNow)
	f.store.recs[f.future.id].ExpiresAt = ptime(testNow.Add(time.Second))
	// A store bug: record filed under another id.
	wrong := rec(f.wrongStoreID)
	wrong.ID = f.good.id
	wrong.SecretSHA256 = f.wrongStoreID.hash
	f.store.recs[f.wrongStoreID.id] = wrong

	static, err := NewStaticKeys([]StaticKey{{
		Name: "bootstrap", KeyID: f.static.id, KeySHA256: f.static.hash,
		Principal: principal.Principal{ID: "admin", Roles: []string{"admin"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	f.wrongSecret = KeyPrefix + f.good.id + "_" + f.revoked.secret

	v := newVerifier(t, JWTConfig{Secret: testHMACSecret})
	f.jwtToken = sign(t, jwt.SigningMethodHS256, []byte(testHMACSecret), goodClaims())
	f.a = &Authenticator{Keys: ChainKeyStore{static, f.store}, JWT: v, Now: func() time.Time { return testNow }}
	return f
}

func TestAuthenticateAccepts(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name          string
		authz, apiKey string
		wantID        string
		wantAuth      string
		wantKeyID     string
	}{
		{"X-API-Key", "", f.good.full, "svc-1", "api_key", f.good.id},
		{"Bearer api key", "Bearer " + f.good.full, "", "svc-1", "api_key", f.good.id},
		{"lowercase scheme", "bearer " + f.good.full, "", "svc-1", "api_key", f.good.id},
		{"surrounding whitespace", "  Bearer  " + f.good.full + " ", "", "svc-1", "api_key", f.good.id},
		{"X-API-Key with whitespace", "", " " + f.good.full + "\t", "svc-1", "api_key", f.good.id},
		{"static key from first store", "", f.static.full, "admin", "api_key", f.static.id},
		{"not yet expired", "", f.future.full, "svc-1", "api_key", f.future.id},
		{"JWT", "Bearer " + f.jwtToken, "", "user-1", "jwt", "user-1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := f.a.Authenticate(t.Context(), c.authz, c.apiKey)
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if p.ID != c.wantID || p.Auth != c.wantAuth || p.KeyID != c.wantKeyID {
				t.Fatalf("principal = %+v", p)
			}
		})
	}
}

// TestAuthenticateAttacks: every request here must get a 401 (or 503 for a
// store outage) whose text never contains the credential.
func TestAuthenticateAttacks(t *testing.T) {
	f := newFixture(t)
	long := KeyPrefix + f.good.id + "_" + strings.Repeat("a", 9000)
	cases := []struct {
		name          string
		authz, apiKey string
		cause         error
	}{
		{"no headers", "", "", ErrNoCredentials},
		{"whitespace headers", "  ", "\t", ErrNoCredentials},
		{"both headers, both valid", "Bearer " + f.good.full, f.static.full, ErrAmbiguousCredentials},
		{"both headers, same key", "Bearer " + f.good.full, f.good.full, ErrAmbiguousCredentials},
		{"both headers, jwt and key", "Bearer " + f.jwtToken, f.good.full, ErrAmbiguousCredentials},
		{"both headers, junk authorization", "Basic Zm9vOmJhcg==", f.good.full, ErrAmbiguousCredentials},
		{"wrong secret for existing id", "", f.wrongSecret, ErrWrongSecret},
		{"wrong secret via bearer", "Bearer " + f.wrongSecret, "", ErrWrongSecret},
		{"secret one char off", "", f.good.full[:len(f.good.full)-1] + flip(f.good.full[len(f.good.full)-1]), ErrWrongSecret},
		{"revoked", "", f.revoked.full, ErrKeyRevoked},
		{"revoked with future timestamp", "", f.revokedLater.full, ErrKeyRevoked},
		{"expired", "", f.expired.full, ErrKeyExpired},
		{"expires exactly now", "", f.expiresNow.full, ErrKeyExpired},
		{"unknown id", "", f.unknown.full, ErrKeyNotFound},
		{"store answers for another id", "", f.wrongStoreID.full, ErrKeyNotFound},
		{"malformed key in X-API-Key", "", "pm_nothex_" + f.good.secret, ErrMalformedKey},
		{"malformed key in bearer", "Bearer pm_" + f.good.id + "_" + strings.ToUpper(f.good.secret), "", ErrMalformedKey},
		{"key with extra segment", "", f.good.full + "_" + f.good.secret, ErrMalformedKey},
		{"JWT in X-API-Key", "", f.jwtToken, ErrMalformedKey},
		{"raw secret in X-API-Key", "", f.good.secret, ErrMalformedKey},
		{"Basic scheme", "Basic " + f.good.full, "", ErrMalformedCredential},
		{"no scheme", f.good.full, "", ErrMalformedCredential},
		{"Bearer without token", "Bearer", "", ErrMalformedCredential},
		{"Bearer with blank token", "Bearer    ", "", ErrMalformedCredential},
		{"Bearer with two tokens", "Bearer " + f.good.full + " " + f.static.full, "", ErrMalformedCredential},
		{"Bearer with newline", "Bearer " + f.good.full + "\nX: y", "", ErrMalformedCredential},
		{"Bearer prefix glued", "Bearer" + f.good.full, "", ErrMalformedCredential},
		{"over-long key", "", long, ErrMalformedCredential},
		{"over-long bearer", "Bearer " + long, "", ErrMalformedCredential},
		{"bad JWT", "Bearer " + f.jwtToken[:len(f.jwtToken)-4] + "AAAA", "", jwt.ErrTokenSignatureInvalid},
		{"expired JWT", "Bearer " + sign(t, jwt.SigningMethodHS256, []byte(testHMACSecret), with(goodClaims(), "exp", testNow.Add(-time.Hour).Unix())), "", jwt.ErrTokenExpired},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := f.a.Authenticate(t.Context(), c.authz, c.apiKey)
			if p != nil {
				t.Fatalf("authenticated as %+v", p)
			}
			assertUnauthenticated(t, err, c.authz, c.apiKey, strings.TrimPrefix(c.authz, "Bearer "))
			if !errors.Is(err, c.cause) {
				t.Fatalf("cause = %v, want %v", errors.Unwrap(err), c.cause)
			}
		})
	}
}

func TestAuthenticateMessagesAreGeneric(t *testing.T) {
	// Different failure reasons must not be distinguishable by the client
	// (apart from "no credential" and "two credentials"), so that probing
	// cannot tell a revoked key from an unknown one.
	f := newFixture(t)
	msgs := map[string]bool{}
	for _, key := range []string{f.wrongSecret, f.revoked.full, f.expired.full, f.unknown.full, "pm_x_y"} {
		_, err := f.a.Authenticate(t.Context(), "", key)
		var ae *apperr.Error
		if !errors.As(err, &ae) {
			t.Fatalf("not an apperr: %v", err)
		}
		msgs[ae.Message] = true
	}
	_, err := f.a.Authenticate(t.Context(), "Bearer x.y.z", "")
	var ae *apperr.Error
	errors.As(err, &ae)
	msgs[ae.Message] = true
	if len(msgs) != 1 {
		t.Fatalf("failure messages differ: %v", msgs)
	}
}

func TestAuthenticateNotConfigured(t *testing.T) {
	f := newFixture(t)
	noJWT := &Authenticator{Keys: f.a.Keys}
	_, err := noJWT.Authenticate(t.Context(), "Bearer "+f.jwtToken, "")
	assertUnauthenticated(t, err, f.jwtToken)
	if !errors.Is(err, ErrJWTNotConfigured) {
		t.Fatalf("cause = %v", err)
	}
	// An api key still works without JWT.
	if _, err := noJWT.Authenticate(t.Context(), "", f.good.full); err != nil {
		t.Fatalf("api key refused without jwt: %v", err)
	}

	noKeys := &Authenticator{JWT: f.a.JWT}
	_, err = noKeys.Authenticate(t.Context(), "", f.good.full)
	assertUnauthenticated(t, err, f.good.full)
	if !errors.Is(err, ErrKeysNotConfigured) {
		t.Fatalf("cause = %v", err)
	}

	var zero Authenticator
	for _, h := range [][2]string{{"Bearer " + f.jwtToken, ""}, {"", f.good.full}} {
		_, err := zero.Authenticate(t.Context(), h[0], h[1])
		assertUnauthenticated(t, err, h[0], h[1])
	}
}

func TestAuthenticateStoreOutage(t *testing.T) {
	good := issue(t)
	down := &mapStore{err: errors.New("connection refused")}
	a := &Authenticator{Keys: down, Now: func() time.Time { return testNow }}
	p, err := a.Authenticate(t.Context(), "", good.full)
	if p != nil || apperr.KindOf(err) != apperr.KindUnavailable {
		t.Fatalf("got %v, %v; want KindUnavailable", p, err)
	}
	assertNoLeak(t, err, good.full)
	if len(down.calls) != 1 || down.calls[0] != good.id {
		t.Fatalf("store was asked %v; only the id may leave the package", down.calls)
	}
	// A malformed key never reaches the store.
	down.calls = nil
	_, _ = a.Authenticate(t.Context(), "", "pm_zz_"+good.secret)
	if len(down.calls) != 0 {
		t.Fatal("malformed key was looked up")
	}
}

func TestAuthenticatedPrincipalIsACopy(t *testing.T) {
	f := newFixture(t)
	for _, key := range []string{f.good.full, f.static.full} {
		p1, err := f.a.Authenticate(t.Context(), "", key)
		if err != nil {
			t.Fatal(err)
		}
		p1.Roles[0] = "admin"
		p1.Roles = append(p1.Roles, "root")
		p1.ID = "someone-else"
		if p1.Claims != nil {
			p1.Claims["team"].(map[string]any)["name"] = "hacked"
			p1.Claims["tags"].([]any)[0] = "hacked"
		}
		p2, err := f.a.Authenticate(t.Context(), "", key)
		if err != nil {
			t.Fatal(err)
		}
		if p2.ID == "someone-else" || p2.HasRole("root") || p2.Roles[0] == "admin" && key == f.good.full {
			t.Fatalf("mutation leaked into the store: %+v", p2)
		}
		if v, _ := p2.Lookup("claims.team.name"); key == f.good.full && v != "core" {
			t.Fatalf("nested claim mutation leaked: %v", v)
		}
		if v, _ := p2.Lookup("claims.tags"); key == f.good.full && v.([]any)[0] != "x" {
			t.Fatalf("claim slice mutation leaked: %v", v)
		}
	}
	if f.store.recs[f.good.id].Principal.Roles[0] != "writer" {
		t.Fatal("store record modified")
	}
}

func TestChainKeyStore(t *testing.T) {
	a, b := issue(t), issue(t)
	rec := func(k issuedKey, pid string) *KeyRecord {
		return &KeyRecord{ID: k.id, SecretSHA256: k.hash, Principal: principal.Principal{ID: pid}}
	}
	first := &mapStore{recs: map[string]*KeyRecord{a.id: rec(a, "first")}}
	// The second store has a's id with b's secret: it must never be consulted
	// for a, or a wrong secret at the first store could be retried.
	shadow := rec(b, "shadow")
	shadow.ID = a.id
	second := &mapStore{recs: map[string]*KeyRecord{b.id: rec(b, "second"), a.id: shadow}}
	chain := ChainKeyStore{nil, first, second}
	ctx := t.Context()

	if r, err := chain.Get(ctx, a.id); err != nil || r.Principal.ID != "first" {
		t.Fatalf("a: %v %v", r, err)
	}
	if r, err := chain.Get(ctx, b.id); err != nil || r.Principal.ID != "second" {
		t.Fatalf("b: %v %v", r, err)
	}
	if _, err := chain.Get(ctx, "0000000000000000"); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("missing: %v", err)
	}
	if _, err := (ChainKeyStore{}).Get(ctx, a.id); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("empty chain: %v", err)
	}

	auth := &Authenticator{Keys: chain, Now: func() time.Time { return testNow }}
	attack := KeyPrefix + a.id + "_" + b.secret
	_, err := auth.Authenticate(ctx, "", attack)
	assertUnauthenticated(t, err, attack)
	if !errors.Is(err, ErrWrongSecret) {
		t.Fatalf("cause = %v", err)
	}

	// An outage in an earlier store stops the chain instead of falling through.
	down := &mapStore{err: errors.New("timeout")}
	second.calls = nil
	if _, err := (ChainKeyStore{down, second}).Get(ctx, b.id); err == nil || errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("outage hidden: %v", err)
	}
	if len(second.calls) != 0 {
		t.Fatal("chain fell through past a failing store")
	}
	// A wrapped not-found falls through.
	wrapped := &mapStore{err: errors.Join(errors.New("mongo: no documents"), ErrKeyNotFound)}
	if r, err := (ChainKeyStore{wrapped, second}).Get(ctx, b.id); err != nil || r.Principal.ID != "second" {
		t.Fatalf("wrapped not-found: %v %v", r, err)
	}
}

func TestNewStaticKeys(t *testing.T) {
	k := issue(t)
	p := principal.Principal{ID: "svc"}
	bad := map[string][]StaticKey{
		"bad id":          {{KeyID: "XYZ", KeySHA256: k.hash, Principal: p}},
		"id too long":     {{KeyID: k.id + "00", KeySHA256: k.hash, Principal: p}},
		"hash short":      {{KeyID: k.id, KeySHA256: k.hash[:10], Principal: p}},
		"hash not hex":    {{KeyID: k.id, KeySHA256: strings.Repeat("g", 64), Principal: p}},
		"plain secret":    {{KeyID: k.id, KeySHA256: k.secret, Principal: p}},
		"duplicate":       {{KeyID: k.id, KeySHA256: k.hash, Principal: p}, {KeyID: k.id, KeySHA256: k.hash, Principal: p}},
		"no principal id": {{KeyID: k.id, KeySHA256: k.hash}},
	}
	for name, cfg := range bad {
		t.Run(name, func(t *testing.T) {
			if _, err := NewStaticKeys(cfg); err == nil {
				t.Fatal("accepted")
			} else if strings.Contains(err.Error(), k.secret) {
				t.Fatal("error echoes a secret")
			}
		})
	}

	exp := testNow.Add(time.Hour)
	p.Roles = []string{"reader"}
	p.Claims = map[string]any{"org": map[string]any{"id": "o1"}}
	s, err := NewStaticKeys([]StaticKey{{Name: "n", KeyID: k.id, KeySHA256: strings.ToUpper(k.hash), Principal: p, ExpiresAt: &exp}})
	if err != nil {
		t.Fatal(err)
	}
	exp = exp.Add(100 * time.Hour) // config mutated after load must not matter
	r, err := s.Get(t.Context(), k.id)
	if err != nil || r.SecretSHA256 != k.hash || !r.ExpiresAt.Equal(testNow.Add(time.Hour)) || r.Name != "n" {
		t.Fatalf("record = %+v, %v", r, err)
	}
	a := &Authenticator{Keys: s, Now: func() time.Time { return testNow.Add(2 * time.Hour) }}
	_, err = a.Authenticate(t.Context(), "", k.full)
	if !errors.Is(err, ErrKeyExpired) {
		t.Fatalf("static key expiry not enforced: %v", err)
	}
	// Records handed out are copies: a caller mutating one cannot change
	// what the next lookup returns.
	r.Principal.Roles[0] = "admin"
	r.Principal.Claims["org"].(map[string]any)["id"] = "o2"
	*r.ExpiresAt = testNow.Add(1000 * time.Hour)
	p.Roles[0] = "admin" // nor can the config slice it was built from
	r2, _ := s.Get(t.Context(), k.id)
	if r2.Principal.Roles[0] != "reader" || !r2.ExpiresAt.Equal(testNow.Add(time.Hour)) {
		t.Fatalf("stored record was modified through a returned copy: %+v", r2)
	}
	if v, _ := r2.Principal.Lookup("claims.org.id"); v != "o1" {
		t.Fatalf("stored record was modified through a returned copy: %+v", r2)
	}
	var nilStore *StaticKeys
	if _, err := nilStore.Get(t.Context(), k.id); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("nil StaticKeys: %v", err)
	}
}

func TestAuthenticateConcurrent(t *testing.T) {
	f := newFixture(t)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var err error
			if i%2 == 0 {
				_, err = f.a.Authenticate(t.Context(), "", f.good.full)
			} else {
				_, err = f.a.Authenticate(t.Context(), "Bearer "+f.jwtToken, "")
			}
			if err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
