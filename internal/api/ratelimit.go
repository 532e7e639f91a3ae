package api

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/auth"
	"github.com/permission-mongo/permission-mongo/internal/principal"
	"github.com/permission-mongo/permission-mongo/internal/ratelimit"
)

// routeClass is the rate-limit class of the matched route's row in the route
// table (routes.go). The authenticated groups' catch-alls (paths that match
// no route) have no row: they count as admin under /admin/, else as a read
// or a write by method, so probing unknown paths is not free.
func (s *Server) routeClass(c *echo.Context) string {
	if r := s.matched(c); r != nil {
		return r.class
	}
	method := c.Request().Method
	switch {
	case strings.HasPrefix(c.Path(), "/admin/"):
		return ratelimit.ClassAdmin
	case method == http.MethodGet || method == http.MethodHead:
		return ratelimit.ClassRead
	}
	return ratelimit.ClassWrite
}

// authGate runs before any credential is checked: an address or a key id
// whose failed authentications are over their limit is refused outright, so
// that guessing costs the guesser, not the key store.
func (s *Server) authGate(c *echo.Context) error {
	if !s.limits.Enabled() {
		return nil
	}
	d := s.limits.AuthBlocked(c.Request().Context(), clientIP(c.Request()), presentedKeyID(c.Request()))
	if d.Allowed {
		// The failure counters are not the request's limit: their headers
		// would hide the one the request is counted against.
		return nil
	}
	return limitError(c, d)
}

// authFailed counts a refused credential against the auth_failure limits.
// A store that could not answer is not the caller's failure.
func (s *Server) authFailed(c *echo.Context, err error) {
	if s.limits.Enabled() && apperr.KindOf(err) == apperr.KindUnauthenticated {
		s.limits.AuthFailed(c.Request().Context(), clientIP(c.Request()), presentedKeyID(c.Request()))
	}
}

// rateLimit spends one request of every limit matching the route and caller
// and puts the tightest one in the X-RateLimit-* headers.
func (s *Server) rateLimit(c *echo.Context, p *principal.Principal) error {
	if !s.limits.Enabled() {
		return nil
	}
	sub := ratelimit.Subject{Principal: p.ID, Tenant: p.TenantID, IP: clientIP(c.Request())}
	if p.Auth == "api_key" {
		sub.APIKey = p.KeyID
	}
	return limitError(c, s.limits.Check(c.Request().Context(), s.routeClass(c), sub))
}

func limitError(c *echo.Context, d ratelimit.Decision) error {
	if d.Applied && !d.Unavailable {
		h := c.Response().Header()
		h.Set("X-RateLimit-Limit", strconv.Itoa(d.Limit))
		h.Set("X-RateLimit-Remaining", strconv.Itoa(d.Remaining))
		h.Set("X-RateLimit-Reset", strconv.Itoa(ceilSeconds(d.Reset)))
	}
	switch {
	case d.Allowed:
		return nil
	case d.Unavailable:
		return apperr.New(apperr.KindUnavailable, "rate limit %q cannot be checked: redis unreachable", d.Rule).
			WithDetails(map[string]any{"limit": d.Rule, "dependency": "redis"})
	}
	retry := max(ceilSeconds(d.RetryAfter), 1)
	return apperr.New(apperr.KindRateLimited, "rate limit %q exceeded; retry in %d s", d.Rule, retry).
		WithDetails(map[string]any{"limit": d.Rule, "retry_after": retry})
}

func ceilSeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int(math.Ceil(d.Seconds()))
}

// presentedKeyID is the key id of an API key in the request, unchecked: an
// id is not secret, and counting failures per id is what stops guessing the
// secret of one key from many addresses.
func presentedKeyID(r *http.Request) string {
	key := r.Header.Get("X-API-Key")
	if key == "" {
		key, _ = strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	id, _, err := auth.ParseKey(strings.TrimSpace(key))
	if err != nil {
		return ""
	}
	return id
}
