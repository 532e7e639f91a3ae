package auth_test

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/auth"
	"github.com/permission-mongo/permission-mongo/internal/auth/idptest"
	"github.com/permission-mongo/permission-mongo/internal/principal"
)

// clock is a settable time source, so that rate limits and refresh
// intervals are crossed by moving it, never by sleeping.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
func (c *clock) claims(sub string) jwt.MapClaims {
	now := c.Now()
	return jwt.MapClaims{"sub": sub, "tenant_id": "t1", "roles": []string{"user"},
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
}

// verify is v's answer, at the clock's time, to a token key signs for sub.
func (c *clock) verify(t *testing.T, v *auth.JWTVerifier, key idptest.Key, sub string) (*principal.Principal, error) {
	t.Helper()
	return v.VerifyContext(t.Context(), idptest.Sign(t, key, c.claims(sub)), c.Now())
}

func jwksVerifier(t *testing.T, clk *clock, cfg auth.JWKSConfig, algs ...string) *auth.JWTVerifier {
	t.Helper()
	cfg.Now = clk.Now
	if cfg.MinRefetchInterval == 0 {
		cfg.MinRefetchInterval = time.Minute
	}
	v, err := auth.NewJWTVerifier(auth.JWTConfig{JWKS: &cfg, Algorithms: algs})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func wantKind(t *testing.T, err error, kind apperr.Kind, cause error) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted, want kind %v", kind)
	}
	if apperr.KindOf(err) != kind {
		t.Fatalf("kind %v (%v), want %v", apperr.KindOf(err), err, kind)
	}
	if cause != nil && !errors.Is(err, cause) {
		t.Fatalf("cause %v, want %v", err, cause)
	}
}

// TestJWKSRotation: keys are selected by kid, cached, and after the provider
// rotates, the new kid is accepted once a refetch is allowed and the old kid
// is refused.
func TestJWKSRotation(t *testing.T) {
	clk := newClock()
	oldKey, newKey := idptest.RSA(t, "old"), idptest.RSA(t, "new")
	idp := idptest.New(t, false, oldKey)
	v := jwksVerifier(t, clk, auth.JWKSConfig{URL: idp.JWKSURL()})

	p, err := clk.verify(t, v, oldKey, "u1")
	if err != nil || p.ID != "u1" || p.TenantID != "t1" {
		t.Fatalf("old key before rotation: %v %+v", err, p)
	}
	for range 5 {
		if _, err := clk.verify(t, v, oldKey, "u1"); err != nil {
			t.Fatal(err)
		}
	}
	if n := idp.JWKSHits(); n != 1 {
		t.Fatalf("key set fetched %d times for six tokens of one kid, want 1 (cached)", n)
	}

	idp.Publish(newKey)
	// Right after the first fetch a refetch is rate limited: the new kid is
	// not known yet.
	_, err = clk.verify(t, v, newKey, "u2")
	wantKind(t, err, apperr.KindUnauthenticated, auth.ErrUnknownKeyID)
	if n := idp.JWKSHits(); n != 1 {
		t.Fatalf("refetched within the minimum interval: %d fetches", n)
	}

	clk.Advance(time.Minute)
	p, err = clk.verify(t, v, newKey, "u2")
	if err != nil || p.ID != "u2" {
		t.Fatalf("new key after rotation: %v", err)
	}
	if n := idp.JWKSHits(); n != 2 {
		t.Fatalf("unknown kid caused %d fetches in all, want 2", n)
	}

	// The old kid is gone from the set: refused, also after a refetch.
	_, err = clk.verify(t, v, oldKey, "u1")
	wantKind(t, err, apperr.KindUnauthenticated, auth.ErrUnknownKeyID)
	clk.Advance(time.Minute)
	_, err = clk.verify(t, v, oldKey, "u1")
	wantKind(t, err, apperr.KindUnauthenticated, auth.ErrUnknownKeyID)
	if n := idp.JWKSHits(); n != 3 {
		t.Fatalf("fetches = %d, want 3 (the old kid earned one refetch)", n)
	}
	// A token signed by an unpublished key that claims the new kid fails
	// on its signature.
	forged := idptest.RSA(t, "new")
	_, err = clk.verify(t, v, forged, "u2")
	wantKind(t, err, apperr.KindUnauthenticated, jwt.ErrTokenSignatureInvalid)
}

// TestJWKSUnknownKidStorm: many tokens with made-up kids, concurrently, make
// at most one request to the provider per minimum interval.
func TestJWKSUnknownKidStorm(t *testing.T) {
	clk := newClock()
	key := idptest.EC(t, "k1")
	idp := idptest.New(t, false, key)
	v := jwksVerifier(t, clk, auth.JWKSConfig{URL: idp.JWKSURL()})
	if _, err := clk.verify(t, v, key, "u"); err != nil {
		t.Fatal(err)
	}
	attacker := idptest.EC(t, "")
	storm := func() {
		var wg sync.WaitGroup
		var accepted atomic.Int64
		for g := range 8 {
			wg.Go(func() {
				for i := range 25 {
					k := attacker
					k.Kid = fmt.Sprintf("made-up-%d-%d", g, i)
					if _, err := clk.verify(t, v, k, "x"); err == nil {
						accepted.Add(1)
					} else if apperr.KindOf(err) != apperr.KindUnauthenticated {
						t.Errorf("unknown kid: kind %v, want unauthenticated", apperr.KindOf(err))
					}
				}
			})
		}
		wg.Wait()
		if accepted.Load() != 0 {
			t.Fatalf("%d forged tokens accepted", accepted.Load())
		}
	}
	storm()
	if n := idp.JWKSHits(); n != 1 {
		t.Fatalf("200 unknown kids within the minimum interval made %d fetches, want only the first one", n)
	}
	clk.Advance(time.Minute)
	storm()
	if n := idp.JWKSHits(); n != 2 {
		t.Fatalf("after the interval, 200 unknown kids made %d fetches in all, want 2", n)
	}
	// The real key still works throughout.
	if _, err := clk.verify(t, v, key, "u"); err != nil {
		t.Fatal(err)
	}
}

// TestJWKSAlgorithms: RS256, ES256 and EdDSA keys from one set, with and
// without "alg" in the JWK; a key is never used for another algorithm.
func TestJWKSAlgorithms(t *testing.T) {
	clk := newClock()
	rs, es, ed := idptest.RSA(t, "rs"), idptest.EC(t, "es"), idptest.Ed25519(t, "ed")
	esNoAlg := idptest.EC(t, "es-bare")
	esNoAlg.OmitAlg = true
	idp := idptest.New(t, false, rs, es, ed, esNoAlg)
	v := jwksVerifier(t, clk, auth.JWKSConfig{URL: idp.JWKSURL()})
	for _, k := range []idptest.Key{rs, es, ed, esNoAlg} {
		if _, err := clk.verify(t, v, k, "u"); err != nil {
			t.Errorf("%s (%s): %v", k.Kid, k.Alg, err)
		}
	}
	// The EC key's kid on an EdDSA token: the key type does not fit.
	edAsES := ed
	edAsES.Kid = "es"
	_, err := clk.verify(t, v, edAsES, "u")
	wantKind(t, err, apperr.KindUnauthenticated, nil)

	// Only the algorithms configured are accepted.
	onlyES := jwksVerifier(t, clk, auth.JWKSConfig{URL: idp.JWKSURL()}, auth.AlgES256)
	if _, err := clk.verify(t, onlyES, es, "u"); err != nil {
		t.Fatal(err)
	}
	_, err = clk.verify(t, onlyES, rs, "u")
	wantKind(t, err, apperr.KindUnauthenticated, nil)
}

// TestJWKSAlgorithmConfusion: an HS256 token whose HMAC key is public key
// material, a symmetric key slipped into the set, and alg "none" are all
// refused, also when HS256 is enabled with its own secret.
func TestJWKSAlgorithmConfusion(t *testing.T) {
	clk := newClock()
	rs := idptest.RSA(t, "rs")
	idp := idptest.New(t, false, rs)
	octSecret := []byte(strings.Repeat("s", 40))
	idp.PublishRaw(map[string]any{"kty": "oct", "kid": "oct", "k": base64.RawURLEncoding.EncodeToString(octSecret)})

	der, err := x509.MarshalPKIXPublicKey(rs.Signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	hs := func(kid string, key []byte) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, clk.claims("evil"))
		tok.Header["kid"] = kid
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	none := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodNone, clk.claims("evil"))
		tok.Header["kid"] = "rs"
		s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	jwksOnly := jwksVerifier(t, clk, auth.JWKSConfig{URL: idp.JWKSURL()})
	cfg := auth.JWKSConfig{URL: idp.JWKSURL(), Now: clk.Now, MinRefetchInterval: time.Minute}
	withSecret, err := auth.NewJWTVerifier(auth.JWTConfig{JWKS: &cfg, Secret: strings.Repeat("x", 40),
		Algorithms: []string{auth.AlgHS256, auth.AlgRS256}})
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]*auth.JWTVerifier{"jwks only": jwksOnly, "jwks and HS256 secret": withSecret} {
		// The genuine token works, so the refusals below are about the attack.
		if _, err := clk.verify(t, v, rs, "u"); err != nil {
			t.Fatalf("%s: genuine token: %v", name, err)
		}
		for what, tok := range map[string]string{
			"HS256 keyed with the public PEM": hs("rs", pubPEM),
			"HS256 keyed with the DER":        hs("rs", der),
			"HS256 keyed with the oct JWK":    hs("oct", octSecret),
			"alg none":                        none(),
		} {
			_, err := v.VerifyContext(t.Context(), tok, clk.Now())
			wantKind(t, err, apperr.KindUnauthenticated, nil)
			_ = what
		}
	}
	// An oct key's kid on an RS256 token does not find a key either.
	oct := rs
	oct.Kid = "oct"
	_, err = clk.verify(t, jwksOnly, oct, "u")
	wantKind(t, err, apperr.KindUnauthenticated, auth.ErrUnknownKeyID)
}

// TestJWKSProviderDown: with no key set yet, a token is answered as an
// outage (503), never as an internal error, and the provider is asked once
// per interval; once keys are cached, an outage keeps them in use.
func TestJWKSProviderDown(t *testing.T) {
	clk := newClock()
	key := idptest.RSA(t, "k")
	idp := idptest.New(t, false, key)
	idp.SetDown(true)
	v := jwksVerifier(t, clk, auth.JWKSConfig{URL: idp.JWKSURL(), RefreshInterval: 10 * time.Minute})
	for range 10 {
		_, err := clk.verify(t, v, key, "u")
		wantKind(t, err, apperr.KindUnavailable, auth.ErrKeySetUnavailable)
	}
	if n := idp.JWKSHits(); n != 1 {
		t.Fatalf("down provider asked %d times within the interval, want 1", n)
	}
	idp.SetDown(false)
	clk.Advance(time.Minute)
	if _, err := clk.verify(t, v, key, "u"); err != nil {
		t.Fatalf("provider back: %v", err)
	}
	idp.SetDown(true)
	clk.Advance(11 * time.Minute) // past the refresh interval: a refetch fails
	if _, err := clk.verify(t, v, key, "u"); err != nil {
		t.Fatalf("cached key during an outage: %v", err)
	}
	if n := idp.JWKSHits(); n != 3 {
		t.Fatalf("fetches = %d, want 3", n)
	}
	// A kid the cache does not know is a bad token, not an outage, once a
	// set is known: otherwise anyone could make the proxy answer 503.
	_, err := clk.verify(t, v, idptest.RSA(t, "other"), "u")
	wantKind(t, err, apperr.KindUnauthenticated, auth.ErrUnknownKeyID)
}

// TestOIDCDiscovery: the key set is found through the issuer's discovery
// document, over TLS; iss is still checked; a document naming another
// issuer is not used.
func TestOIDCDiscovery(t *testing.T) {
	clk := newClock()
	key := idptest.Ed25519(t, "ed")
	idp := idptest.New(t, true, key)
	cfg := auth.JWKSConfig{Issuer: idp.Issuer, Client: idp.Server.Client(), Now: clk.Now, MinRefetchInterval: time.Minute}
	v, err := auth.NewJWTVerifier(auth.JWTConfig{JWKS: &cfg, Issuer: idp.Issuer})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	claims := clk.claims("u")
	claims["iss"] = idp.Issuer
	if _, err := v.VerifyContext(ctx, idptest.Sign(t, key, claims), clk.Now()); err != nil {
		t.Fatal(err)
	}
	claims["iss"] = "https://elsewhere.example"
	_, err = v.VerifyContext(ctx, idptest.Sign(t, key, claims), clk.Now())
	wantKind(t, err, apperr.KindUnauthenticated, jwt.ErrTokenInvalidIssuer)
	if idp.DiscoveryHits() != 1 || idp.JWKSHits() != 1 {
		t.Fatalf("discovery %d, jwks %d requests; want 1 and 1", idp.DiscoveryHits(), idp.JWKSHits())
	}

	liar := idptest.New(t, false, key)
	liar.ClaimIssuer("https://accounts.example.com")
	lv := jwksVerifier(t, clk, auth.JWKSConfig{Issuer: liar.Issuer})
	claims["iss"] = liar.Issuer
	_, err = lv.VerifyContext(ctx, idptest.Sign(t, key, claims), clk.Now())
	wantKind(t, err, apperr.KindUnavailable, auth.ErrKeySetUnavailable)
	if liar.JWKSHits() != 0 {
		t.Fatal("keys fetched from a discovery document for another issuer")
	}
}

// TestJWKSConfigRefused: settings that cannot work are startup errors.
func TestJWKSConfigRefused(t *testing.T) {
	for name, c := range map[string]auth.JWTConfig{
		"no url":           {JWKS: &auth.JWKSConfig{}},
		"url and issuer":   {JWKS: &auth.JWKSConfig{URL: "https://a/keys", Issuer: "https://a"}},
		"plain http":       {JWKS: &auth.JWKSConfig{URL: "http://idp.example.com/keys"}},
		"only HS256":       {JWKS: &auth.JWKSConfig{URL: "https://a/keys"}, Secret: strings.Repeat("x", 40), Algorithms: []string{auth.AlgHS256}},
		"unknown alg":      {JWKS: &auth.JWKSConfig{URL: "https://a/keys"}, Algorithms: []string{"PS256"}},
		"negative refresh": {JWKS: &auth.JWKSConfig{URL: "https://a/keys", RefreshInterval: -time.Second}},
	} {
		if _, err := auth.NewJWTVerifier(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for _, ok := range []string{"https://idp.example.com/keys", "http://127.0.0.1:9000/keys", "http://localhost/keys", "http://[::1]:1/k"} {
		if err := auth.CheckJWKSURL(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}
