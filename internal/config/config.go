// Package config holds the server's configuration: the YAML file, the
// environment variables that override it, the defaults, and Validate, which
// lists every problem at once so that a deployment is fixed in one round.
//
// Environment overrides follow one rule: PM_ followed by the key's path in
// the file, upper-cased, with "." and nesting written as "_". So listen is
// PM_LISTEN, mongodb.uri is PM_MONGODB_URI, limits.query_timeout is
// PM_LIMITS_QUERY_TIMEOUT and auth.jwt.secret is PM_AUTH_JWT_SECRET. Lists of
// strings are comma-separated (PM_AUTH_JWT_ALGORITHMS=HS256,RS256); lists of
// objects (auth.api_keys) and maps have no variable. One alias exists because
// it is what people type: PM_JWT_SECRET for auth.jwt.secret (setting both is
// an error). A variable wins over the file.
package config

import (
	"time"

	"github.com/permission-mongo/permission-mongo/internal/principal"
)

// EmbeddedURI is the mongodb.uri value that starts the in-process FerretDB.
const EmbeddedURI = "embedded"

// Config is the whole server configuration.
type Config struct {
	// Listen is the HTTP address, host:port.
	Listen string `yaml:"listen"`
	// Server holds the listener's TLS settings (tls.go).
	Server  Server  `yaml:"server"`
	MongoDB MongoDB `yaml:"mongodb"`
	// Policies is a policy file or a folder of them.
	Policies string `yaml:"policies"`
	Auth     Auth   `yaml:"auth"`
	// CursorSecret is the HMAC key that signs pagination cursors. When empty a
	// random one is generated at start (CursorSecretGenerated is then true):
	// cursors then stop working across restarts, and several proxies behind
	// one load balancer must share one configured secret, or a cursor issued
	// by one is rejected by the others.
	CursorSecret string   `yaml:"cursor_secret"`
	Limits       Limits   `yaml:"limits"`
	Redis        Redis    `yaml:"redis"`
	Log          Log      `yaml:"log"`
	Audit        Audit    `yaml:"audit"`
	Versions     Versions `yaml:"versions"`
	// RateLimits are checked on every authenticated request (ratelimit.go).
	RateLimits []RateLimit `yaml:"rate_limits"`
	// CORS and AccessLog: http.go.
	CORS      CORS      `yaml:"cors"`
	AccessLog AccessLog `yaml:"access_log"`
	// Webhooks: delivery and cleanup of the outbox (webhooks.go).
	Webhooks Webhooks `yaml:"webhooks"`

	// CursorSecretGenerated reports that Load generated CursorSecret.
	CursorSecretGenerated bool `yaml:"-"`

	// origin maps a key path to where its value was set ("config.yaml:12" or
	// "env PM_LISTEN"), so that problems say where to fix them.
	origin map[string]string
}

// MongoDB says which server to use.
type MongoDB struct {
	// URI is EmbeddedURI or a mongodb:// / mongodb+srv:// URI.
	URI string `yaml:"uri"`
	// Database is the database holding the application's collections.
	Database string `yaml:"database"`
	// EmbeddedDir is where the embedded FerretDB keeps its SQLite files.
	EmbeddedDir string `yaml:"embedded_dir"`
}

// Embedded reports whether the in-process FerretDB is to be started.
func (m MongoDB) Embedded() bool { return m.URI == EmbeddedURI }

// Auth configures how callers authenticate.
type Auth struct {
	JWT     JWT      `yaml:"jwt"`
	APIKeys []APIKey `yaml:"api_keys"`
	// KeyCacheTTL is how long an API key lookup is reused (0: no cache).
	// With Redis, revocations reach every proxy at once; without it, a
	// revoked key stays usable on other proxies for at most this long.
	KeyCacheTTL time.Duration `yaml:"key_cache_ttl"`
	// KeyCacheSize bounds the keys cached per process.
	KeyCacheSize int `yaml:"key_cache_size"`
}

// JWT configures bearer tokens. JWT is off unless Secret, PublicKeyFile,
// JWKSURL or OIDCDiscovery is set.
type JWT struct {
	// Secret is the HS256 shared secret.
	Secret string `yaml:"secret"`
	// Issuer and Audience are checked when set.
	Issuer   string `yaml:"issuer"`
	Audience string `yaml:"audience"`
	// PublicKeyFile is a PEM public key for RS256 / ES256 / EdDSA.
	PublicKeyFile string `yaml:"public_key_file"`
	// JWKSURL is an identity provider's JSON Web Key Set; OIDCDiscovery
	// finds it from Issuer instead (jwt.go).
	JWKSURL       string `yaml:"jwks_url"`
	OIDCDiscovery bool   `yaml:"oidc_discovery"`
	// JWKSRefreshInterval, JWKSMinRefetchInterval and JWKSFetchTimeout
	// tune how the key set is cached and fetched.
	JWKSRefreshInterval    time.Duration `yaml:"jwks_refresh_interval"`
	JWKSMinRefetchInterval time.Duration `yaml:"jwks_min_refetch_interval"`
	JWKSFetchTimeout       time.Duration `yaml:"jwks_fetch_timeout"`
	// Algorithms accepted; a token signed otherwise is rejected, which is
	// what stops algorithm-confusion attacks.
	Algorithms []string `yaml:"algorithms"`
	Claims     Claims   `yaml:"claims"`
}

// Enabled reports whether JWTs are accepted at all.
func (j JWT) Enabled() bool {
	return j.Secret != "" || j.PublicKeyFile != "" || j.RemoteKeys()
}

// RemoteKeys reports whether the public keys come from an identity provider.
func (j JWT) RemoteKeys() bool { return j.JWKSURL != "" || j.OIDCDiscovery }

// Claims names the token claims that become user.id, user.tenant_id and
// user.roles. Every claim is also available as user.claims.<name>.
type Claims struct {
	ID       string `yaml:"id"`
	TenantID string `yaml:"tenant_id"`
	Roles    string `yaml:"roles"`
}

// APIKey is a key declared in the file to bootstrap a deployment. Only the
// SHA-256 of the key's secret part is stored, never the key.
type APIKey struct {
	Name string `yaml:"name"`
	// KeyID is the <key-id> of a key written pm_<key-id>_<secret>.
	KeyID string `yaml:"key_id"`
	// KeySHA256 is the hex SHA-256 of the secret part.
	KeySHA256 string       `yaml:"key_sha256"`
	Principal KeyPrincipal `yaml:"principal"`
	// ExpiresAt is optional; the key is refused after it.
	ExpiresAt *time.Time `yaml:"expires_at"`
}

// KeyPrincipal is the caller an API key stands for.
type KeyPrincipal struct {
	ID       string         `yaml:"id"`
	TenantID string         `yaml:"tenant_id"`
	Roles    []string       `yaml:"roles"`
	Claims   map[string]any `yaml:"claims"`
}

// Principal returns the principal for this key. Claim values are converted
// to the types JSON decoding gives (int64, float64, string, bool, []any,
// map[string]any) so that policies compare them the same way whether they
// came from a token or from this file.
func (p KeyPrincipal) Principal() *principal.Principal {
	var claims map[string]any
	if p.Claims != nil {
		// YAML yields no json.Number, the only value NormalizeClaims refuses.
		claims, _ = principal.NormalizeClaims(p.Claims)
	}
	return &principal.Principal{
		ID:       p.ID,
		TenantID: p.TenantID,
		Roles:    append([]string(nil), p.Roles...),
		Claims:   claims,
		Auth:     "api_key",
	}
}

// Limits bound what one request may cost.
type Limits struct {
	MaxBodyBytes   int64         `yaml:"max_body_bytes"`
	MaxLimit       int           `yaml:"max_limit"`
	DefaultLimit   int           `yaml:"default_limit"`
	QueryTimeout   time.Duration `yaml:"query_timeout"`
	MaxBatch       int           `yaml:"max_batch"`
	MaxFilterDepth int           `yaml:"max_filter_depth"`
	MaxRegexLength int           `yaml:"max_regex_length"`
}

// Redis is optional; rate limits and caches fall back to in-process state
// when Addr is empty (docs/scaling.md).
type Redis struct {
	Addr     string `yaml:"addr"`
	Password string `yaml:"password"`
	DB       int    `yaml:"db"`
	// Prefix starts every key and channel, so that several deployments can
	// share one Redis.
	Prefix string `yaml:"prefix"`
	// Timeout bounds one Redis call; past it the limit falls back as its
	// on_redis_error says.
	Timeout time.Duration `yaml:"timeout"`
}

// Log configures the server's own log.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is text or json.
	Format string `yaml:"format"`
}

// Default returns the configuration used for every key the file and the
// environment leave unset: the embedded backend, loopback only, no auth
// configured.
func Default() *Config {
	return &Config{
		Listen: "127.0.0.1:8080",
		MongoDB: MongoDB{
			URI:         EmbeddedURI,
			Database:    "app",
			EmbeddedDir: "./data",
		},
		Policies: "./policies",
		Auth: Auth{JWT: JWT{
			Algorithms:             []string{"HS256"},
			Claims:                 Claims{ID: "sub", TenantID: "tenant_id", Roles: "roles"},
			JWKSRefreshInterval:    time.Hour,
			JWKSMinRefetchInterval: 30 * time.Second,
			JWKSFetchTimeout:       5 * time.Second,
		}, KeyCacheTTL: 10 * time.Second, KeyCacheSize: 10000},
		Redis:  Redis{Prefix: "pm:", Timeout: 250 * time.Millisecond},
		Server: Server{TLS: TLS{ReloadInterval: 10 * time.Second}},
		Limits: Limits{
			MaxBodyBytes:   1 << 20,
			MaxLimit:       10000,
			DefaultLimit:   20,
			QueryTimeout:   10 * time.Second,
			MaxBatch:       1000,
			MaxFilterDepth: 32,
			MaxRegexLength: 256,
		},
		Log:      Log{Level: "info", Format: "text"},
		Audit:    DefaultAudit(),
		Versions: DefaultVersions(),
		// http.go
		CORS:      DefaultCORS(),
		AccessLog: DefaultAccessLog(),
		Webhooks:  DefaultWebhooks(), // webhooks.go
	}
}

// Origin says where the value at path (e.g. "limits.max_limit") was set:
// "file.yaml:12", "env PM_LIMITS_MAX_LIMIT", or "" for a default.
func (c *Config) Origin(path string) string { return c.origin[path] }

func (c *Config) setOrigin(path, where string) {
	if c.origin == nil {
		c.origin = map[string]string{}
	}
	c.origin[path] = where
}
