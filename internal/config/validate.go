package config

import (
	"encoding/hex"
	"fmt"
	"maps"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Bounds that Validate enforces.
const (
	// MinSecretBytes is the shortest HS256 or cursor secret accepted: the
	// HMAC key should be as long as the SHA-256 output, or it is brute-forceable.
	MinSecretBytes = 32
	// maxDatabaseName is MongoDB's limit on a database name.
	maxDatabaseName = 63
)

// Algorithms is the set of JWT algorithms the server implements.
var Algorithms = []string{"HS256", "RS256", "ES256", "EdDSA"}

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9]+$`)

// Validate checks the configuration and returns a *Problems listing every
// problem, each naming its key and where it was set, or nil. Load calls it;
// call it again after changing a Config by hand.
func (c *Config) Validate() error {
	if p := c.problems(); len(p) > 0 {
		return &p
	}
	return nil
}

func (c *Config) problems() Problems {
	var probs Problems
	bad := func(path, format string, args ...any) {
		msg := path + ": " + fmt.Sprintf(format, args...)
		if o := c.Origin(path); o != "" {
			msg += " (set at " + o + ")"
		}
		probs = append(probs, msg)
	}

	if err := checkHostPort(c.Listen); err != "" {
		bad("listen", "%s", err)
	}

	m := c.MongoDB
	switch {
	case m.URI == "":
		bad("mongodb.uri", "is required: %q or a mongodb:// URI", EmbeddedURI)
	case m.Embedded():
		if m.EmbeddedDir == "" {
			bad("mongodb.embedded_dir", "is required when mongodb.uri is %q", EmbeddedURI)
		}
	case !strings.HasPrefix(m.URI, "mongodb://") && !strings.HasPrefix(m.URI, "mongodb+srv://"):
		// The value is not echoed: a URI may hold a password.
		bad("mongodb.uri", "must be %q or start with mongodb:// or mongodb+srv://", EmbeddedURI)
	}
	switch {
	case m.Database == "":
		bad("mongodb.database", "is required")
	case len(m.Database) > maxDatabaseName:
		bad("mongodb.database", "is longer than %d bytes", maxDatabaseName)
	case strings.ContainsAny(m.Database, "/\\. \"$*<>:|?\x00"):
		bad("mongodb.database", "%q has a character MongoDB does not allow in database names", m.Database)
	}

	if c.Policies == "" {
		bad("policies", "is required: a policy file or a folder of them")
	} else if _, err := os.Stat(c.Policies); err != nil {
		bad("policies", "%s does not exist or cannot be read", c.Policies)
	}

	c.jwtProblems(bad)
	c.apiKeyProblems(bad)
	c.auditProblems(bad)
	c.webhookProblems(bad)
	c.httpProblems(bad)
	c.tlsProblems(bad)

	if c.CursorSecret != "" && len(c.CursorSecret) < MinSecretBytes {
		bad("cursor_secret", "must be at least %d bytes (or empty to generate one at start)", MinSecretBytes)
	}

	l := c.Limits
	positive := map[string]int64{
		"limits.max_body_bytes":   l.MaxBodyBytes,
		"limits.max_limit":        int64(l.MaxLimit),
		"limits.default_limit":    int64(l.DefaultLimit),
		"limits.max_batch":        int64(l.MaxBatch),
		"limits.max_filter_depth": int64(l.MaxFilterDepth),
		"limits.max_regex_length": int64(l.MaxRegexLength),
	}
	for _, path := range slices.Sorted(maps.Keys(positive)) {
		if positive[path] <= 0 {
			bad(path, "must be positive")
		}
	}
	if l.DefaultLimit > 0 && l.MaxLimit > 0 && l.DefaultLimit > l.MaxLimit {
		bad("limits.default_limit", "%d is above limits.max_limit %d", l.DefaultLimit, l.MaxLimit)
	}
	if l.QueryTimeout <= 0 {
		bad("limits.query_timeout", "must be positive, e.g. 10s")
	} else if l.QueryTimeout < time.Millisecond {
		bad("limits.query_timeout", "%s is too short; durations need a unit, e.g. 10s", l.QueryTimeout)
	}

	if c.Redis.Addr != "" {
		if err := checkHostPort(c.Redis.Addr); err != "" {
			bad("redis.addr", "%s", err)
		}
	}
	if c.Redis.DB < 0 {
		bad("redis.db", "must not be negative")
	}
	if c.Redis.Timeout < time.Millisecond {
		bad("redis.timeout", "must be positive with a unit, e.g. 250ms")
	}
	c.rateLimitProblems(bad)

	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		bad("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	if !slices.Contains([]string{"text", "json"}, c.Log.Format) {
		bad("log.format", "%q is not one of text, json", c.Log.Format)
	}
	return probs
}

func (c *Config) jwtProblems(bad func(path, format string, args ...any)) {
	j := c.Auth.JWT
	for _, a := range j.Algorithms {
		if !slices.Contains(Algorithms, a) {
			bad("auth.jwt.algorithms", "%q is not one of %s", a, strings.Join(Algorithms, ", "))
		}
	}
	if !j.Enabled() {
		return
	}
	if len(j.Algorithms) == 0 {
		bad("auth.jwt.algorithms", "is empty, so no token could be accepted")
	}
	if j.Secret != "" {
		if len(j.Secret) < MinSecretBytes {
			bad("auth.jwt.secret", "must be at least %d bytes", MinSecretBytes)
		}
		if !slices.Contains(j.Algorithms, "HS256") {
			bad("auth.jwt.secret", "is set but auth.jwt.algorithms does not include HS256")
		}
	} else if slices.Contains(j.Algorithms, "HS256") && j.PublicKeyFile == "" && !j.RemoteKeys() {
		bad("auth.jwt.secret", "is required for HS256")
	}
	asymmetric := slices.ContainsFunc(j.Algorithms, func(a string) bool { return slices.Contains(jwksAlgorithms, a) })
	c.jwksProblems(bad, asymmetric)
	switch {
	case j.PublicKeyFile != "" && j.RemoteKeys():
		bad("auth.jwt.public_key_file", "cannot be combined with auth.jwt.jwks_url / oidc_discovery; keys come from one place")
	case j.PublicKeyFile != "" && !asymmetric:
		bad("auth.jwt.public_key_file", "is set but auth.jwt.algorithms has none of RS256, ES256, EdDSA")
	case j.PublicKeyFile == "" && asymmetric && !j.RemoteKeys():
		bad("auth.jwt.public_key_file", "is required for RS256 / ES256 / EdDSA (or set auth.jwt.jwks_url or auth.jwt.oidc_discovery)")
	case j.PublicKeyFile != "":
		if _, err := os.Stat(j.PublicKeyFile); err != nil {
			bad("auth.jwt.public_key_file", "%s does not exist or cannot be read", j.PublicKeyFile)
		}
	}
	if j.Claims.ID == "" {
		bad("auth.jwt.claims.id", "is required: the claim that becomes user.id")
	}
}

func (c *Config) apiKeyProblems(bad func(path, format string, args ...any)) {
	seen := map[string]int{}
	for i, k := range c.Auth.APIKeys {
		p := fmt.Sprintf("auth.api_keys[%d]", i)
		if k.Name == "" {
			bad(p+".name", "is required")
		}
		switch {
		case k.KeyID == "":
			bad(p+".key_id", "is required")
		case !keyIDPattern.MatchString(k.KeyID):
			bad(p+".key_id", "%q must be letters and digits only (keys are pm_<key-id>_<secret>)", k.KeyID)
		default:
			if j, dup := seen[k.KeyID]; dup {
				bad(p+".key_id", "%q is also used by auth.api_keys[%d]", k.KeyID, j)
			}
			seen[k.KeyID] = i
		}
		if b, err := hex.DecodeString(k.KeySHA256); err != nil || len(b) != 32 {
			bad(p+".key_sha256", "must be the 64 hex digits of a SHA-256")
		}
		if k.Principal.ID == "" {
			bad(p+".principal.id", "is required")
		}
	}
}

// checkHostPort returns a message when s is not host:port with a valid port.
func checkHostPort(s string) string {
	if s == "" {
		return "is required, as host:port"
	}
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Sprintf("%q is not host:port", s)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Sprintf("%q has no valid port", s)
	}
	return ""
}
