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
