package api

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v5"
)

// Status adds to /readyz what a fleet operator compares across proxies
// (Redis state, policy hash). An error makes the proxy not ready.
type Status func(ctx context.Context) (map[string]any, error)

// readyBody is /readyz's answer once the database answered.
func (s *Server) readyBody(c *echo.Context) error {
	if s.status == nil {
		return c.JSONBlob(http.StatusOK, []byte(`{"data":{"status":"ready"}}`))
	}
	info, err := s.status(c.Request().Context())
	if err != nil {
		return err
	}
	out := map[string]any{"status": "ready"}
	for k, v := range info {
		out[k] = v
	}
	return writeData(c, http.StatusOK, out)
}

// Reloader reloads the policies on this proxy and, through Redis, on every
// other. It returns the hash of the set now enforced; a set that does not
// load is refused (the running one kept) with an *apperr.Error.
type Reloader func(ctx context.Context) (hash string, err error)

// reloadPolicies: POST /admin/policies/reload → {data: {policy_hash}}.
func (s *Server) reloadPolicies(c *echo.Context) error {
	var reload func(context.Context) (string, error)
	if s.reload != nil {
		reload = s.reload
	}
	hash, err := s.svc.ReloadPolicies(c.Request().Context(), principalOf(c), reload)
	if err != nil {
		return err
	}
	return writeData(c, http.StatusOK, map[string]any{"policy_hash": hash})
}
