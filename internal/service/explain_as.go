package service

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/audit"
	"github.com/permission-mongo/permission-mongo/internal/auth"
	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/principal"
)

// Subject names the principal an explanation is for when it is not the
// caller: either described (Principal: id, roles, claims; its TenantID empty
// or the caller's) or an API key's, by id (KeyID, looked up in Keys once the
// caller is known to be allowed, so that nobody else can time the store).
type Subject struct {
	Principal *principal.Principal
	KeyID     string
	Keys      auth.KeyStore
}

// AuditExplainAs is the audit action of explaining another principal.
const AuditExplainAs = "explain.as"

// ExplainedAs is an explanation for a subject, with the principal it was
// computed for.
type ExplainedAs struct {
	*Explanation
	Principal *principal.Principal
	// HierarchyUnresolved is set when the policy has a hierarchy section:
	// user.$directReports, $subordinates and $ancestors are left absent for
	// a subject (see ExplainAs).
	HierarchyUnresolved bool
}

// errNoSuchKey is one answer for a key that does not exist and one of
// another tenant, so that an administrator cannot probe other tenants' key
// ids.
func errNoSuchKey(id string) error {
	return apperr.NotFound("no API key %q in your tenant", id)
}

// ExplainAs returns the decision another principal of the caller's tenant
// gets for action on coll. It needs the explain.any_principal system
// permission and a caller with a tenant; the subject is always placed in
// the caller's tenant, so no tenant's access but the caller's own can be
// explained. Its roles must be declared by the policy.
//
// An explanation shows policy, not documents, so the subject's roles need
// not be among the caller's. The hierarchy values of a subject are not
// resolved: the hierarchy collection is not divided by tenant, so resolving
// a typed user id would show another tenant's reporting lines in the filter.
func (s *Service) ExplainAs(ctx context.Context, caller *principal.Principal, sub Subject, coll, action string) (*ExplainedAs, error) {
	if caller == nil {
		return nil, apperr.New(apperr.KindUnauthenticated, "authentication required")
	}
	// Its own audit action, refusals included, so that an auditor can tell
	// explaining others (and probing for keys) from explaining oneself.
	audit.FromContext(ctx).SetAction(AuditExplainAs, coll)
	set := s.policies.Load()
	if set == nil {
		return nil, apperr.New(apperr.KindUnavailable, "no policy loaded")
	}
	if !set.SystemAllowed(caller.Roles, policy.PermExplainAnyPrincipal) {
		return nil, apperr.Forbidden("explaining another principal's access needs the %s permission", policy.PermExplainAnyPrincipal)
	}
	if caller.TenantID == "" {
		return nil, apperr.Forbidden("explaining another principal's access needs a caller with a tenant")
	}
	var p *principal.Principal
	switch {
	case sub.KeyID != "" && sub.Principal != nil:
		return nil, apperr.Invalid(`give "principal" or "api_key_id", not both`)
	case sub.KeyID != "":
		if sub.Keys == nil {
			return nil, errNoSuchKey(sub.KeyID)
		}
		rec, err := sub.Keys.Get(ctx, sub.KeyID)
		switch {
		case errors.Is(err, auth.ErrKeyNotFound):
			return nil, errNoSuchKey(sub.KeyID)
		case err != nil:
			return nil, apperr.Wrap(apperr.KindUnavailable, err, "the key store could not be read")
		case rec.Principal.TenantID != caller.TenantID:
			return nil, errNoSuchKey(sub.KeyID)
		}
		kp := rec.Principal
		p = &kp
	case sub.Principal != nil:
		if sub.Principal.ID == "" {
			return nil, apperr.Invalid(`"principal.id" is required`)
		}
		if sub.Principal.TenantID != "" && sub.Principal.TenantID != caller.TenantID {
			return nil, apperr.Forbidden("only principals of your own tenant can be explained").
				WithDetails(map[string]any{"tenant_id": caller.TenantID})
		}
		cp := *sub.Principal
		cp.TenantID = caller.TenantID
		for _, r := range cp.Roles {
			if _, ok := set.Roles[r]; !ok {
				return nil, apperr.Invalid("role %q is not declared in the policy", r).WithDetails(map[string]any{"role": r})
			}
		}
		p = &cp
	default:
		return nil, apperr.Invalid(`name the principal to explain: "principal" or "api_key_id"`)
	}
	if p.Roles == nil {
		p.Roles = []string{}
	}
	p.Roles = slices.Clone(p.Roles)
	if err := CheckCollection(coll); err != nil {
		return nil, err
	}
	// As begin, but with the principal's own values only (no hierarchy).
	now := s.now().UTC().Truncate(time.Millisecond)
	r := &request{s: s, p: p, coll: coll, set: set, env: set.NewEnv(p, now), now: now}
	e, err := r.explain(action)
	if err != nil {
		return nil, err
	}
	return &ExplainedAs{Explanation: e, Principal: p, HierarchyUnresolved: set.Hierarchy != nil}, nil
}
