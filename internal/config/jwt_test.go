package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestJWKSConfig: a key-set URL alone turns JWT on with the asymmetric
// algorithms; settings that cannot work are named.
func TestJWKSConfig(t *testing.T) {
	c, err := loadText(t, "auth:\n  jwt:\n    jwks_url: https://idp.example.com/keys\n    jwks_min_refetch_interval: 1m\n")
	if err != nil {
		t.Fatal(err)
	}
	if !c.Auth.JWT.Enabled() || !slices.Equal(c.Auth.JWT.Algorithms, []string{"RS256", "ES256", "EdDSA"}) {
		t.Fatalf("derived: %+v", c.Auth.JWT)
	}
	jc, err := c.Auth.JWT.VerifierConfig(nil)
	if err != nil || jc.JWKS == nil || jc.JWKS.URL != "https://idp.example.com/keys" || jc.JWKS.MinRefetchInterval != time.Minute ||
		jc.JWKS.RefreshInterval != time.Hour || jc.JWKS.FetchTimeout != 5*time.Second || jc.JWKS.Issuer != "" {
		t.Fatalf("verifier config: %+v %v", jc.JWKS, err)
	}

	c, err = loadText(t, "auth:\n  jwt:\n    jwks_url: https://idp.example.com/keys\n    secret: 0123456789abcdef0123456789abcdef0123\n")
	if err != nil || !slices.Equal(c.Auth.JWT.Algorithms, []string{"HS256", "RS256", "ES256", "EdDSA"}) {
		t.Fatalf("secret and key set: %v %v", err, c.Auth.JWT.Algorithms)
	}

	c, err = loadText(t, "auth:\n  jwt:\n    issuer: https://login.example.com/realms/x\n    oidc_discovery: true\n    algorithms: [RS256]\n")
	if err != nil {
		t.Fatal(err)
	}
	jc, _ = c.Auth.JWT.VerifierConfig(nil)
	if jc.JWKS == nil || jc.JWKS.Issuer != "https://login.example.com/realms/x" || jc.JWKS.URL != "" || !slices.Equal(jc.Algorithms, []string{"RS256"}) {
		t.Fatalf("discovery: %+v", jc)
	}

	for text, want := range map[string]string{
		"auth: {jwt: {jwks_url: http://idp.example.com/keys}}":                             "auth.jwt.jwks_url: must use https",
		"auth: {jwt: {oidc_discovery: true}}":                                              "auth.jwt.oidc_discovery: needs auth.jwt.issuer",
		"auth: {jwt: {jwks_url: https://a/k, oidc_discovery: true, issuer: https://a}}":    "cannot be combined with auth.jwt.oidc_discovery",
		"auth: {jwt: {jwks_url: https://a/k, public_key_file: c.yml}}":                     "auth.jwt.public_key_file: cannot be combined",
		"auth: {jwt: {jwks_url: https://a/k, algorithms: [HS256]}}":                        "has none of RS256, ES256, EdDSA",
		"auth: {jwt: {jwks_url: https://a/k, jwks_min_refetch_interval: 2h}}":              "auth.jwt.jwks_refresh_interval: must be at least",
		"auth: {jwt: {jwks_url: https://a/k, jwks_fetch_timeout: 0s}}":                     "auth.jwt.jwks_fetch_timeout: must be positive",
		"auth: {jwt: {algorithms: [EdDSA], secret: 0123456789abcdef0123456789abcdef0123}}": "auth.jwt.public_key_file: is required",
	} {
		_, err := loadText(t, text+"\n")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", text, err, want)
		}
	}
}
