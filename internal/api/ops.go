package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/service"
)

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newRegistry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

func newMetrics(r *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pm_http_requests_total",
			Help: "HTTP requests by method, route template and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pm_http_request_duration_seconds",
			Help:    "HTTP request latency by method and route template.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route"}),
	}
	r.MustRegister(m.requests, m.duration)
	return m
}

func (s *Server) metricsHandler() echo.HandlerFunc {
	h := promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{})
	return func(c *echo.Context) error {
		h.ServeHTTP(c.Response(), c.Request())
		return nil
	}
}

// healthz answers while the process serves HTTP.
func (s *Server) healthz(c *echo.Context) error {
	return c.JSONBlob(http.StatusOK, []byte(`{"data":{"status":"ok"}}`))
}

// readyz answers 200 only when the database answers, so that a load balancer
// stops sending traffic to a proxy that cannot serve it.
func (s *Server) readyz(c *echo.Context) error {
	if s.ready != nil {
		ctx, cancel := context.WithTimeout(c.Request().Context(), 3*time.Second)
		defer cancel()
		if err := s.ready(ctx); err != nil {
			// A check that says what is down (the audit log) keeps its
			// message; anything else is the database.
			var named *apperr.Error
			if errors.As(err, &named) && named.Kind == apperr.KindUnavailable {
				return named
			}
			return apperr.Wrap(apperr.KindUnavailable, err, "database unreachable")
		}
	}
	return s.readyBody(c)
}

// explain answers POST /explain {collection, action}: the compiled policy
// for the caller; with "principal" or "api_key_id", for another principal
// of the caller's tenant (explain_as.go).
func (s *Server) explain(c *echo.Context) error {
	m, err := s.bodyObject(c, "collection", "action", "principal", "api_key_id")
	if err != nil {
		return err
	}
	coll, err := stringMember(m, "collection", true)
	if err != nil {
		return err
	}
	action, err := stringMember(m, "action", true)
	if err != nil {
		return err
	}
	_, hasP := m["principal"]
	_, hasK := m["api_key_id"]
	if hasP || hasK {
		return s.explainAs(c, m, coll, action)
	}
	e, err := s.svc.Explain(c.Request().Context(), principalOf(c), coll, action)
	if err != nil {
		return err
	}
	out, err := explanationJSON(e)
	if err != nil {
		return err
	}
	return writeData(c, http.StatusOK, out)
}

func explanationJSON(e *service.Explanation) (map[string]any, error) {
	filter := e.Filter
	if filter == nil {
		filter, _ = bson.Marshal(bson.D{})
	}
	fj, err := extJSON(filter)
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"allowed": e.Allowed,
		"state":   e.State,
		"filter":  rawJSON(fj),
		"fields":  e.Rules,
	}, nil
}
