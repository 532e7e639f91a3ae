package service

import (
	"context"

	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/policy/when"
	"github.com/permission-mongo/permission-mongo/internal/principal"
)

// Delete deletes one document. A document the caller may not delete answers
// 404, like one that does not exist.
func (s *Service) Delete(ctx context.Context, p *principal.Principal, coll, id string) (any, error) {
	r, d, oid, err := s.beginDoc(p, coll, policy.Delete, id)
	if err != nil {
		return nil, err
	}
	if d.State == when.Never {
		return nil, errNotFound()
	}
	n, err := r.deleteOne(ctx, d, oid)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, errNotFound()
	}
	auditDoc(ctx, oid, nil)
	r.emit(ctx, "delete", oid)
	return oid, nil
}

// deleteOne deletes the document id within d's scope. On a versioned
// collection the document is read first, saved as a version, and deleted by
// a compare-and-swap on that state (409 if it changed meanwhile), so the
// version saved is exactly the state deleted.
//
// Under If-Match the same read-then-compare-and-swap runs on any collection:
// the tag is checked on the state read, and the delete only matches that
// state.
func (r *request) deleteOne(ctx context.Context, d *policy.Decision, id any) (int64, error) {
	if !r.versioned() && !conditional(ctx) {
		return r.s.store.DeleteOne(ctx, r.coll, and(idFilter(id), policyFilter(d)))
	}
	pre, err := r.preImage(ctx, d, id)
	if err != nil {
		return 0, err
	}
	var n int64
	err = r.casWrite(ctx, d, id, pre, "delete", func(filter any) (matched bool, err error) {
		n, err = r.s.store.DeleteOne(ctx, r.coll, filter)
		return n > 0, err
	})
	return n, err
}
