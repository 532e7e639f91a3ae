package config

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/permission-mongo/permission-mongo/internal/auth"
)

// jwksAlgorithms is what auth.jwt.algorithms becomes when keys come from an
// identity provider and the list was not set (HS256 first when a secret is
// set too): the default HS256 alone would need a secret such deployments do
// not have.
var jwksAlgorithms = []string{"RS256", "ES256", "EdDSA"}

// deriveDefaults fills defaults that depend on other keys. Load calls it
// before validating.
func (c *Config) deriveDefaults() {
	j := &c.Auth.JWT
	if j.RemoteKeys() && c.Origin("auth.jwt.algorithms") == "" {
		j.Algorithms = append([]string(nil), jwksAlgorithms...)
		if j.Secret != "" {
			j.Algorithms = append([]string{"HS256"}, j.Algorithms...)
		}
	}
}

func (c *Config) jwksProblems(bad func(path, format string, args ...any), asymmetric bool) {
	j := c.Auth.JWT
	if j.JWKSURL != "" && j.OIDCDiscovery {
		bad("auth.jwt.jwks_url", "cannot be combined with auth.jwt.oidc_discovery; set one")
	}
	if j.JWKSURL != "" {
		if err := auth.CheckJWKSURL(j.JWKSURL); err != nil {
			bad("auth.jwt.jwks_url", "%v", err)
		}
	}
	if j.OIDCDiscovery {
		if j.Issuer == "" {
			bad("auth.jwt.oidc_discovery", "needs auth.jwt.issuer: discovery reads <issuer>/.well-known/openid-configuration")
		} else if err := auth.CheckJWKSURL(j.Issuer); err != nil {
			bad("auth.jwt.issuer", "is used for discovery and %v", err)
		}
	}
	if j.RemoteKeys() && !asymmetric {
		bad("auth.jwt.algorithms", "has none of RS256, ES256, EdDSA, so no key from the key set could be used")
	}
	if j.JWKSMinRefetchInterval <= 0 {
		bad("auth.jwt.jwks_min_refetch_interval", "must be positive, e.g. 30s")
	}
	if j.JWKSRefreshInterval < j.JWKSMinRefetchInterval {
		bad("auth.jwt.jwks_refresh_interval", "must be at least auth.jwt.jwks_min_refetch_interval")
	}
	if j.JWKSFetchTimeout <= 0 {
		bad("auth.jwt.jwks_fetch_timeout", "must be positive, e.g. 5s")
	}
}

// VerifierConfig is the auth form of the jwt section, reading the public
// key file when one is set. Both pm serve and the server's composition root
// build the verifier from it, so the two cannot drift.
func (j JWT) VerifierConfig(logger *slog.Logger) (auth.JWTConfig, error) {
	jc := auth.JWTConfig{
		Secret:     j.Secret,
		Algorithms: j.Algorithms,
		Issuer:     j.Issuer,
		Audience:   j.Audience,
		Claims:     auth.ClaimMapping{ID: j.Claims.ID, TenantID: j.Claims.TenantID, Roles: j.Claims.Roles},
	}
	if j.PublicKeyFile != "" {
		var err error
		if jc.PublicKeyPEM, err = os.ReadFile(j.PublicKeyFile); err != nil {
			return jc, fmt.Errorf("auth.jwt.public_key_file: %w", err)
		}
	}
	if j.RemoteKeys() {
		jc.JWKS = &auth.JWKSConfig{
			URL:                j.JWKSURL,
			RefreshInterval:    j.JWKSRefreshInterval,
			MinRefetchInterval: j.JWKSMinRefetchInterval,
			FetchTimeout:       j.JWKSFetchTimeout,
			Logger:             logger,
		}
		if j.OIDCDiscovery {
			jc.JWKS.Issuer = j.Issuer
		}
	}
	return jc, nil
}
