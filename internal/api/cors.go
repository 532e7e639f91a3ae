package api

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v5"
)

// CORS configures cross-origin access for browsers; zero value: off.
type CORS struct {
	// AllowedOrigins are exact origins or "*"; empty turns CORS off.
	AllowedOrigins   []string
	AllowedHeaders   []string
	AllowCredentials bool
	MaxAge           time.Duration
}

// corsMethods are the methods the API has.
const corsMethods = "GET, POST, PUT, PATCH, DELETE"

// corsExposed are the response headers a browser script may read: the
// request id, the ETag for If-Match, and what a rate-limited client needs.
const corsExposed = "X-Request-ID, ETag, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset"

// cors runs before routing and authentication (Echo's Pre chain): a
// preflight carries no credential by design, so it must be answered here,
// and answering it here also keeps it out of the audit log and the
// metrics. Requests from origins not listed get no CORS header at all, which
// the browser enforces; the server still answers them as any other client.
func (s *Server) cors(next echo.HandlerFunc) echo.HandlerFunc {
	cfg := s.corsCfg
	if len(cfg.AllowedOrigins) == 0 {
		return next
	}
	any := slices.Contains(cfg.AllowedOrigins, "*")
	allowed := func(origin string) bool {
		return origin != "" && (any || slices.Contains(cfg.AllowedOrigins, origin))
	}
	headers := strings.Join(cfg.AllowedHeaders, ", ")
	maxAge := strconv.Itoa(int(cfg.MaxAge.Seconds()))
	return func(c *echo.Context) error {
		req, h := c.Request(), c.Response().Header()
		origin := req.Header.Get("Origin")
		h.Add("Vary", "Origin")
		ok := allowed(origin)
		if ok {
			if any && !cfg.AllowCredentials {
				h.Set("Access-Control-Allow-Origin", "*")
			} else {
				h.Set("Access-Control-Allow-Origin", origin)
			}
			if cfg.AllowCredentials {
				h.Set("Access-Control-Allow-Credentials", "true")
			}
		}
		if req.Method == http.MethodOptions && req.Header.Get("Access-Control-Request-Method") != "" {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			if ok {
				h.Set("Access-Control-Allow-Methods", corsMethods)
				h.Set("Access-Control-Allow-Headers", headers)
				h.Set("Access-Control-Max-Age", maxAge)
			}
			return c.NoContent(http.StatusNoContent)
		}
		if ok {
			h.Set("Access-Control-Expose-Headers", corsExposed)
		}
		return next(c)
	}
}
