package service

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
)

// ETag returns the entity tag of a stored document: a strong, opaque tag
// derived from its _id and updated_at.
//
// Why updated_at and not the content: every write through the service
// stamps updated_at strictly later than the stamp it replaces (nextStamp),
// so the pair changes whenever the proxy changes the document, and it is
// exactly what the writes' compare-and-swap (casCond) already conditions
// on, which makes If-Match atomic with the write at no extra cost. A hash of
// the content would also change with fields the caller cannot read and,
// worse, let a caller confirm guesses of a hidden low-entropy field by
// hashing candidate documents. The price: a write that bypasses the proxy
// and leaves updated_at alone does not change the tag (docs/http.md).
func ETag(doc bson.Raw) string {
	h := sha256.New()
	id := doc.Lookup("_id")
	h.Write([]byte{byte(id.Type)})
	h.Write(id.Value)
	if v, err := doc.LookupErr(FieldUpdatedAt); err == nil {
		h.Write([]byte{byte(v.Type)})
		h.Write(v.Value)
	} else {
		h.Write([]byte{0})
	}
	return `"` + base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:18]) + `"`
}

// Conditions carry the HTTP preconditions of one single-document request
// into the service and the resulting ETag back out. They travel in the
// context (WithConditions) like the audit notes do, so that the write paths
// shared with batches and restores need no extra parameter: a request
// without Conditions is unconditional.
type Conditions struct {
	// IfMatch lists the entity tags of an If-Match header; "*" matches any
	// current document. Empty means no precondition.
	IfMatch []string
	// ETag is set by Create, Get, Patch, Replace and RestoreVersion to the
	// tag of the document as stored after the call.
	ETag string
}

type conditionsKey struct{}

// WithConditions returns ctx carrying c.
func WithConditions(ctx context.Context, c *Conditions) context.Context {
	return context.WithValue(ctx, conditionsKey{}, c)
}

func conditionsOf(ctx context.Context) *Conditions {
	c, _ := ctx.Value(conditionsKey{}).(*Conditions)
	return c
}

// conditional reports whether the request carries an If-Match.
func conditional(ctx context.Context) bool {
	c := conditionsOf(ctx)
	return c != nil && len(c.IfMatch) > 0
}

func errPrecondition() error {
	return apperr.New(apperr.KindPreconditionFailed, "If-Match does not match the document's current ETag; read it again and retry")
}

// checkIfMatch compares the If-Match of ctx with pre, the stored document
// about to be written. The write that follows is a compare-and-swap on the
// same updated_at, so a change between this check and the write is caught
// there (conflict) and reported as a failed precondition too.
func checkIfMatch(ctx context.Context, pre bson.Raw) error {
	c := conditionsOf(ctx)
	if c == nil || len(c.IfMatch) == 0 || slices.Contains(c.IfMatch, "*") {
		return nil
	}
	if !slices.Contains(c.IfMatch, ETag(pre)) {
		return errPrecondition()
	}
	return nil
}

// conflict is the error of a compare-and-swap that matched nothing: the
// document changed since it was read. Under If-Match the client's tag is
// then stale, which the contract answers with 412.
func conflict(ctx context.Context) error {
	if conditional(ctx) {
		return errPrecondition()
	}
	return errConflict()
}

// noteETag reports the tag of doc, as now stored, to the caller.
func noteETag(ctx context.Context, doc bson.Raw) {
	if c := conditionsOf(ctx); c != nil {
		c.ETag = ETag(doc)
	}
}
