package config

import (
	"fmt"
	"slices"
	"time"
)

// RateLimit is one entry of rate_limits (docs/rate-limits.md).
type RateLimit struct {
	// Name identifies the limit in metrics, logs and Redis keys.
	Name string `yaml:"name"`
	// By is what one counter is kept for: principal, tenant, api_key or ip.
	By string `yaml:"by"`
	// AppliesTo lists the route classes counted (RateClasses).
	AppliesTo []string `yaml:"applies_to"`
	// Limit requests are allowed per Per, spaced evenly (GCRA), with Burst
	// more allowed at once on an idle counter.
	Limit int           `yaml:"limit"`
	Per   time.Duration `yaml:"per"`
	Burst int           `yaml:"burst"`
	// OnRedisError is local (count in this process), allow or deny (503)
	// while Redis does not answer.
	OnRedisError string `yaml:"on_redis_error"`
}

// Values of RateLimit.By, AppliesTo and OnRedisError.
var (
	RateKeys        = []string{"principal", "tenant", "api_key", "ip"}
	RateClasses     = []string{"read", "write", "aggregate", "import", "admin", "auth_failure", "all"}
	RateRedisErrors = []string{"local", "allow", "deny"}
)

// maxKeyCacheTTL bounds auth.key_cache_ttl: without Redis, a revoked key is
// refused by the other proxies only once their cached copy expires.
const maxKeyCacheTTL = 30 * time.Second

func (c *Config) rateLimitProblems(bad func(path, format string, args ...any)) {
	names := map[string]bool{}
	for i, r := range c.RateLimits {
		p := func(key string) string { return fmt.Sprintf("rate_limits[%d].%s", i, key) }
		switch {
		case r.Name == "":
			bad(p("name"), "is required")
		case !keyIDPattern.MatchString(dashless(r.Name)) || len(r.Name) > 64:
			bad(p("name"), "%q must be 1 to 64 letters, digits, '-' or '_'", r.Name)
		case names[r.Name]:
			bad(p("name"), "%q is used by another limit", r.Name)
		}
		names[r.Name] = true
		if !slices.Contains(RateKeys, r.By) {
			bad(p("by"), "%q is not one of principal, tenant, api_key, ip", r.By)
		}
		if len(r.AppliesTo) == 0 {
			bad(p("applies_to"), "is required: one or more of read, write, aggregate, import, admin, auth_failure, all")
		}
		for _, cl := range r.AppliesTo {
			if !slices.Contains(RateClasses, cl) {
				bad(p("applies_to"), "%q is not one of read, write, aggregate, import, admin, auth_failure, all", cl)
			}
		}
		// A failed authentication has no principal or tenant: only the
		// address and the key id presented can be counted.
		if slices.Contains(r.AppliesTo, "auth_failure") {
			if r.By != "ip" && r.By != "api_key" {
				bad(p("by"), "auth_failure limits count by ip or api_key, not %q", r.By)
			}
			if len(r.AppliesTo) > 1 {
				bad(p("applies_to"), "auth_failure counts failures, not requests: give it a limit of its own")
			}
		}
		if r.Limit <= 0 {
			bad(p("limit"), "must be positive")
		}
		if r.Per < time.Millisecond {
			bad(p("per"), "must be positive with a unit, e.g. 1m")
		}
		if r.Burst < 0 {
			bad(p("burst"), "must not be negative")
		}
		if r.OnRedisError != "" && !slices.Contains(RateRedisErrors, r.OnRedisError) {
			bad(p("on_redis_error"), "%q is not one of local, allow, deny", r.OnRedisError)
		}
	}
	if t := c.Auth.KeyCacheTTL; t < 0 || t > maxKeyCacheTTL {
		bad("auth.key_cache_ttl", "must be between 0 (no cache) and %s", maxKeyCacheTTL)
	}
	if c.Auth.KeyCacheSize < 0 {
		bad("auth.key_cache_size", "must not be negative")
	}
}

func dashless(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '-' && s[i] != '_' {
			out = append(out, s[i])
		}
	}
	if len(out) == 0 {
		return "-"
	}
	return string(out)
}
