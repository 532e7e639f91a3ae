package api_test

import (
	"crypto/ed25519"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/api"
	"github.com/permission-mongo/permission-mongo/internal/auth"
	"github.com/permission-mongo/permission-mongo/internal/auth/idptest"
)

// TestJWKSOverHTTP: the proxy takes its token keys from an identity
// provider found by OpenID Connect discovery. After the provider rotates,
// the new kid is served and the old one refused; a provider that is down
// before any key was fetched makes the proxy answer 503, never 500; forged
// and confused tokens are 401.
func TestJWKSOverHTTP(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	advance := func(d time.Duration) { now.Add(int64(d)) }

	keyA, keyB := idptest.RSA(t, "a"), idptest.Ed25519(t, "b")
	idp := idptest.New(t, false, keyA)
	idp.SetDown(true)
	cfg := auth.JWKSConfig{Issuer: idp.Issuer, MinRefetchInterval: time.Minute, Now: clock}
	verifier, err := auth.NewJWTVerifier(auth.JWTConfig{JWKS: &cfg, Issuer: idp.Issuer})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(p *api.Params) { p.Auth = &auth.Authenticator{JWT: verifier, Now: clock} })
	e.insert("employees", bson.D{{Key: "_id", Value: "a"}, {Key: "tenant_id", Value: "t1"}, {Key: "owner", Value: "u1"}})

	token := func(k idptest.Key) string {
		return idptest.Sign(t, k, jwt.MapClaims{"sub": "u1", "tenant_id": "t1", "roles": []string{"employee"},
			"iss": idp.Issuer, "exp": clock().Add(time.Hour).Unix()})
	}
	get := func(tok string) resp {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/collections/employees", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		return e.send(req)
	}

	// Provider down and nothing cached: an outage, not a bad token.
	for range 3 {
		r := get(token(keyA))
		expect(t, r, 503, "UNAVAILABLE")
		if r.Header.Get("WWW-Authenticate") != "" {
			t.Fatal("an outage must not ask the client for other credentials")
		}
	}
	if n := idp.DiscoveryHits(); n != 1 {
		t.Fatalf("a down provider was asked %d times within the interval, want 1", n)
	}

	idp.SetDown(false)
	advance(time.Minute)
	r := get(token(keyA))
	expect(t, r, 200, "")
	if len(r.list(t)) != 1 {
		t.Fatalf("the token's principal must see document a: %s", r.Body)
	}

	idp.Publish(keyB)
	advance(time.Minute)
	expect(t, get(token(keyB)), 200, "")
	r = get(token(keyA))
	expect(t, r, 401, "UNAUTHENTICATED")
	if r.Header.Get("WWW-Authenticate") == "" {
		t.Fatal("401 without WWW-Authenticate")
	}

	// HS256 keyed with the published key's bytes, and alg none.
	pub := keyB.Signer.Public().(ed25519.PublicKey)
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "u1", "tenant_id": "t1", "iss": idp.Issuer, "exp": clock().Add(time.Hour).Unix()})
	hs.Header["kid"] = "b"
	confused, err := hs.SignedString([]byte(pub))
	if err != nil {
		t.Fatal(err)
	}
	none := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "u1", "tenant_id": "t1", "iss": idp.Issuer, "exp": clock().Add(time.Hour).Unix()})
	none.Header["kid"] = "b"
	unsigned, err := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"hs256 with public key": confused, "alg none": unsigned} {
		r := get(tok)
		expect(t, r, 401, "UNAUTHENTICATED")
		if r.has(tok) {
			t.Fatalf("%s: token echoed", name)
		}
	}
}
