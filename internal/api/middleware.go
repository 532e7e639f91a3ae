package api

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/audit"
	"github.com/permission-mongo/permission-mongo/internal/auth"
	"github.com/permission-mongo/permission-mongo/internal/principal"
)

const (
	headerRequestID = "X-Request-ID"
	keyRequestID    = "pm.request_id"
	keyPrincipal    = "pm.principal"
)

// requestID echoes a sane client X-Request-ID or generates one, and puts it
// on the response before anything else can fail.
func (s *Server) requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		if requestIDOf(c) != "" { // already set in the Pre chain (api.go)
			return next(c)
		}
		id := c.Request().Header.Get(headerRequestID)
		if !validRequestID(id) {
			var b [16]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		c.Set(keyRequestID, id)
		c.Response().Header().Set(headerRequestID, id)
		return next(c)
	}
}

// validRequestID accepts short ids of safe characters only: the id is echoed
// into headers, logs and audit records, so it must not carry anything that
// could forge a log line or a header.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

func requestIDOf(c *echo.Context) string {
	id, _ := c.Get(keyRequestID).(string)
	return id
}

// recoverPanic turns a panic in a handler into a logged 500.
func (s *Server) recoverPanic(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if re, ok := r.(error); ok && errors.Is(re, http.ErrAbortHandler) {
					panic(r)
				}
				err = apperr.Wrap(apperr.KindInternal, fmt.Errorf("panic: %v", r), "internal error")
			}
		}()
		return next(c)
	}
}

// observe records the request in the metrics. Labels are the route template
// and the status, never the raw path: ids and collection names would explode
// the series count, and a path may carry values that must not be exported.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			// Write the error now, so the status recorded is the one sent.
			s.handleError(c, err)
		}
		route := c.Path()
		if route == "" || c.RouteInfo().Method == echo.RouteNotFound {
			route = "unmatched"
		}
		_, status := echo.ResolveResponseStatus(c.Response(), nil)
		s.metrics.requests.WithLabelValues(c.Request().Method, route, strconv.Itoa(status)).Inc()
		s.metrics.duration.WithLabelValues(c.Request().Method, route).Observe(time.Since(start).Seconds())
		return nil
	}
}

// authenticate resolves the caller. Several Authorization or X-API-Key
// headers are refused outright: which one a proxy in front of us, Go's
// Header.Get and a client library pick differ, and that difference must not
// decide who the request runs as.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		h := c.Request().Header
		if len(h.Values("Authorization")) > 1 || len(h.Values("X-API-Key")) > 1 {
			return apperr.Wrap(apperr.KindUnauthenticated, auth.ErrAmbiguousCredentials, "several credentials presented")
		}
		if err := s.authGate(c); err != nil {
			return err
		}
		p, err := s.auth.Authenticate(c.Request().Context(), h.Get("Authorization"), h.Get("X-API-Key"))
		if err != nil {
			s.authFailed(c, err)
			if apperr.KindOf(err) != apperr.KindUnavailable {
				c.Response().Header().Set("WWW-Authenticate", `Bearer realm="permission-mongo"`)
			}
			return err
		}
		c.Set(keyPrincipal, p)
		audit.FromContext(c.Request().Context()).SetActor(p)
		if err := s.rateLimit(c, p); err != nil {
			return err
		}
		return next(c)
	}
}

func principalOf(c *echo.Context) *principal.Principal {
	p, _ := c.Get(keyPrincipal).(*principal.Principal)
	return p
}

// readBody reads a JSON request body within the size limit.
func (s *Server) readBody(c *echo.Context) ([]byte, error) {
	r := c.Request()
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		// Requiring JSON also keeps HTML forms (which cannot send it without
		// a CORS preflight) from driving the API cross-site.
		if err != nil || mt != "application/json" {
			return nil, apperr.Invalid("Content-Type must be application/json")
		}
	}
	if r.ContentLength > s.maxBody {
		return nil, errTooLarge(s.maxBody)
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), r.Body, s.maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errTooLarge(s.maxBody)
		}
		return nil, apperr.Wrap(apperr.KindInvalid, err, "cannot read request body")
	}
	if len(body) == 0 {
		return nil, apperr.Invalid("request body is empty")
	}
	return body, nil
}

func errTooLarge(limit int64) error {
	return apperr.New(apperr.KindTooLarge, "request body is larger than %d bytes", limit).
		WithDetails(map[string]any{"max_body_bytes": limit})
}
