package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/permission-mongo/permission-mongo/internal/config"
)

const sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

// writeConfig writes body as config.yaml in a fresh folder that also has a
// policies folder, and returns the file's path.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, "policies"), 0o755))
	path := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
	return path
}

func problems(t *testing.T, err error) config.Problems {
	t.Helper()
	var p *config.Problems
	require.True(t, errors.As(err, &p), "not *config.Problems: %v", err)
	return *p
}

// loadProblems loads a file that must be refused and returns what was wrong
// with it, logged whole so that a failing assertion shows every problem.
func loadProblems(t *testing.T, path string) config.Problems {
	t.Helper()
	_, err := config.Load(path)
	t.Log(err)
	return problems(t, err)
}

func TestLoadFullFile(t *testing.T) {
	path := writeConfig(t, `
listen: 0.0.0.0:9090
mongodb: {uri: "mongodb://db:27017/?replicaSet=rs0", database: shop, embedded_dir: ./data}
policies: ./policies
auth:
  jwt:
    secret: "0123456789abcdef0123456789abcdef"
    issuer: https://issuer.example
    algorithms: [HS256]
    claims: {id: sub, tenant_id: org, roles: groups}
  api_keys:
    - name: bootstrap
      key_id: boot1
      key_sha256: `+sha+`
      principal: {id: admin, tenant_id: t1, roles: [admin], claims: {level: 3, tags: [a, b], nested: {x: 1.5}}}
      expires_at: 2030-01-02T03:04:05Z
cursor_secret: "abcdefghijabcdefghijabcdefghij12"
limits: {max_limit: 500, default_limit: 50, query_timeout: 2500ms}
redis: {addr: "127.0.0.1:6379"}
`)
	cfg, err := config.Load(path)
	require.NoError(t, err)
	dir := filepath.Dir(path)

	require.Equal(t, "0.0.0.0:9090", cfg.Listen)
	require.Equal(t, "shop", cfg.MongoDB.Database)
	require.False(t, cfg.MongoDB.Embedded())
	require.Equal(t, filepath.Join(dir, "policies"), cfg.Policies, "relative to the file's folder")
	require.Equal(t, filepath.Join(dir, "data"), cfg.MongoDB.EmbeddedDir)
	require.Equal(t, config.Claims{ID: "sub", TenantID: "org", Roles: "groups"}, cfg.Auth.JWT.Claims)
	require.Equal(t, 2500*time.Millisecond, cfg.Limits.QueryTimeout)
	require.Equal(t, 500, cfg.Limits.MaxLimit)
	require.Equal(t, 1000, cfg.Limits.MaxBatch, "unset keys keep their default")
	require.EqualValues(t, 1<<20, cfg.Limits.MaxBodyBytes)
	require.False(t, cfg.CursorSecretGenerated)
	require.Equal(t, path+":18", cfg.Origin("limits"))

	require.Len(t, cfg.Auth.APIKeys, 1)
	k := cfg.Auth.APIKeys[0]
	require.Equal(t, time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), k.ExpiresAt.UTC())
	p := k.Principal.Principal()
	require.Equal(t, "admin", p.ID)
	require.Equal(t, "api_key", p.Auth)
	require.Equal(t, map[string]any{
		"level":  int64(3),
		"tags":   []any{"a", "b"},
		"nested": map[string]any{"x": 1.5},
	}, p.Claims, "claims typed as JSON decoding would type them")
}

func TestLoadDefaultsAndGeneratedCursorSecret(t *testing.T) {
	path := writeConfig(t, "# nothing set\n")
	t.Chdir(filepath.Dir(path)) // the default policies folder is ./policies
	cfg, err := config.Load(path)
	require.NoError(t, err)
	want := config.Default()
	require.Equal(t, want.Limits, cfg.Limits)
	require.Equal(t, config.EmbeddedURI, cfg.MongoDB.URI)
	require.True(t, cfg.MongoDB.Embedded())
	require.True(t, cfg.CursorSecretGenerated)
	require.GreaterOrEqual(t, len(cfg.CursorSecret), config.MinSecretBytes)

	other, err := config.Load(path)
	require.NoError(t, err)
	require.NotEqual(t, cfg.CursorSecret, other.CursorSecret, "a generated secret must be random")
}

func TestEnvOverrideWins(t *testing.T) {
	path := writeConfig(t, `
listen: 127.0.0.1:1111
mongodb: {uri: embedded, database: fromfile}
policies: ./policies
limits: {max_limit: 100, query_timeout: 1s}
`)
	policies := filepath.Join(filepath.Dir(path), "policies")
	t.Setenv("PM_LISTEN", "127.0.0.1:2222")
	t.Setenv("PM_MONGODB_URI", "mongodb://example:27017")
	t.Setenv("PM_MONGODB_DATABASE", "fromenv")
	t.Setenv("PM_POLICIES", policies)
	t.Setenv("PM_JWT_SECRET", strings.Repeat("s", 32))
	t.Setenv("PM_LIMITS_MAX_LIMIT", "700")
	t.Setenv("PM_LIMITS_QUERY_TIMEOUT", "3s")
	t.Setenv("PM_AUTH_JWT_ALGORITHMS", "HS256, RS256")
	t.Setenv("PM_AUTH_JWT_PUBLIC_KEY_FILE", path) // any existing file will do here

	cfg, err := config.Load(path)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:2222", cfg.Listen)
	require.Equal(t, "mongodb://example:27017", cfg.MongoDB.URI)
	require.Equal(t, "fromenv", cfg.MongoDB.Database)
	require.Equal(t, policies, cfg.Policies)
	require.Equal(t, strings.Repeat("s", 32), cfg.Auth.JWT.Secret)
	require.Equal(t, 700, cfg.Limits.MaxLimit)
	require.Equal(t, 3*time.Second, cfg.Limits.QueryTimeout)
	require.Equal(t, []string{"HS256", "RS256"}, cfg.Auth.JWT.Algorithms)
	require.Equal(t, "env PM_LISTEN", cfg.Origin("listen"))
	require.Equal(t, "env PM_JWT_SECRET", cfg.Origin("auth.jwt.secret"))
}

func TestEnvNamesFollowOneRule(t *testing.T) {
	names := config.EnvNames()
	for _, want := range []string{"PM_LISTEN", "PM_MONGODB_URI", "PM_MONGODB_DATABASE", "PM_MONGODB_EMBEDDED_DIR",
		"PM_POLICIES", "PM_AUTH_JWT_SECRET", "PM_JWT_SECRET", "PM_CURSOR_SECRET", "PM_LIMITS_QUERY_TIMEOUT", "PM_REDIS_ADDR"} {
		require.Contains(t, names, want)
	}
	for _, n := range names {
		require.True(t, strings.HasPrefix(n, "PM_") && n == strings.ToUpper(n), n)
	}
	require.Equal(t, "PM_LIMITS_MAX_REGEX_LENGTH", config.EnvName("limits.max_regex_length"))
}

func TestBadEnvValuesAndConflictingAlias(t *testing.T) {
	path := writeConfig(t, "policies: ./policies\n")
	t.Setenv("PM_LIMITS_MAX_LIMIT", "lots")
	t.Setenv("PM_LIMITS_QUERY_TIMEOUT", "10") // no unit
	t.Setenv("PM_JWT_SECRET", strings.Repeat("a", 32))
	t.Setenv("PM_AUTH_JWT_SECRET", strings.Repeat("b", 32))

	_, err := config.Load(path)
	t.Log(err)
	p := problems(t, err)
	require.Contains(t, p, "env PM_LIMITS_MAX_LIMIT: not an integer")
	require.Contains(t, p, "env PM_LIMITS_QUERY_TIMEOUT: not a duration (use units, e.g. 10s, 500ms)")
	require.Contains(t, p, "PM_AUTH_JWT_SECRET and PM_JWT_SECRET are both set, to different values; set one")
	require.NotContains(t, err.Error(), strings.Repeat("a", 32), "secrets must not be echoed")
}

func TestUnknownKeysReportedWithLine(t *testing.T) {
	path := writeConfig(t, `listen: 127.0.0.1:8080
policies: ./policies
limits:
  max_limit: 100
  max_limt: 20
mongodb:
  uri: embedded
  databse: app
colour: blue
auth:
  api_keys:
    - {name: k, key_id: k1, key_sha256: `+sha+`, principal: {id: u, role: admin}}
`)
	p := loadProblems(t, path)
	require.Len(t, p, 4, "%v", p)
	require.Contains(t, p[0], path+":5:3: unknown key \"max_limt\" in limits (known: default_limit, max_batch,")
	require.Contains(t, p[1], path+":8:3: unknown key \"databse\" in mongodb")
	require.Contains(t, p[2], path+":9:1: unknown key \"colour\" in the top level")
	require.Contains(t, p[3], path+":12:126: unknown key \"role\" in auth.api_keys[0].principal")
}

func TestWrongTypesReportedWithLine(t *testing.T) {
	path := writeConfig(t, `policies: ./policies
limits:
  max_limit: many
  query_timeout: 10
`)
	p := loadProblems(t, path)
	require.Len(t, p, 2, "%v", p)
	require.Contains(t, p[0], path+": line 3: cannot unmarshal")
	require.Contains(t, p[1], path+": line 4: cannot unmarshal")
}

func TestSyntaxErrorStopsEarly(t *testing.T) {
	path := writeConfig(t, "listen: [unclosed\n")
	_, err := config.Load(path)
	require.Error(t, err)
	require.Contains(t, err.Error(), path)
}

func TestValidateListsEveryProblem(t *testing.T) {
	path := writeConfig(t, `
listen: "nonsense"
mongodb: {uri: "postgres://x", database: "a.b"}
policies: ./missing
auth:
  jwt:
    secret: short
    algorithms: [HS256, none]
  api_keys:
    - {name: "", key_id: "has_underscore", key_sha256: "abc", principal: {}}
    - {name: b, key_id: dup, key_sha256: `+sha+`, principal: {id: u}}
    - {name: c, key_id: dup, key_sha256: `+sha+`, principal: {id: u}}
cursor_secret: tooshort
limits: {max_limit: 10, default_limit: 20, max_batch: 0, query_timeout: 0s}
redis: {addr: "localhost"}
log: {level: loud}
`)
	_, err := config.Load(path)
	t.Log(err)
	p := problems(t, err)
	want := []string{
		`listen: "nonsense" is not host:port (set at ` + path + `:2)`,
		"mongodb.uri: must be \"embedded\" or start with mongodb:// or mongodb+srv://",
		`mongodb.database: "a.b" has a character MongoDB does not allow`,
		"policies: " + filepath.Join(filepath.Dir(path), "missing") + " does not exist",
		`auth.jwt.algorithms: "none" is not one of HS256, RS256, ES256`,
		"auth.jwt.secret: must be at least 32 bytes",
		"auth.api_keys[0].name: is required",
		`auth.api_keys[0].key_id: "has_underscore" must be letters and digits only`,
		"auth.api_keys[0].key_sha256: must be the 64 hex digits of a SHA-256",
		"auth.api_keys[0].principal.id: is required",
		`auth.api_keys[2].key_id: "dup" is also used by auth.api_keys[1]`,
		"cursor_secret: must be at least 32 bytes",
		"limits.max_batch: must be positive",
		"limits.default_limit: 20 is above limits.max_limit 10",
		"limits.query_timeout: must be positive",
		`redis.addr: "localhost" is not host:port`,
		`log.level: "loud" is not one of debug, info, warn, error`,
	}
	require.Len(t, p, len(want), "%v", err)
	for _, w := range want {
		found := false
		for _, got := range p {
			found = found || strings.Contains(got, w)
		}
		require.True(t, found, "missing problem %q in:\n%v", w, err)
	}
	require.NotContains(t, err.Error(), "short\"", "the secret's value must not be echoed")
}

func TestValidateDefaultAndHandEdited(t *testing.T) {
	cfg := config.Default()
	cfg.Policies = t.TempDir()
	require.NoError(t, cfg.Validate())

	cfg.Limits.MaxLimit = -1
	cfg.Listen = ""
	p := problems(t, cfg.Validate())
	require.Len(t, p, 2)
	require.Equal(t, "listen: is required, as host:port", p[0])
	require.Equal(t, "limits.max_limit: must be positive", p[1])
}

func TestLoadWithoutFile(t *testing.T) {
	t.Setenv("PM_POLICIES", t.TempDir())
	cfg, err := config.Load("")
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:8080", cfg.Listen)
}
