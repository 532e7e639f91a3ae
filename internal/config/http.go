package config

import (
	"net/url"
	"slices"
	"strings"
	"time"
)

// CORS lets browsers on other origins call the API. Off unless
// AllowedOrigins is set (docs/configuration.md).
type CORS struct {
	// AllowedOrigins are exact origins (https://app.example.com) or "*".
	AllowedOrigins []string `yaml:"allowed_origins"`
	// AllowedHeaders are the request headers a browser may send.
	AllowedHeaders []string `yaml:"allowed_headers"`
	// AllowCredentials lets browsers send cookies and HTTP auth; the API
	// itself reads neither, so it is only for deployments that add them in
	// front. Not allowed with "*".
	AllowCredentials bool `yaml:"allow_credentials"`
	// MaxAge is how long a browser may cache a preflight answer.
	MaxAge time.Duration `yaml:"max_age"`
}

// Enabled reports whether CORS headers are sent at all.
func (c CORS) Enabled() bool { return len(c.AllowedOrigins) > 0 }

// AccessLog is one structured line per HTTP request.
type AccessLog struct {
	Enabled bool `yaml:"enabled"`
	// Level is the level of the lines (debug, info, warn, error); they show
	// when log.level lets that level through. Failed requests (status >=
	// 500) are always logged at error or above.
	Level string `yaml:"level"`
	// SampleEvery logs one in N requests answered below 400; requests
	// answered 400 or above are always logged. 1 logs every request.
	SampleEvery int `yaml:"sample_every"`
}

// DefaultCORS is the cors part of Default(): off.
func DefaultCORS() CORS {
	return CORS{
		AllowedHeaders: []string{"Authorization", "Content-Type", "X-API-Key", "X-Request-ID", "If-Match"},
		MaxAge:         10 * time.Minute,
	}
}

// DefaultAccessLog is the access_log part of Default(): every request, at info.
func DefaultAccessLog() AccessLog {
	return AccessLog{Enabled: true, Level: "info", SampleEvery: 1}
}

func (c *Config) httpProblems(bad func(path, format string, args ...any)) {
	for _, o := range c.CORS.AllowedOrigins {
		if o == "*" {
			if c.CORS.AllowCredentials {
				bad("cors.allow_credentials", `cannot be true with "*" in cors.allowed_origins (browsers refuse it); list the origins`)
			}
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			bad("cors.allowed_origins", "%q is not an origin: scheme://host[:port], e.g. https://app.example.com, or \"*\"", o)
		}
	}
	for _, h := range c.CORS.AllowedHeaders {
		if h == "" || strings.ContainsAny(h, " ,:\t\r\n") {
			bad("cors.allowed_headers", "%q is not a header name", h)
		}
	}
	if c.CORS.MaxAge < 0 {
		bad("cors.max_age", "must not be negative")
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.AccessLog.Level) {
		bad("access_log.level", "%q is not one of debug, info, warn, error", c.AccessLog.Level)
	}
	if c.AccessLog.SampleEvery < 1 {
		bad("access_log.sample_every", "must be at least 1 (1 logs every request)")
	}
}
