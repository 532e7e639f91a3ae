package service

// The steps shared by every kind of write: the errors they answer, the
// pre-image read under the write's decision, the compare-and-swap condition
// on it, and the read-back through the read rules. Each operation has its
// own file (create.go, patch.go, replace.go, delete.go; the batch forms in
// batch.go), so that the checks one makes can be read in one place.

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/mongosem"
	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/policy/when"
)

func errStamp(field string) error {
	return apperr.Invalid("field %q is set by the server and cannot be written", field).
		WithDetails(map[string]any{"field": field})
}

func errWriteDenied(field string) error {
	return apperr.Forbidden("writing field %q is not allowed", field).
		WithDetails(map[string]any{"field": field})
}

func errOutOfScope(what string) error {
	return apperr.Forbidden("the %s would leave the caller's scope", what)
}

func errConflict() error {
	return apperr.New(apperr.KindConflict, "the document was modified concurrently; read it again and retry")
}

// rawValue encodes a Go value the way it will be stored.
func rawValue(v any) (bson.RawValue, error) {
	t, b, err := bson.MarshalValue(v)
	if err != nil {
		return bson.RawValue{}, err
	}
	return bson.RawValue{Type: t, Value: b}, nil
}

// sameValue reports whether a and b are equal as stored values, by MongoDB's
// comparison (so 1 and 1.0 are equal). A value that cannot be encoded equals
// nothing: a check built on it fails closed.
func sameValue(a, b any) bool {
	ra, errA := rawValue(a)
	rb, errB := rawValue(b)
	return errA == nil && errB == nil && mongosem.Equal(ra, rb)
}

// readBack shows a document the caller just wrote through its read rules.
func (r *request) readBack(doc bson.Raw) (bson.Raw, error) {
	out, ok, err := show(r.decide(policy.Read), doc, nil)
	if err != nil {
		return nil, err
	}
	if !ok {
		return idOnly(doc), nil
	}
	return out, nil
}

// preImage reads the document to write as the update decision lets the caller
// reach it. nil (with a 404) when it does not exist or is out of reach.
func (r *request) preImage(ctx context.Context, d *policy.Decision, id any) (bson.Raw, error) {
	if d.State == when.Never {
		return nil, errNotFound()
	}
	pre, err := r.s.store.FindOne(ctx, r.coll, and(idFilter(id), policyFilter(d)))
	if err != nil {
		return nil, err
	}
	if pre == nil {
		return nil, errNotFound()
	}
	if err := checkIfMatch(ctx, pre); err != nil {
		return nil, err
	}
	return pre, nil
}

// nextStamp is the updated_at of the next version of pre: now, but always
// later than pre's, so that two versions never share a stamp and the
// compare-and-swap on updated_at cannot confuse them.
func (r *request) nextStamp(pre bson.Raw) bson.DateTime {
	next := bson.NewDateTimeFromTime(r.now)
	if v, err := pre.LookupErr(FieldUpdatedAt); err == nil && v.Type == bson.TypeDateTime {
		if prev := v.DateTime(); int64(next) <= prev {
			next = bson.DateTime(prev + 1)
		}
	}
	return next
}

// casCond matches the document only while it still carries pre's
// updated_at (absent included).
func casCond(pre bson.Raw) bson.D {
	v, err := pre.LookupErr(FieldUpdatedAt)
	if err != nil {
		return bson.D{{Key: FieldUpdatedAt, Value: bson.D{{Key: "$exists", Value: false}}}}
	}
	return bson.D{{Key: FieldUpdatedAt, Value: bson.D{{Key: "$eq", Value: v}}}}
}
