package api

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/policy"
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

// permReload is the system permission POST /admin/policies/reload needs.
const permReload = policy.PermPoliciesReload

func (s *Server) fleetRoutes(adm *echo.Group) {
	adm.POST("/policies/reload", s.reloadPolicies)
}

// reloadPolicies: POST /admin/policies/reload → {data: {policy_hash}}.
func (s *Server) reloadPolicies(c *echo.Context) error {
	if s.reload == nil {
		return apperr.New(apperr.KindNotSupported, "policy reload is not configured")
	}
	if err := noQuery(c); err != nil {
		return err
	}
	p := principalOf(c)
	if !s.svc.Policies().SystemAllowed(p.Roles, permReload) {
		return apperr.Forbidden("reloading policies needs the %s permission", permReload)
	}
	hash, err := s.reload(c.Request().Context())
	if err != nil {
		return err
	}
	return writeData(c, http.StatusOK, map[string]any{"policy_hash": hash})
}
