// Package apperr defines the few kinds of error the service returns. Every
// package returns these; the api package maps them to HTTP in one place, so a
// status code is never chosen anywhere else.
package apperr

import (
	"errors"
	"fmt"
)

// Kind is the class of an error, one per HTTP status family of the contract.
type Kind int

const (
	KindInternal        Kind = iota // 500 INTERNAL
	KindInvalid                     // 400 BAD_REQUEST
	KindInvalidCursor               // 400 INVALID_CURSOR
	KindUnauthenticated             // 401 UNAUTHENTICATED
	KindForbidden                   // 403 FORBIDDEN
	KindNotFound                    // 404 NOT_FOUND
	KindConflict                    // 409 CONFLICT
	KindTooLarge                    // 413 PAYLOAD_TOO_LARGE
	KindValidation                  // 422 VALIDATION_FAILED
	KindRateLimited                 // 429 RATE_LIMITED
	KindNotSupported                // 501 NOT_SUPPORTED
	KindUnavailable                 // 503 UNAVAILABLE
)

// KindPreconditionFailed is 412 PRECONDITION_FAILED: an If-Match that does
// not name the document's current ETag. Declared apart to keep the list
// above stable.
const KindPreconditionFailed = KindUnavailable + 1

// Error is a classified error. Message is safe to show to the client;
// Cause is logged only and never returned.
type Error struct {
	Kind    Kind
	Message string
	Details map[string]any
	Cause   error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return e.Message + ": " + e.Cause.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Cause }

// New returns an error of kind k with a client-safe message.
func New(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// Wrap classifies cause; its text stays internal.
func Wrap(k Kind, cause error, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...), Cause: cause}
}

// WithDetails attaches client-visible details.
func (e *Error) WithDetails(d map[string]any) *Error {
	e.Details = d
	return e
}

// KindOf returns the kind of err, KindInternal for unclassified errors.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// Shorthands for the kinds used most.
func Invalid(format string, args ...any) *Error   { return New(KindInvalid, format, args...) }
func Forbidden(format string, args ...any) *Error { return New(KindForbidden, format, args...) }
func NotFound(format string, args ...any) *Error  { return New(KindNotFound, format, args...) }
