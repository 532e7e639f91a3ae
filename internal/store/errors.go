package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
)

// Server error codes that Translate classifies. They are MongoDB's stable
// numeric codes (src/mongo/base/error_codes.yml); FerretDB returns the same
// ones. Classifying by code, never by message text, keeps the mapping stable
// across server versions, languages and backends.
const (
	CodeBadValue                  = 2
	CodeHostUnreachable           = 6
	CodeHostNotFound              = 7
	CodeFailedToParse             = 9
	CodeTypeMismatch              = 14
	CodeMaxTimeMSExpired          = 50
	CodeCommandNotFound           = 59
	CodeNetworkTimeout            = 89
	CodeShutdownInProgress        = 91
	CodeWriteConflict             = 112
	CodeDocumentValidationFailure = 121
	CodePrimarySteppedDown        = 189
	CodeNotImplemented            = 238
	CodeExceededTimeLimit         = 262
	CodeNotWritablePrimary        = 10107
	CodeDuplicateKey              = 11000
	CodeDuplicateKeyOnUpdate      = 11001
	CodeInterruptedAtShutdown     = 11600
	CodeDuplicateKeyCapped        = 12582
	CodeNotPrimaryNoSecondaryOk   = 13435
)

// Server codes for client mistakes, found by provoking each mistake on the
// embedded FerretDB v1.24 and on FerretDB v2 + DocumentDB (the tests in
// translate_test.go do it again on whichever engine they run on). All
// become 400, never 500: the request, not the server, was wrong.
const (
	// CodePathNotViable: an update path runs through a scalar ($set "s.x" or
	// "s.0" where s is a string), on both engines; FerretDB v1 also answers
	// it for positional operators that match nothing ("a.$", "a.$[x]").
	CodePathNotViable = 28
	// CodeConflictingUpdateOperators: two paths of one update overlap ("a"
	// and "a.b"), on both engines. The proxy refuses those itself first.
	CodeConflictingUpdateOperators = 40
	// CodeImmutableField: an update would change _id (DocumentDB; FerretDB
	// v1 ignores it). The proxy refuses those itself first.
	CodeImmutableField = 66
	// CodeInvalidRegex: a $regex pattern that does not compile, on both
	// engines (MongoDB's assertion id 51091, named "Location51091").
	// Patterns are not pre-checked with Go's regexp: the servers speak PCRE,
	// which accepts lookbehind, backreferences and possessive quantifiers
	// that Go's RE2 refuses.
	CodeInvalidRegex = 51091
	// CodeDocumentDBInvalidRegexInWrite is DocumentDB's code for the same
	// invalid pattern in the filter of a write (deleteMany), reported as a
	// write error; FerretDB v1 answers 51091 there too.
	CodeDocumentDBInvalidRegexInWrite = 405012509
	// CodeDocumentDBBackfillLimit: an update names an array index more than
	// 1,500,000 past the end of the array (DocumentDB; MongoDB answers
	// BadValue). The proxy refuses such indexes itself first
	// (query.MaxUpdateIndex).
	CodeDocumentDBBackfillLimit = 318767133
	// CodeDocumentDBValidationFailure is DocumentDB's code for a document
	// that fails the collection's validator, where MongoDB answers 121.
	CodeDocumentDBValidationFailure = 525074461
)

// Client-visible messages. They are fixed strings on purpose: the driver's
// and the server's text (which can echo field names, values and internals)
// goes only into Cause, which is logged and never returned.
const (
	msgTimeout       = "query timed out"
	msgUnavailable   = "database unavailable"
	msgCanceled      = "request canceled"
	msgConflict      = "duplicate key"
	msgWriteConflict = "concurrent modification, retry the request"
	msgInvalid       = "the database rejected the request as invalid"
	msgInvalidRegex  = "the regular expression is invalid"
	msgPathNotViable = "an update path runs through a value that cannot hold fields, or a positional operator matched no array element"
	msgValidation    = "document failed the database's validation"
	msgExpression    = "an expression of the request cannot be evaluated on the values it met (wrong type, undefined variable)"
	msgNotSupported  = "the database backend does not support this operation"
	msgNotFound      = "not found"
	msgInternal      = "internal error"
)

// Translate maps an error from the MongoDB driver to an *apperr.Error, so
// that the api layer chooses an HTTP status in one place and never shows
// driver text. nil stays nil and an *apperr.Error is returned unchanged.
// Unclassified errors become KindInternal with the original as Cause.
func Translate(err error) error {
	return translate(err, "")
}

// TranslateFor is Translate for an operation that needs a named capability
// (for example "$lookup" or "user management"): when the server answers
// NotImplemented or CommandNotFound, the KindNotSupported message names it and
// Details carries {"capability": capability}. The server cannot be asked which
// capability it lacked without parsing its message, so the caller, which knows
// what it asked for, names it.
func TranslateFor(err error, capability string) error {
	return translate(err, capability)
}

func translate(err error, capability string) error {
	if err == nil {
		return nil
	}
	var ae *apperr.Error
	if errors.As(err, &ae) {
		return err
	}
	if errors.Is(err, mongo.ErrNoDocuments) {
		return apperr.Wrap(apperr.KindNotFound, err, msgNotFound)
	}

	// Duplicate key first: a bulk write can carry several codes, and a
	// duplicate among them is what the client can act on.
	if mongo.IsDuplicateKeyError(err) || hasCode(err, CodeDuplicateKey, CodeDuplicateKeyOnUpdate, CodeDuplicateKeyCapped) ||
		isUniqueViolation(err) {
		return apperr.Wrap(apperr.KindConflict, err, msgConflict)
	}
	if IsTransientConflict(err) {
		return apperr.Wrap(apperr.KindConflict, scrub(err), msgWriteConflict)
	}

	// An unreachable server is reported as such even when the wait for it
	// ended by a deadline: "timed out" would send people tuning query limits.
	if isUnreachable(err) || isStorageRestarting(err) {
		return apperr.Wrap(apperr.KindUnavailable, err, msgUnavailable)
	}
	if mongo.IsTimeout(err) || errors.Is(err, context.DeadlineExceeded) ||
		hasCode(err, CodeMaxTimeMSExpired, CodeExceededTimeLimit, CodeNetworkTimeout) {
		return apperr.Wrap(apperr.KindUnavailable, err, msgTimeout)
	}
	if errors.Is(err, context.Canceled) {
		// The client went away; nobody reads the answer, but it must not be a 500.
		return apperr.Wrap(apperr.KindUnavailable, err, msgCanceled)
	}

	if hasCode(err, CodeNotImplemented, CodeCommandNotFound) {
		if capability == "" {
			return apperr.Wrap(apperr.KindNotSupported, err, msgNotSupported)
		}
		e := apperr.Wrap(apperr.KindNotSupported, err, "the database backend does not support %s", capability)
		return e.WithDetails(map[string]any{"capability": capability})
	}
	if hasCode(err, CodeInvalidRegex, CodeDocumentDBInvalidRegexInWrite) {
		return apperr.Wrap(apperr.KindInvalid, scrub(err), msgInvalidRegex)
	}
	if hasCode(err, CodePathNotViable) {
		return apperr.Wrap(apperr.KindInvalid, scrub(err), msgPathNotViable)
	}
	if hasCode(err, CodeBadValue, CodeFailedToParse, CodeTypeMismatch, CodeConflictingUpdateOperators, CodeImmutableField,
		CodeDocumentDBBackfillLimit) {
		return apperr.Wrap(apperr.KindInvalid, scrub(err), msgInvalid)
	}
	if isExpressionError(err) {
		return apperr.Wrap(apperr.KindInvalid, scrub(err), msgExpression)
	}
	if hasCode(err, CodeDocumentValidationFailure, CodeDocumentDBValidationFailure) {
		return apperr.Wrap(apperr.KindValidation, scrub(err), msgValidation)
	}
	return apperr.Wrap(apperr.KindInternal, scrub(err), msgInternal)
}

// scrubbedError is a server error reduced to its code and name.
type scrubbedError struct {
	code int32
	name string
}

func (e scrubbedError) Error() string { return fmt.Sprintf("server error %d (%s)", e.code, e.name) }

// scrub keeps a server error's code and name and drops its message: servers
// quote documents in messages (a PathNotViable names the whole document,
// hidden fields included), and the cause of an error is logged.
func scrub(err error) error {
	var ce mongo.CommandError
	if errors.As(err, &ce) {
		return scrubbedError{ce.Code, ce.Name}
	}
	var we mongo.WriteException
	if errors.As(err, &we) && len(we.WriteErrors) > 0 {
		return scrubbedError{int32(we.WriteErrors[0].Code), "write error"}
	}
	var wr mongo.WriteError
	if errors.As(err, &wr) {
		return scrubbedError{int32(wr.Code), "write error"}
	}
	var bwe mongo.BulkWriteException
	if errors.As(err, &bwe) && len(bwe.WriteErrors) > 0 {
		return scrubbedError{int32(bwe.WriteErrors[0].Code), "bulk write error"}
	}
	var se mongo.ServerError
	if errors.As(err, &se) {
		return errors.New("server error")
	}
	return err
}

// DocumentDB reports PostgreSQL errors it does not translate with the
// SQLSTATE packed into the code (PostgreSQL's MAKE_SQLSTATE: six bits a
// character, first character lowest). Two of them are transient conflicts
// between concurrent writers, which PostgreSQL expects the client to retry:
const (
	// CodeDocumentDBDeadlock is SQLSTATE 40P01 (deadlock_detected): seen
	// when concurrent inserts race for the same key of a unique index, which
	// DocumentDB enforces with an exclusion constraint.
	CodeDocumentDBDeadlock = 16908292
	// CodeDocumentDBSerialization is SQLSTATE 40001 (serialization_failure).
	CodeDocumentDBSerialization = 16777220
)

// IsTransientConflict reports a write that lost a race with another writer
// and may succeed if retried: MongoDB's WriteConflict, and DocumentDB's
// deadlock and serialization failures.
func IsTransientConflict(err error) bool {
	return hasCode(err, CodeWriteConflict, CodeDocumentDBDeadlock, CodeDocumentDBSerialization)
}

// codeInternalError is the generic code a server gives an error it did not
// classify.
const codeInternalError = 1

// uniqueViolationTexts are the storage engines' fixed texts for a unique
// constraint broken by a write: PostgreSQL's for SQLSTATE 23P01 (how
// DocumentDB enforces unique indexes) and SQLite's for
// SQLITE_CONSTRAINT_UNIQUE.
var uniqueViolationTexts = []string{"violates exclusion constraint", "UNIQUE constraint failed"}

// isUniqueViolation recognises the one error this package classifies by
// text: FerretDB answers some writes that break a unique index with
// InternalError (1) and its storage engine's message instead of MongoDB's
// 11000 — v2 on DocumentDB for findAndModify, v1 on SQLite for updates. Only
// that code with one of those fixed phrases is matched, so a client's
// duplicate is a 409 on every engine rather than a 500.
func isUniqueViolation(err error) bool {
	return isInternalErrorSaying(err, uniqueViolationTexts)
}

// isInternalErrorSaying reports an InternalError (1) whose message holds one
// of texts: the few failures FerretDB passes on under that code are told
// apart by their fixed wording, and nothing else under it is classified.
func isInternalErrorSaying(err error, texts []string) bool {
	var ce mongo.CommandError
	if !errors.As(err, &ce) || ce.Code != codeInternalError {
		return false
	}
	return slices.ContainsFunc(texts, func(s string) bool { return strings.Contains(ce.Message, s) })
}

// Codes of expression errors that FerretDB v2 on DocumentDB reports under
// a name of its own instead of MongoDB's "Location<code>".
const (
	// CodeConversionFailure: $convert/$toString and friends met a value they
	// cannot convert (both engines name it ConversionFailure).
	CodeConversionFailure = 241
	// CodeDollarSizeRequiresArray: $size of a value that is not an array.
	CodeDollarSizeRequiresArray = 17124
)

// isExpressionError reports an error raised while evaluating a client's
// expression against the values it met: MongoDB names those by the source
// location of the check ("Location16702": $concat of a non-string,
// "Location40228": $replaceRoot onto a non-document, "Location17276": an
// undefined variable, ...), and FerretDB v2 on DocumentDB keeps the same
// names. The pipeline or update came from the client and passed the proxy's
// checks, so what is left is a mistake in it: 400, never 500. Matched by the
// error's name, which is part of the protocol, not by its message.
func isExpressionError(err error) bool {
	var ce mongo.CommandError
	if errors.As(err, &ce) && strings.HasPrefix(ce.Name, "Location") {
		return true
	}
	return hasCode(err, CodeConversionFailure, CodeDollarSizeRequiresArray)
}

// storageRestartingTexts are PostgreSQL's fixed texts for SQLSTATE 57P03
// (cannot_connect_now) and 57P01 (admin_shutdown).
var storageRestartingTexts = []string{
	"the database system is starting up",
	"the database system is in recovery mode",
	"the database system is not yet accepting connections",
	"the database system is shutting down",
}

// isStorageRestarting recognises FerretDB v2 passing on, as InternalError
// (1), PostgreSQL's refusal while it starts or recovers from a crash: the
// database is unavailable for a moment, which is a 503 to retry, not a 500.
func isStorageRestarting(err error) bool {
	return isInternalErrorSaying(err, storageRestartingTexts)
}

// isUnreachable reports whether err means the server could not be reached or
// is going away (as opposed to having answered with an error).
func isUnreachable(err error) bool {
	if mongo.IsNetworkError(err) || errors.Is(err, mongo.ErrClientDisconnected) {
		return true
	}
	if errors.As(err, &topology.ServerSelectionError{}) || errors.As(err, &topology.ConnectionError{}) {
		return true
	}
	return hasCode(err, CodeHostUnreachable, CodeHostNotFound, CodeShutdownInProgress,
		CodeInterruptedAtShutdown, CodePrimarySteppedDown, CodeNotWritablePrimary, CodeNotPrimaryNoSecondaryOk)
}

// hasCode reports whether the server error in err's chain carries any of
// codes, including codes of nested write and write-concern errors.
func hasCode(err error, codes ...int) bool {
	var se mongo.ServerError
	if !errors.As(err, &se) {
		return false
	}
	return slices.ContainsFunc(codes, se.HasErrorCode)
}

// IsUnreachable reports whether err means the server could not be reached,
// as opposed to having answered (with an error or not).
func IsUnreachable(err error) bool { return isUnreachable(err) }
