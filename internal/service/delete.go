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
