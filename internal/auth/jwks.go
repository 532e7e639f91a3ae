package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
)

// JWKSConfig makes a JWTVerifier take its RS256 / ES256 / EdDSA keys from an
// identity provider's JSON Web Key Set instead of a fixed PEM file.
//
// Exactly one of URL and Issuer is set. With Issuer the set's address is
// found by OpenID Connect discovery: Issuer + "/.well-known/openid-configuration"
// names it in "jwks_uri", and the document's "issuer" must equal Issuer.
type JWKSConfig struct {
	URL    string
	Issuer string
	// RefreshInterval is how long a fetched set is used before the next
	// token refetches it (default 1h). A failed refresh keeps the old set.
	RefreshInterval time.Duration
	// MinRefetchInterval is the least time between two fetches, whatever
	// the reason (default 30s). It is what keeps a stream of tokens with
	// made-up "kid"s from turning the proxy into a load generator against
	// the identity provider.
	MinRefetchInterval time.Duration
	// FetchTimeout bounds one discovery or key-set request (default 5s).
	FetchTimeout time.Duration
	// Client does the requests; nil means a client without cookies or
	// redirects to other schemes, http.DefaultTransport underneath.
	Client *http.Client
	// Now is the clock for the intervals; nil means time.Now.
	Now func() time.Time
	// Logger receives a warning for each failed fetch; nil discards them.
	Logger *slog.Logger
}

// Defaults of JWKSConfig.
const (
	DefaultJWKSRefreshInterval    = time.Hour
	DefaultJWKSMinRefetchInterval = 30 * time.Second
	DefaultJWKSFetchTimeout       = 5 * time.Second
	// maxJWKSBytes bounds a discovery document or key set; real ones are a
	// few KB.
	maxJWKSBytes = 1 << 20
	// maxJWKSKeys bounds how many keys a token without "kid" is tried against.
	maxJWKSKeys = 100
)

// Causes for key-set failures; see the package doc on causes.
var (
	// ErrUnknownKeyID: the token's "kid" is not in the identity provider's
	// set, even after a refetch (or the refetch was rate limited).
	ErrUnknownKeyID = errors.New("auth: jwt kid is not in the key set")
	// ErrKeySetUnavailable: no key set could be fetched yet. This is an
	// outage, not a bad token, and maps to 503.
	ErrKeySetUnavailable = errors.New("auth: jwt key set could not be fetched")
)

// CheckJWKSURL refuses addresses from which keys must not be taken: only
// https, or http to a loopback address (a provider on the same machine, or a
// test). Exported so that configuration validation says the same.
func CheckJWKSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" {
		return errors.New("is not an absolute URL")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if host == "localhost" {
			return nil
		}
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			return nil
		}
		return errors.New("must use https (plain http only to a loopback address)")
	default:
		return errors.New("must use https")
	}
}

// verificationKey is one usable key of the set.
type verificationKey struct {
	kid string
	alg string // the JWK's "alg"; "" allows any algorithm fitting the key type
	key any    // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
}

// remoteKeys caches an identity provider's key set. Lookups that miss, and
// lookups after RefreshInterval, refetch it, at most once per
// MinRefetchInterval; concurrent lookups share one fetch.
type remoteKeys struct {
	cfg JWKSConfig

	mu          sync.Mutex
	keys        []verificationKey
	loaded      bool      // keys holds a successfully fetched set
	fetchedAt   time.Time // of the set in keys
	lastAttempt time.Time // of the last fetch, successful or not
	inflight    chan struct{}
	jwksURL     string // URL, or the one discovery found

	fetches int // completed fetch attempts, for tests
}

func newRemoteKeys(cfg JWKSConfig) (*remoteKeys, error) {
	if (cfg.URL == "") == (cfg.Issuer == "") {
		return nil, errors.New("auth: jwks needs exactly one of a URL and an issuer for discovery")
	}
	for _, u := range []string{cfg.URL, cfg.Issuer} {
		if u == "" {
			continue
		}
		if err := CheckJWKSURL(u); err != nil {
			return nil, fmt.Errorf("auth: jwks %q %w", u, err)
		}
	}
	if cfg.RefreshInterval < 0 || cfg.MinRefetchInterval < 0 || cfg.FetchTimeout < 0 {
		return nil, errors.New("auth: jwks intervals must not be negative")
	}
	if cfg.RefreshInterval == 0 {
		cfg.RefreshInterval = DefaultJWKSRefreshInterval
	}
	if cfg.MinRefetchInterval == 0 {
		cfg.MinRefetchInterval = DefaultJWKSMinRefetchInterval
	}
	if cfg.FetchTimeout == 0 {
		cfg.FetchTimeout = DefaultJWKSFetchTimeout
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 {
				return errors.New("too many redirects")
			}
			return CheckJWKSURL(req.URL.String())
		}}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &remoteKeys{cfg: cfg, jwksURL: cfg.URL}, nil
}

// lookup returns the keys a token with this kid ("" when absent) and alg may
// be verified with. Errors are apperr: KindUnavailable when no set was ever
// fetched, KindUnauthenticated when the set has no such key.
func (r *remoteKeys) lookup(ctx context.Context, kid, alg string) ([]any, error) {
	r.mu.Lock()
	fetched := false
	for {
		now := r.cfg.Now()
		found := r.match(kid, alg)
		stale := !r.loaded || now.Sub(r.fetchedAt) >= r.cfg.RefreshInterval
		if (len(found) > 0 && !stale) || fetched {
			r.mu.Unlock()
			return r.result(found)
		}
		if r.inflight != nil {
			// Someone is fetching: wait for that result instead of
			// starting another request.
			ch := r.inflight
			r.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				return nil, apperr.Wrap(apperr.KindUnavailable, ErrKeySetUnavailable, "authentication temporarily unavailable")
			}
			r.mu.Lock()
			fetched = true
			continue
		}
		if !r.lastAttempt.IsZero() && now.Sub(r.lastAttempt) < r.cfg.MinRefetchInterval {
			r.mu.Unlock()
			return r.result(found) // rate limited: answer from what we have
		}
		r.lastAttempt = now
		ch := make(chan struct{})
		r.inflight = ch
		r.mu.Unlock()

		// The fetch outlives a caller that gives up: its result serves
		// everyone waiting, and the attempt was already counted.
		keys, url, err := r.fetch(context.WithoutCancel(ctx))

		r.mu.Lock()
		r.fetches++
		if url != "" {
			r.jwksURL = url
		}
		if err == nil {
			r.keys, r.loaded, r.fetchedAt = keys, true, r.cfg.Now()
		} else {
			// The error names the URL and the status, never a token.
			r.cfg.Logger.Warn("jwt key set fetch failed; keeping the previous set", "error", err, "have_keys", r.loaded)
		}
		r.inflight = nil
		close(ch)
		fetched = true
	}
}

// result turns a match into lookup's answer. Called without r.mu held; it
// reads r.loaded under the lock again.
func (r *remoteKeys) result(found []any) ([]any, error) {
	if len(found) > 0 {
		return found, nil
	}
	r.mu.Lock()
	loaded := r.loaded
	r.mu.Unlock()
	if !loaded {
		return nil, apperr.Wrap(apperr.KindUnavailable, ErrKeySetUnavailable, "authentication temporarily unavailable")
	}
	return nil, unauthenticated(ErrUnknownKeyID)
}

// match returns the keys of the current set usable for kid and alg. The
// key's type must fit alg whatever the JWK says, and a JWK that names an
// "alg" is only used for that one.
func (r *remoteKeys) match(kid, alg string) []any {
	var out []any
	for _, k := range r.keys {
		if kid != "" && k.kid != kid {
			continue
		}
		if k.alg != "" && k.alg != alg {
			continue
		}
		if keyFitsAlg(k.key, alg) {
			out = append(out, k.key)
		}
	}
	return out
}

func keyFitsAlg(key any, alg string) bool {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return alg == AlgRS256 && k.N.BitLen() >= minRSABits
	case *ecdsa.PublicKey:
		return alg == AlgES256 && k.Curve == elliptic.P256()
	case ed25519.PublicKey:
		return alg == AlgEdDSA && len(k) == ed25519.PublicKeySize
	}
	return false
}

// fetch discovers the set's URL when needed and downloads the set. It
// returns the URL it used so that discovery happens once.
func (r *remoteKeys) fetch(ctx context.Context) ([]verificationKey, string, error) {
	r.mu.Lock()
	setURL := r.jwksURL
	r.mu.Unlock()
	if setURL == "" {
		var err error
		if setURL, err = r.discover(ctx); err != nil {
			return nil, "", err
		}
	}
	body, err := r.get(ctx, setURL)
	if err != nil {
		return nil, setURL, err
	}
	keys, err := parseKeySet(body)
	return keys, setURL, err
}

func (r *remoteKeys) discover(ctx context.Context) (string, error) {
	body, err := r.get(ctx, strings.TrimSuffix(r.cfg.Issuer, "/")+"/.well-known/openid-configuration")
	if err != nil {
		return "", err
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("auth: openid configuration: %w", err)
	}
	// OpenID Connect Discovery §4.3: a document for another issuer must not
	// be used, or one provider could hand out keys for another.
	if doc.Issuer != r.cfg.Issuer {
		return "", errors.New("auth: openid configuration names another issuer")
	}
	if err := CheckJWKSURL(doc.JWKSURI); err != nil {
		return "", fmt.Errorf("auth: openid configuration jwks_uri %w", err)
	}
	return doc.JWKSURI, nil
}

func (r *remoteKeys) get(ctx context.Context, u string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := r.cfg.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("auth: GET %s: status %d", u, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("auth: GET %s: more than %d bytes", u, maxJWKSBytes)
	}
	return body, nil
}

// parseKeySet keeps the signature keys of a JWK set as public keys. Keys
// the proxy cannot use (symmetric "oct" keys above all, which must never
// become HMAC secrets; encryption keys; unknown types) are left out rather
// than failing the set, so one odd key does not lock everyone out.
func parseKeySet(body []byte) ([]verificationKey, error) {
	set, err := jwk.Parse(body, jwk.WithIgnoreParseError(true))
	if err != nil {
		return nil, fmt.Errorf("auth: jwks: %w", err)
	}
	var out []verificationKey
	for i := range set.Len() {
		k, _ := set.Key(i)
		if use, ok := k.KeyUsage(); ok && use != "sig" {
			continue
		}
		pub, err := k.PublicKey()
		if err != nil {
			continue
		}
		var raw any
		if err := jwk.Export(pub, &raw); err != nil {
			continue
		}
		vk := verificationKey{key: raw}
		vk.kid, _ = k.KeyID()
		if a, ok := k.Algorithm(); ok {
			vk.alg = a.String()
		}
		switch raw.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
			out = append(out, vk)
		}
		if len(out) == maxJWKSKeys {
			break
		}
	}
	if len(out) == 0 {
		return nil, errors.New("auth: jwks holds no usable signature key")
	}
	return out, nil
}

// JWKSFetches reports how many key-set fetches were attempted, for tests
// and metrics.
func (v *JWTVerifier) JWKSFetches() int {
	if v.remote == nil {
		return 0
	}
	v.remote.mu.Lock()
	defer v.remote.mu.Unlock()
	return v.remote.fetches
}
