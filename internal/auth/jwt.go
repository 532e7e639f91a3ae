package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/principal"
)

// Supported JWT algorithms. Anything else — "none" in particular — is
// refused at configuration time and at verification time.
const (
	AlgHS256 = "HS256"
	AlgRS256 = "RS256"
	AlgES256 = "ES256"
	AlgEdDSA = "EdDSA" // Ed25519 (RFC 8037)
)

const (
	// minHMACSecret follows RFC 7518 §3.2: an HS256 key must be at least
	// as long as the hash output. Shorter secrets are brute-forceable offline
	// from any single token.
	minHMACSecret = 32
	minRSABits    = 2048
)

// ClaimMapping names the JWT claims that become the principal's id, tenant
// and roles. Empty fields take the defaults "sub", "tenant_id", "roles".
//
// A name is first looked up as a top-level claim, because namespaced claims
// such as "https://example.com/roles" legitimately contain dots; only if no
// such claim exists is a dotted name walked through nested objects
// (e.g. "realm_access.roles").
type ClaimMapping struct {
	ID       string `json:"id" yaml:"id"`
	TenantID string `json:"tenant_id" yaml:"tenant_id"`
	Roles    string `json:"roles" yaml:"roles"`
}

// JWTConfig configures a JWTVerifier.
type JWTConfig struct {
	// Secret is the HS256 shared secret, at least 32 bytes.
	Secret string
	// PublicKeyPEM is the RS256 (RSA >= 2048 bits), ES256 (P-256) or EdDSA
	// (Ed25519) public key: PKIX "PUBLIC KEY", PKCS#1 "RSA PUBLIC KEY" or a
	// "CERTIFICATE".
	PublicKeyPEM []byte
	// JWKS takes the RS256 / ES256 / EdDSA keys from an identity provider
	// instead (jwks.go); it excludes PublicKeyPEM.
	JWKS *JWKSConfig
	// Algorithms lists the accepted "alg" values. When empty it is derived
	// from the keys given: HS256 for Secret, RS256, ES256 or EdDSA for the
	// PEM key, all three for JWKS.
	Algorithms []string
	// Issuer and Audience, when set, must match the "iss" and "aud" claims;
	// a token without the claim is then refused.
	Issuer   string
	Audience string
	// Leeway tolerates clock skew on exp, nbf and iat.
	Leeway time.Duration
	Claims ClaimMapping
}

// JWTVerifier checks JWTs and maps their claims to a principal. It is safe
// for concurrent use.
type JWTVerifier struct {
	algs     []string
	hmacKey  []byte
	rsaKey   *rsa.PublicKey
	ecKey    *ecdsa.PublicKey
	edKey    ed25519.PublicKey
	remote   *remoteKeys
	issuer   string
	audience string
	leeway   time.Duration
	claims   ClaimMapping
}

// NewJWTVerifier validates cfg. Every inconsistency is a startup error rather
// than a permissive default: an algorithm without a matching key, a key for an
// algorithm that is not enabled, weak keys, unknown algorithms.
func NewJWTVerifier(cfg JWTConfig) (*JWTVerifier, error) {
	v := &JWTVerifier{
		issuer:   cfg.Issuer,
		audience: cfg.Audience,
		leeway:   cfg.Leeway,
		claims:   cfg.Claims,
	}
	if cfg.Leeway < 0 {
		return nil, errors.New("auth: jwt leeway must not be negative")
	}
	if v.claims.ID == "" {
		v.claims.ID = "sub"
	}
	if v.claims.TenantID == "" {
		v.claims.TenantID = "tenant_id"
	}
	if v.claims.Roles == "" {
		v.claims.Roles = "roles"
	}

	var pub any
	if cfg.JWKS != nil {
		if len(cfg.PublicKeyPEM) > 0 {
			return nil, errors.New("auth: jwt takes its public keys from a PEM key or from a JWKS, not both")
		}
		var err error
		if v.remote, err = newRemoteKeys(*cfg.JWKS); err != nil {
			return nil, err
		}
	}
	if len(cfg.PublicKeyPEM) > 0 {
		var err error
		if pub, err = parsePublicKeyPEM(cfg.PublicKeyPEM); err != nil {
			return nil, err
		}
	}

	algs := cfg.Algorithms
	if len(algs) == 0 {
		if cfg.Secret != "" {
			algs = append(algs, AlgHS256)
		}
		switch pub.(type) {
		case *rsa.PublicKey:
			algs = append(algs, AlgRS256)
		case *ecdsa.PublicKey:
			algs = append(algs, AlgES256)
		case ed25519.PublicKey:
			algs = append(algs, AlgEdDSA)
		}
		if v.remote != nil {
			algs = append(algs, AlgRS256, AlgES256, AlgEdDSA)
		}
		if len(algs) == 0 {
			return nil, errors.New("auth: jwt needs a secret, a public key or a JWKS")
		}
	}

	for _, alg := range algs {
		if slices.Contains(v.algs, alg) {
			continue
		}
		switch alg {
		case AlgHS256:
			if len(cfg.Secret) < minHMACSecret {
				return nil, fmt.Errorf("auth: jwt HS256 needs a secret of at least %d bytes", minHMACSecret)
			}
			v.hmacKey = []byte(cfg.Secret)
		case AlgRS256, AlgES256, AlgEdDSA:
			if v.remote != nil {
				break // keys are checked per key when the set is fetched
			}
			if err := v.setStaticKey(alg, pub); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("auth: jwt algorithm %q is not supported (use HS256, RS256, ES256 or EdDSA)", alg)
		}
		v.algs = append(v.algs, alg)
	}
	// A configured but unused key is almost always a mistake (e.g. RS256
	// meant, HS256 listed); refuse it instead of guessing.
	if cfg.Secret != "" && v.hmacKey == nil {
		return nil, errors.New("auth: jwt secret is set but HS256 is not enabled")
	}
	if pub != nil && v.rsaKey == nil && v.ecKey == nil && v.edKey == nil {
		return nil, errors.New("auth: jwt public key is set but none of RS256, ES256, EdDSA is enabled for it")
	}
	if v.remote != nil && !slices.ContainsFunc(v.algs, func(a string) bool { return a != AlgHS256 }) {
		return nil, errors.New("auth: jwt jwks is set but none of RS256, ES256, EdDSA is enabled")
	}
	return v, nil
}

// setStaticKey checks the PEM key against one asymmetric algorithm.
func (v *JWTVerifier) setStaticKey(alg string, pub any) error {
	switch alg {
	case AlgRS256:
		k, ok := pub.(*rsa.PublicKey)
		if !ok {
			return errors.New("auth: jwt RS256 needs an RSA public key")
		}
		if k.N.BitLen() < minRSABits {
			return fmt.Errorf("auth: jwt RS256 key must be at least %d bits", minRSABits)
		}
		v.rsaKey = k
	case AlgES256:
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok || k.Curve != elliptic.P256() {
			return errors.New("auth: jwt ES256 needs a P-256 ECDSA public key")
		}
		v.ecKey = k
	case AlgEdDSA:
		k, ok := pub.(ed25519.PublicKey)
		if !ok {
			return errors.New("auth: jwt EdDSA needs an Ed25519 public key")
		}
		v.edKey = k
	}
	return nil
}

func parsePublicKeyPEM(data []byte) (any, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, errors.New("auth: jwt public key: no PEM block found")
	}
	if next, _ := pem.Decode(rest); next != nil {
		return nil, errors.New("auth: jwt public key: more than one PEM block")
	}
	switch block.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("auth: jwt public key: %w", err)
		}
		return k, nil
	case "RSA PUBLIC KEY":
		k, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("auth: jwt public key: %w", err)
		}
		return k, nil
	case "CERTIFICATE":
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("auth: jwt public key: %w", err)
		}
		return c.PublicKey, nil
	default:
		// Notably refuses private keys: the proxy only verifies.
		return nil, fmt.Errorf("auth: jwt public key: unexpected PEM type %q (want a public key)", block.Type)
	}
}

// Algorithms returns the accepted "alg" values.
func (v *JWTVerifier) Algorithms() []string { return slices.Clone(v.algs) }

// Verify checks token at time now and returns the principal it carries, with
// Auth "jwt" and KeyID set to the subject. Failures are apperr
// KindUnauthenticated; their Cause is a fixed sentinel (e.g.
// jwt.ErrTokenExpired, ErrClaimType) and never contains token text.
func (v *JWTVerifier) Verify(token string, now time.Time) (*principal.Principal, error) {
	return v.VerifyContext(context.Background(), token, now)
}

// VerifyContext is Verify with a context for fetching a JWKS. When the key
// set cannot be fetched at all the error is KindUnavailable (503), not
// KindUnauthenticated: the token may well be good.
func (v *JWTVerifier) VerifyContext(ctx context.Context, token string, now time.Time) (*principal.Principal, error) {
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(v.algs),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(v.leeway),
		jwt.WithTimeFunc(func() time.Time { return now }),
		// Numbers stay exact (int64 ids above 2^53) and are converted below.
		jwt.WithJSONNumber(),
		// Refuse non-canonical base64, so one signature has one spelling.
		jwt.WithStrictDecoding(),
	}
	if v.issuer != "" {
		opts = append(opts, jwt.WithIssuer(v.issuer))
	}
	if v.audience != "" {
		opts = append(opts, jwt.WithAudience(v.audience))
	}
	claims := jwt.MapClaims{}
	// keyErr keeps the key lookup's own error: the library flattens it
	// into ErrTokenUnverifiable, which would hide an outage.
	var keyErr error
	keyFunc := func(t *jwt.Token) (any, error) {
		k, err := v.key(ctx, t)
		keyErr = err
		return k, err
	}
	tok, err := jwt.NewParser(opts...).ParseWithClaims(token, claims, keyFunc)
	if err != nil {
		var ae *apperr.Error
		if errors.As(keyErr, &ae) {
			return nil, ae
		}
		return nil, unauthenticated(jwtCause(err))
	}
	// RFC 7515 §4.1.11: extensions listed in "crit" must be understood;
	// we understand none.
	if _, ok := tok.Header["crit"]; ok {
		return nil, unauthenticated(ErrUnsupportedHeader)
	}
	if err := checkJWTSegments(token); err != nil {
		if errors.Is(err, ErrDuplicateClaim) {
			return nil, unauthenticated(ErrDuplicateClaim)
		}
		return nil, unauthenticated(jwt.ErrTokenMalformed)
	}
	p, err := v.principal(claims)
	if err != nil {
		return nil, unauthenticated(err)
	}
	// The library converts exp through float64 -> int64, whose overflow is
	// platform dependent (1e300 is "expired" on amd64, "never" on arm64).
	// Refuse out-of-range values explicitly so the outcome is the same
	// everywhere.
	if !validExp(p.Claims["exp"]) {
		return nil, unauthenticated(jwt.ErrTokenInvalidClaims)
	}
	return p, nil
}

// maxExp is 9999-12-31T23:59:59Z, the last second time.Time formats in RFC 3339.
const maxExp = 253402300799

func validExp(v any) bool {
	switch x := v.(type) {
	case int64:
		return x > 0 && x <= maxExp
	case float64:
		return x > 0 && x <= maxExp
	}
	return false
}

// key returns the verification key for the token's algorithm. The key type
// follows the algorithm, never the other way round, so an HS256 token can
// never be checked against the RSA/EC public key (alg confusion): the
// library's HMAC verifier only accepts []byte, and []byte is only ever the
// configured secret.
//
// With a JWKS, the token's "kid" picks the key; a key's type must fit the
// algorithm and a JWK naming an "alg" serves only that one (jwks.go).
func (v *JWTVerifier) key(ctx context.Context, t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	if !slices.Contains(v.algs, alg) {
		return nil, errors.New("algorithm not enabled")
	}
	if v.remote != nil && alg != AlgHS256 {
		if !asymmetricMethod(t.Method) {
			return nil, errors.New("no key for algorithm")
		}
		kid, ok := t.Header["kid"].(string)
		if _, present := t.Header["kid"]; present && (!ok || kid == "") {
			return nil, unauthenticated(jwt.ErrTokenMalformed)
		}
		keys, err := v.remote.lookup(ctx, kid, alg)
		if err != nil {
			return nil, err
		}
		set := jwt.VerificationKeySet{}
		for _, k := range keys {
			set.Keys = append(set.Keys, k)
		}
		return set, nil
	}
	switch alg {
	case AlgHS256:
		if _, ok := t.Method.(*jwt.SigningMethodHMAC); ok && v.hmacKey != nil {
			return v.hmacKey, nil
		}
	case AlgRS256:
		if _, ok := t.Method.(*jwt.SigningMethodRSA); ok && v.rsaKey != nil {
			return v.rsaKey, nil
		}
	case AlgES256:
		if _, ok := t.Method.(*jwt.SigningMethodECDSA); ok && v.ecKey != nil {
			return v.ecKey, nil
		}
	case AlgEdDSA:
		if _, ok := t.Method.(*jwt.SigningMethodEd25519); ok && v.edKey != nil {
			return v.edKey, nil
		}
	}
	return nil, errors.New("no key for algorithm")
}

// asymmetricMethod reports whether the library would check the signature
// with a public key. It is the second lock against alg confusion: a key from
// the set is never handed to an HMAC verifier.
func asymmetricMethod(m jwt.SigningMethod) bool {
	switch m.(type) {
	case *jwt.SigningMethodRSA, *jwt.SigningMethodECDSA, *jwt.SigningMethodEd25519:
		return true
	}
	return false
}

// ErrClaimType is the cause when a mapped claim (id, tenant, roles) has the
// wrong JSON type. Guessing a conversion could turn a token into a principal
// its issuer did not mean.
var ErrClaimType = errors.New("auth: jwt claim has the wrong type")

// ErrUnsupportedHeader is the cause when a JWT declares critical extensions.
var ErrUnsupportedHeader = errors.New("auth: jwt uses unsupported critical header parameters")

func (v *JWTVerifier) principal(raw jwt.MapClaims) (*principal.Principal, error) {
	c, err := principal.NormalizeClaims(map[string]any(raw))
	if err != nil {
		return nil, ErrClaimType
	}
	p := &principal.Principal{Roles: []string{}, Claims: c, Auth: "jwt"}

	if x, ok := lookupClaim(c, v.claims.ID); ok {
		s, ok := x.(string)
		if !ok {
			return nil, fmt.Errorf("%w: %s", ErrClaimType, v.claims.ID)
		}
		p.ID = s
		p.KeyID = s
	}
	// A missing tenant stays "", which principal.Lookup reports as absent so
	// tenant-scoped rules match nothing. Never default it.
	if x, ok := lookupClaim(c, v.claims.TenantID); ok {
		s, ok := x.(string)
		if !ok {
			return nil, fmt.Errorf("%w: %s", ErrClaimType, v.claims.TenantID)
		}
		p.TenantID = s
	}
	if x, ok := lookupClaim(c, v.claims.Roles); ok {
		switch r := x.(type) {
		case string:
			if r == "" {
				return nil, fmt.Errorf("%w: %s", ErrClaimType, v.claims.Roles)
			}
			p.Roles = []string{r}
		case []any:
			for _, e := range r {
				s, ok := e.(string)
				if !ok || s == "" {
					return nil, fmt.Errorf("%w: %s", ErrClaimType, v.claims.Roles)
				}
				p.Roles = append(p.Roles, s)
			}
		default: // null, number, object, bool
			return nil, fmt.Errorf("%w: %s", ErrClaimType, v.claims.Roles)
		}
	}
	return p, nil
}

func lookupClaim(c map[string]any, name string) (any, bool) {
	if v, ok := c[name]; ok {
		return v, true
	}
	if !strings.Contains(name, ".") {
		return nil, false
	}
	var cur any = c
	for _, part := range strings.Split(name, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// jwtCause reduces a jwt library error to one of its fixed sentinels. The
// library's joined messages are not passed on, so nothing derived from the
// token can reach logs.
func jwtCause(err error) error {
	for _, s := range []error{
		jwt.ErrTokenExpired,
		jwt.ErrTokenNotValidYet,
		jwt.ErrTokenUsedBeforeIssued,
		jwt.ErrTokenInvalidIssuer,
		jwt.ErrTokenInvalidAudience,
		jwt.ErrTokenRequiredClaimMissing,
		jwt.ErrTokenSignatureInvalid,
		jwt.ErrTokenUnverifiable,
		jwt.ErrTokenMalformed,
		jwt.ErrTokenInvalidClaims,
	} {
		if errors.Is(err, s) {
			return s
		}
	}
	return jwt.ErrTokenMalformed
}

// unauthenticated builds the one error shape this package returns.
func unauthenticated(cause error) *apperr.Error {
	return apperr.Wrap(apperr.KindUnauthenticated, cause, "invalid credentials")
}
