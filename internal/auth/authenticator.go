package auth

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/principal"
)

// Causes attached to KindUnauthenticated errors. They are for logs and
// metrics; the client only ever sees the error's generic Message.
var (
	// ErrNoCredentials: neither header carried a credential. The api layer
	// may test for it (errors.Is) on endpoints that allow anonymous access.
	ErrNoCredentials = errors.New("auth: no credentials")
	// ErrAmbiguousCredentials: both Authorization and X-API-Key were sent.
	ErrAmbiguousCredentials = errors.New("auth: both Authorization and X-API-Key present")
	// ErrMalformedCredential: not "Bearer <token>", or absurdly long.
	ErrMalformedCredential = errors.New("auth: malformed credential")
	// ErrKeyRevoked: the key record has RevokedAt set.
	ErrKeyRevoked = errors.New("auth: api key revoked")
	// ErrKeyExpired: the key record's ExpiresAt is not after now.
	ErrKeyExpired = errors.New("auth: api key expired")
	// ErrWrongSecret: the key id exists but the secret does not hash to it.
	ErrWrongSecret = errors.New("auth: api key secret does not match")
	// ErrJWTNotConfigured: a non-key bearer token arrived but no JWTVerifier is set.
	ErrJWTNotConfigured = errors.New("auth: bearer token is not an api key and jwt is not configured")
	// ErrKeysNotConfigured: an API key arrived but no KeyStore is set.
	ErrKeysNotConfigured = errors.New("auth: api keys are not configured")
)

// maxCredentialLen bounds the work done on a credential before it is
// rejected. Real keys are ~75 bytes and real JWTs a few KB at most.
const maxCredentialLen = 8 << 10

// Authenticator resolves request credentials to a principal. The zero value
// refuses everything; set Keys and/or JWT to enable each kind.
type Authenticator struct {
	Keys KeyStore
	JWT  *JWTVerifier
	// Now is the clock for key and token expiry; nil means time.Now.
	Now func() time.Time
}

// Authenticate takes the raw Authorization and X-API-Key header values
// ("" when absent) and returns the caller.
//
// Routing:
//   - exactly one of the two headers may be present; both present is refused
//     (ErrAmbiguousCredentials) instead of picking one, so that a proxy or
//     client library adding a second credential can never silently change
//     who the request runs as;
//   - X-API-Key must hold a pm_ key;
//   - Authorization must be "Bearer <token>" (scheme case-insensitive); a
//     token starting with "pm_" is an API key, anything else a JWT.
//
// Every failure is apperr KindUnauthenticated, except a key store that
// cannot answer, which is KindUnavailable: an outage is not a bad credential.
func (a *Authenticator) Authenticate(ctx context.Context, authorizationHeader, apiKeyHeader string) (*principal.Principal, error) {
	authz := strings.TrimSpace(authorizationHeader)
	apiKey := strings.TrimSpace(apiKeyHeader)
	switch {
	case authz == "" && apiKey == "":
		return nil, apperr.Wrap(apperr.KindUnauthenticated, ErrNoCredentials, "missing credentials")
	case authz != "" && apiKey != "":
		return nil, apperr.Wrap(apperr.KindUnauthenticated, ErrAmbiguousCredentials, "send one credential, not both")
	case len(authz) > maxCredentialLen || len(apiKey) > maxCredentialLen:
		return nil, unauthenticated(ErrMalformedCredential)
	case apiKey != "":
		return a.authenticateKey(ctx, apiKey)
	}

	scheme, token, ok := strings.Cut(authz, " ")
	token = strings.TrimLeft(token, " \t")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || strings.ContainsAny(token, " \t\r\n") {
		return nil, unauthenticated(ErrMalformedCredential)
	}
	if strings.HasPrefix(token, KeyPrefix) {
		return a.authenticateKey(ctx, token)
	}
	if a.JWT == nil {
		return nil, unauthenticated(ErrJWTNotConfigured)
	}
	return a.JWT.VerifyContext(ctx, token, a.now())
}

func (a *Authenticator) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Authenticator) authenticateKey(ctx context.Context, key string) (*principal.Principal, error) {
	id, secret, err := ParseKey(key)
	if err != nil {
		return nil, unauthenticated(ErrMalformedKey)
	}
	if a.Keys == nil {
		return nil, unauthenticated(ErrKeysNotConfigured)
	}
	// Only the id goes to the store; the secret never leaves this function.
	rec, err := a.Keys.Get(ctx, id)
	if errors.Is(err, ErrKeyNotFound) || (err == nil && rec == nil) {
		return nil, unauthenticated(ErrKeyNotFound)
	}
	if err != nil {
		return nil, apperr.Wrap(apperr.KindUnavailable, err, "authentication temporarily unavailable")
	}
	// Defence in depth against a store that answers for the wrong id.
	if rec.ID != id {
		return nil, unauthenticated(ErrKeyNotFound)
	}
	// The secret is checked before revocation and expiry so that a request
	// with a known id but a guessed secret is always logged as a wrong
	// secret, never as "revoked" or "expired" — the key's state is only
	// ever attributed to someone who holds the key.
	//
	// An unknown id returns before any hashing and is therefore slightly
	// faster. That reveals only whether an id exists, and ids are not
	// secret (they appear in audit records); the secret comparison itself
	// is constant-time.
	if !SecretMatches(secret, rec.SecretSHA256) {
		return nil, unauthenticated(ErrWrongSecret)
	}
	// Any RevokedAt counts, even one slightly in the future: a revoking
	// replica's clock may run ahead, and revocation must take effect now.
	if rec.RevokedAt != nil {
		return nil, unauthenticated(ErrKeyRevoked)
	}
	if rec.ExpiresAt != nil && !a.now().Before(*rec.ExpiresAt) {
		return nil, unauthenticated(ErrKeyExpired)
	}
	p := clonePrincipal(rec.Principal)
	p.Auth = "api_key"
	p.KeyID = rec.ID
	return &p, nil
}
