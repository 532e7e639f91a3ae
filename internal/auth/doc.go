// Package auth turns the credential a request presents into a
// principal.Principal, or refuses it.
//
// Two kinds of credential are understood:
//
//   - API keys of the form pm_<key-id>_<secret>, looked up by id in a
//     KeyStore that holds only a SHA-256 of the secret;
//   - JWTs (HS256, RS256, ES256, EdDSA) verified by a JWTVerifier against
//     exactly the algorithms and keys that were configured: a secret, a PEM
//     public key, or an identity provider's JWKS found by URL or by OpenID
//     Connect discovery (jwks.go).
//
// The package knows nothing about HTTP: the api layer hands the raw
// Authorization and X-API-Key header values to Authenticator.Authenticate.
//
// Every failure is an *apperr.Error of kind KindUnauthenticated with a short,
// fixed message. The presented credential is never part of any error text —
// neither the client-visible Message nor the logged Cause — because error
// text ends up in logs and audit records (ARCHITECTURE.md, security rule 16). Causes
// are fixed sentinel errors (ErrKeyRevoked, jwt.ErrTokenExpired, ...) so that
// logs and metrics can still say why a request was refused.
package auth
