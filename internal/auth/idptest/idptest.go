// Package idptest runs a small identity provider for tests: a real HTTP
// server answering OpenID Connect discovery and a JSON Web Key Set, whose
// keys a test rotates and which it can take down, counting every request.
// It signs tokens with the private halves of the keys it publishes.
package idptest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

// Key is a signing key with its id and algorithm.
type Key struct {
	Kid    string
	Alg    string // RS256, ES256 or EdDSA
	Signer crypto.Signer
	// OmitAlg leaves "alg" out of the published JWK, as many providers do.
	OmitAlg bool
}

// RSA, EC and Ed25519 make fresh keys.
func RSA(t testing.TB, kid string) Key {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return Key{Kid: kid, Alg: "RS256", Signer: k}
}

func EC(t testing.TB, kid string) Key {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return Key{Kid: kid, Alg: "ES256", Signer: k}
}

func Ed25519(t testing.TB, kid string) Key {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return Key{Kid: kid, Alg: "EdDSA", Signer: k}
}

// IdP is the running provider. Its issuer is the server's URL.
type IdP struct {
	Server *httptest.Server
	Issuer string

	mu    sync.Mutex
	keys  []Key
	extra []map[string]any // raw JWKs published as they are
	// DiscoveryIssuer, when set, is the "issuer" the discovery document
	// claims instead of the real one.
	discoveryIssuer string

	down          atomic.Bool
	jwksHits      atomic.Int64
	discoveryHits atomic.Int64
}

// New starts a provider publishing keys; tls picks https (then use
// Server.Client(), which trusts it).
func New(t testing.TB, tls bool, keys ...Key) *IdP {
	t.Helper()
	p := &IdP{keys: keys}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		p.discoveryHits.Add(1)
		if p.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		p.mu.Lock()
		iss := p.Issuer
		if p.discoveryIssuer != "" {
			iss = p.discoveryIssuer
		}
		p.mu.Unlock()
		writeJSON(w, map[string]any{"issuer": iss, "jwks_uri": p.Issuer + "/keys"})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		p.jwksHits.Add(1)
		if p.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		set, err := p.jwks()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, set)
	})
	if tls {
		p.Server = httptest.NewTLSServer(mux)
	} else {
		p.Server = httptest.NewServer(mux)
	}
	p.Issuer = p.Server.URL
	t.Cleanup(p.Server.Close)
	return p
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// JWKSURL is the key set's address.
func (p *IdP) JWKSURL() string { return p.Issuer + "/keys" }

// Publish replaces the published keys: a rotation.
func (p *IdP) Publish(keys ...Key) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = keys
}

// PublishRaw adds JWKs published exactly as given, next to the keys.
func (p *IdP) PublishRaw(jwks ...map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.extra = jwks
}

// ClaimIssuer makes discovery claim another issuer.
func (p *IdP) ClaimIssuer(iss string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.discoveryIssuer = iss
}

// SetDown makes every endpoint answer 503 (true) or work again (false).
func (p *IdP) SetDown(down bool) { p.down.Store(down) }

// JWKSHits and DiscoveryHits count requests, answered or not.
func (p *IdP) JWKSHits() int64      { return p.jwksHits.Load() }
func (p *IdP) DiscoveryHits() int64 { return p.discoveryHits.Load() }

func (p *IdP) jwks() (map[string]any, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := []any{}
	for _, k := range p.keys {
		pub, err := jwk.Import(k.Signer.Public())
		if err != nil {
			return nil, err
		}
		if err := pub.Set(jwk.KeyIDKey, k.Kid); err != nil {
			return nil, err
		}
		if !k.OmitAlg {
			if err := pub.Set("alg", k.Alg); err != nil {
				return nil, err
			}
		}
		if err := pub.Set(jwk.KeyUsageKey, "sig"); err != nil {
			return nil, err
		}
		out = append(out, pub)
	}
	for _, e := range p.extra {
		out = append(out, e)
	}
	return map[string]any{"keys": out}, nil
}

// Sign makes a token signed by k with kid k.Kid in its header.
func Sign(t testing.TB, k Key, claims jwt.MapClaims) string {
	t.Helper()
	var m jwt.SigningMethod
	switch k.Alg {
	case "RS256":
		m = jwt.SigningMethodRS256
	case "ES256":
		m = jwt.SigningMethodES256
	case "EdDSA":
		m = jwt.SigningMethodEdDSA
	default:
		t.Fatalf("idptest: unknown alg %q", k.Alg)
	}
	tok := jwt.NewWithClaims(m, claims)
	if k.Kid != "" {
		tok.Header["kid"] = k.Kid
	}
	s, err := tok.SignedString(k.Signer)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
