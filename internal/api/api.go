// Package api is the HTTP face of the proxy: Echo v5 routes and handlers
// that decode a request, call the service, and encode the answer, plus the
// middleware every request passes through (request id, metrics, panic
// recovery, authentication, body limits) and the one place where errors
// become HTTP statuses (errors.go).
//
// Handlers hold no policy logic: every document endpoint calls the one
// enforcement path in package service.
package api

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/permission-mongo/permission-mongo/internal/audit"
	"github.com/permission-mongo/permission-mongo/internal/auth"
	"github.com/permission-mongo/permission-mongo/internal/grant"
	"github.com/permission-mongo/permission-mongo/internal/ratelimit"
	"github.com/permission-mongo/permission-mongo/internal/service"
)

// Params are the dependencies of the HTTP server.
type Params struct {
	Service *service.Service
	Auth    *auth.Authenticator
	// Ready reports whether the database (and other required dependencies)
	// answer; nil means always ready.
	Ready func(ctx context.Context) error
	// Keys is the run-time key store behind /admin/api-keys; nil answers
	// 501 there.
	Keys KeyAdmin
	// MaxBodyBytes bounds request bodies (1 MiB when 0).
	MaxBodyBytes int64
	Logger       *slog.Logger
	// Registry receives the HTTP metrics; nil means a new registry with the
	// Go and process collectors.
	Registry *prometheus.Registry
	// Audit records every request but the probes (audit.go); nil audits
	// nothing.
	Audit *audit.Writer
	// Grants issues credential grants (/grants); nil answers 501 there.
	Grants *grant.Manager
	// Limits are the configured rate limits; nil limits nothing.
	Limits *ratelimit.Limiter
	// Status adds fleet state to /readyz (fleet.go); nil adds nothing.
	Status Status
	// Reload serves POST /admin/policies/reload; nil answers 501.
	Reload Reloader
	// CORS (cors.go) and AccessLog (accesslog.go); zero values: off.
	CORS      CORS
	AccessLog *AccessLog
}

// Server is the HTTP API.
type Server struct {
	svc      *service.Service
	auth     *auth.Authenticator
	keys     KeyAdmin
	ready    func(ctx context.Context) error
	maxBody  int64
	log      *slog.Logger
	echo     *echo.Echo
	registry *prometheus.Registry
	metrics  *metrics
	audit    *audit.Writer
	limits   *ratelimit.Limiter
	status   Status
	reload   Reloader
	// corsCfg and accessCfg: cors.go, accesslog.go.
	corsCfg   CORS
	accessCfg *AccessLog
	// routes indexes the route table by method and Echo path, unaudited
	// holds the paths of its unaudited rows (routes.go).
	routes    map[string]*route
	unaudited map[string]bool
	// The OpenAPI document, built once (openapi.go).
	openapiJSON, openapiYAML []byte
}

// New builds the server and its routes.
func New(p Params) *Server {
	s := &Server{svc: p.Service, auth: p.Auth, keys: p.Keys, ready: p.Ready, maxBody: p.MaxBodyBytes, log: p.Logger, registry: p.Registry}
	s.audit, s.ready = p.Audit, auditReady(p.Ready, p.Audit)
	s.limits, s.status, s.reload = p.Limits, p.Status, p.Reload
	s.corsCfg, s.accessCfg = p.CORS, p.AccessLog
	if s.maxBody <= 0 {
		s.maxBody = 1 << 20
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.auth == nil {
		s.auth = &auth.Authenticator{} // refuses everything
	}
	if s.registry == nil {
		s.registry = newRegistry()
	}
	s.metrics = newMetrics(s.registry)

	e := echo.NewWithConfig(echo.Config{
		Logger:           s.log,
		HTTPErrorHandler: s.handleError,
		Router:           echo.NewRouter(echo.RouterConfig{UnescapePathParamValues: true}),
	})
	// Before routing and authentication: preflights carry no credential
	// (cors.go); requestID runs again in the chain below as a no-op.
	e.Pre(s.requestID, s.accessLog, s.cors)
	e.Use(s.requestID, s.observe, s.recoverPanic, s.audited)

	table := s.routeTable(newGrantAPI(s, p.Grants))
	s.setOpenAPI(table)
	s.addRoutes(e, table)
	s.echo = e
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }
