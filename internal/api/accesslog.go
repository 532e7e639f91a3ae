package api

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v5"
)

// AccessLog configures the one-line-per-request log; nil: off.
type AccessLog struct {
	// Logger receives the lines (the server's logger when nil).
	Logger *slog.Logger
	// Level of the lines; answers of 500 and above use at least error.
	Level slog.Level
	// SampleEvery logs one in N requests answered below 400 (1 or less:
	// all); 400 and above are always logged.
	SampleEvery int
}

// accessLog writes one structured line per request after it is answered:
// method, route template, status, latency, request id and principal id.
// Never the query string, headers or body: they hold filters, keys and
// tokens. It runs in the Pre chain so that preflights and unmatched routes
// are logged too; the route, request id and principal are read from the
// context after the inner handlers have set them.
func (s *Server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	cfg := s.accessCfg
	if cfg == nil {
		return next
	}
	log := cfg.Logger
	if log == nil {
		log = s.log
	}
	every := uint64(max(cfg.SampleEvery, 1))
	var n atomic.Uint64
	return func(c *echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			s.handleError(c, err)
		}
		_, status := echo.ResolveResponseStatus(c.Response(), nil)
		if status < 400 && every > 1 && n.Add(1)%every != 1 {
			return nil
		}
		level := cfg.Level
		if status >= 500 && level < slog.LevelError {
			level = slog.LevelError
		}
		if !log.Enabled(context.Background(), level) {
			return nil
		}
		route := c.Path()
		if route == "" || c.RouteInfo().Method == echo.RouteNotFound {
			route = "unmatched"
		}
		attrs := []slog.Attr{
			slog.String("method", c.Request().Method),
			slog.String("route", route),
			slog.Int("status", status),
			slog.Float64("latency_ms", float64(time.Since(start).Microseconds())/1000),
			slog.String("request_id", requestIDOf(c)),
		}
		if p := principalOf(c); p != nil {
			attrs = append(attrs, slog.String("principal_id", p.ID))
			if p.TenantID != "" {
				attrs = append(attrs, slog.String("tenant_id", p.TenantID))
			}
		}
		log.LogAttrs(c.Request().Context(), level, "http request", attrs...)
		return nil
	}
}
