package api

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v5"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
)

// webhookDeliveries: GET /webhooks/deliveries?state=dead&limit=50, the
// delivery status of the outbox (webhooks.read).
func (s *Server) webhookDeliveries(c *echo.Context) error {
	var limit int64
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return apperr.Invalid("limit must be a positive whole number")
		}
		limit = n
	}
	list, err := s.svc.WebhookDeliveries(c.Request().Context(), principalOf(c), c.QueryParam("state"), limit)
	if err != nil {
		return err
	}
	return writeData(c, http.StatusOK, list)
}

// redeliverWebhook: POST /webhooks/deliveries/:id/redeliver sends a dead or
// delivered event again (webhooks.manage); the answer is the entry, now
// pending.
func (s *Server) redeliverWebhook(c *echo.Context) error {
	e, err := s.svc.RedeliverWebhook(c.Request().Context(), principalOf(c), c.Param("id"))
	if err != nil {
		return err
	}
	return writeData(c, http.StatusOK, e)
}
