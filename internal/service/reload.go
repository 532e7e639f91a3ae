package service

import (
	"context"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/principal"
)

// ReloadPolicies runs reload (this proxy and, through Redis, every other)
// for a caller holding policies.reload, and returns the hash of the set now
// enforced. reload nil answers 501.
func (s *Service) ReloadPolicies(ctx context.Context, p *principal.Principal, reload func(context.Context) (string, error)) (string, error) {
	if p == nil {
		return "", apperr.New(apperr.KindUnauthenticated, "authentication required")
	}
	if reload == nil {
		return "", apperr.New(apperr.KindNotSupported, "policy reload is not configured")
	}
	if !s.Policies().SystemAllowed(p.Roles, policy.PermPoliciesReload) {
		return "", apperr.Forbidden("reloading policies needs the %s permission", policy.PermPoliciesReload)
	}
	return reload(ctx)
}
