package permissionmongo

import (
	"errors"
	"fmt"
	"time"
)

// Error is an error answer of the server, in the contract's shape.
// Compare with errors.Is against the Err... values, which match by code:
//
//	if errors.Is(err, pm.ErrNotFound) { ... }
type Error struct {
	Status    int    // HTTP status
	Code      string // FORBIDDEN, NOT_FOUND, ...
	Message   string
	Details   map[string]any
	RequestID string
	// RetryAfter is the server's Retry-After (429, 503), 0 when absent.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	s := fmt.Sprintf("permission-mongo: %d %s: %s", e.Status, e.Code, e.Message)
	if e.RequestID != "" {
		s += " (request " + e.RequestID + ")"
	}
	return s
}

// Is matches the Err... values by code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Status == 0 && t.Code != "" && t.Code == e.Code
}

// The contract's error codes, for errors.Is.
var (
	ErrBadRequest         = &Error{Code: "BAD_REQUEST"}
	ErrInvalidCursor      = &Error{Code: "INVALID_CURSOR"}
	ErrUnauthenticated    = &Error{Code: "UNAUTHENTICATED"}
	ErrForbidden          = &Error{Code: "FORBIDDEN"}
	ErrNotFound           = &Error{Code: "NOT_FOUND"}
	ErrConflict           = &Error{Code: "CONFLICT"}
	ErrPreconditionFailed = &Error{Code: "PRECONDITION_FAILED"}
	ErrPayloadTooLarge    = &Error{Code: "PAYLOAD_TOO_LARGE"}
	ErrValidationFailed   = &Error{Code: "VALIDATION_FAILED"}
	ErrRateLimited        = &Error{Code: "RATE_LIMITED"}
	ErrInternal           = &Error{Code: "INTERNAL"}
	ErrNotSupported       = &Error{Code: "NOT_SUPPORTED"}
	ErrUnavailable        = &Error{Code: "UNAVAILABLE"}
)

// codeByStatus fills in the code of an answer that carried none (a proxy's
// HTML 502, say).
var codeByStatus = map[int]string{
	400: "BAD_REQUEST", 401: "UNAUTHENTICATED", 403: "FORBIDDEN", 404: "NOT_FOUND", 409: "CONFLICT",
	412: "PRECONDITION_FAILED", 413: "PAYLOAD_TOO_LARGE", 422: "VALIDATION_FAILED", 429: "RATE_LIMITED",
	500: "INTERNAL", 501: "NOT_SUPPORTED", 503: "UNAVAILABLE",
}

// IsNotFound reports whether err is a NOT_FOUND answer (no such document, or
// one the caller may not see: the server does not say which).
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsForbidden reports whether err is a FORBIDDEN answer.
func IsForbidden(err error) bool { return errors.Is(err, ErrForbidden) }
