package api

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
)

// statusOf is the HTTP contract's table: the only place an error kind becomes
// a status and a code.
var statusOf = map[apperr.Kind]struct {
	status int
	code   string
}{
	apperr.KindInvalid:         {http.StatusBadRequest, "BAD_REQUEST"},
	apperr.KindInvalidCursor:   {http.StatusBadRequest, "INVALID_CURSOR"},
	apperr.KindUnauthenticated: {http.StatusUnauthorized, "UNAUTHENTICATED"},
	apperr.KindForbidden:       {http.StatusForbidden, "FORBIDDEN"},
	apperr.KindNotFound:        {http.StatusNotFound, "NOT_FOUND"},
	apperr.KindConflict:        {http.StatusConflict, "CONFLICT"},
	apperr.KindTooLarge:        {http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE"},
	apperr.KindValidation:      {http.StatusUnprocessableEntity, "VALIDATION_FAILED"},
	apperr.KindRateLimited:     {http.StatusTooManyRequests, "RATE_LIMITED"},
	apperr.KindInternal:        {http.StatusInternalServerError, "INTERNAL"},
	apperr.KindNotSupported:    {http.StatusNotImplemented, "NOT_SUPPORTED"},
	apperr.KindUnavailable:     {http.StatusServiceUnavailable, "UNAVAILABLE"},

	apperr.KindPreconditionFailed: {http.StatusPreconditionFailed, "PRECONDITION_FAILED"},
}

type errorBody struct {
	Error     errorInfo `json:"error"`
	RequestID string    `json:"request_id"`
}

type errorInfo struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details,omitempty"`
}

// classify turns any error into a client-safe apperr.Error. Errors produced
// by Echo itself (no route, wrong method) carry only a status.
func classify(err error) (*apperr.Error, int, string) {
	var ae *apperr.Error
	if !errors.As(err, &ae) {
		switch echo.StatusCode(err) {
		case http.StatusNotFound:
			ae = apperr.NotFound("no such route")
		case http.StatusMethodNotAllowed:
			// Not in the contract's table: the route exists, the method does
			// not. A 405 is what HTTP clients expect.
			return apperr.Invalid("method not allowed"), http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED"
		case http.StatusRequestEntityTooLarge:
			ae = apperr.New(apperr.KindTooLarge, "request body too large")
		case http.StatusBadRequest:
			ae = apperr.Invalid("bad request")
		default:
			ae = apperr.Wrap(apperr.KindInternal, err, "internal error")
		}
	}
	sc, ok := statusOf[ae.Kind]
	if !ok {
		sc = statusOf[apperr.KindInternal]
	}
	return ae, sc.status, sc.code
}

// handleError is Echo's HTTPErrorHandler: it writes the contract's error
// body. A 5xx never carries the cause's text; the cause is logged with the
// request id so that an operator can find it.
func (s *Server) handleError(c *echo.Context, err error) {
	if resp, _ := echo.UnwrapResponse(c.Response()); resp != nil && resp.Committed {
		return
	}
	ae, status, code := classify(err)
	msg, details := ae.Message, ae.Details
	if status < 500 {
		// Client errors are routine; their cause helps when debugging a
		// client, and holds no secrets (auth causes are fixed sentinels).
		s.log.Debug("request refused", "request_id", requestIDOf(c), "method", c.Request().Method,
			"route", c.Path(), "status", status, "err", err)
	} else {
		s.log.Error("request failed", "request_id", requestIDOf(c), "method", c.Request().Method,
			"route", c.Path(), "status", status, "err", err)
		if ae.Kind == apperr.KindInternal {
			msg, details = "internal error", nil
		}
	}
	if ae.Kind == apperr.KindRateLimited {
		if ra, ok := ae.Details["retry_after"]; ok {
			b, _ := json.Marshal(ra)
			c.Response().Header().Set("Retry-After", string(b))
		}
	}
	body := errorBody{Error: errorInfo{Code: code, Message: msg, Details: details}, RequestID: requestIDOf(c)}
	b, jerr := json.Marshal(body)
	if jerr != nil {
		b = []byte(`{"error":{"code":"INTERNAL","message":"internal error"}}`)
		status = http.StatusInternalServerError
	}
	_ = sendJSON(c, status, b) // its own length, whatever a handler set before failing
}
