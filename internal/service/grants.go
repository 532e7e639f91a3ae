package service

import (
	"context"
	"time"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/grant"
	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/principal"
	"github.com/permission-mongo/permission-mongo/internal/store"
)

// GrantManager issues and tracks credential grants (*grant.Manager).
type GrantManager interface {
	Issue(ctx context.Context, owner, tenant string, a *grant.Approved) (*grant.Credentials, error)
	Get(ctx context.Context, id string) (*grant.Record, error)
	List(ctx context.Context, owner string) ([]grant.Record, error)
	Renew(ctx context.Context, id string, ttl time.Duration) (time.Time, error)
	Revoke(ctx context.Context, id string) error
}

// Grants decides who may ask for, see, renew and revoke credential grants,
// and applies the decision to a GrantManager. The rules, in one place:
//
//   - a grant is owned by a principal id within its tenant, so a caller
//     without an id can do nothing here (an empty owner would match every
//     ownerless ledger entry);
//   - what may be granted is the policy's `grants:` rules (grant.Decide),
//     decided again with the rules in force at every renewal;
//   - the owner sees, renews and revokes their grants; grants.admin sees
//     and revokes every grant but renews none (it does not extend someone
//     else's access);
//   - a grant the caller may not see is a 404, exactly like one that does
//     not exist.
type Grants struct {
	svc *Service
	m   GrantManager
}

// Grants returns grant administration over m; m nil answers 501 (issue only
// after the rule checks, so that a refusal still says why).
func (s *Service) Grants(m GrantManager) *Grants { return &Grants{svc: s, m: m} }

func errGrantsNotConfigured() error {
	return apperr.New(apperr.KindNotSupported, "credential grants are not configured on this proxy").
		WithDetails(map[string]any{"capability": store.CapUserManagement})
}

func grantCaller(p *principal.Principal) error {
	if p == nil || p.ID == "" {
		return apperr.Forbidden("credential grants need a caller with an id")
	}
	return nil
}

// ownsGrant: ids are only unique per tenant.
func ownsGrant(p *principal.Principal, r *grant.Record) bool {
	return p.ID != "" && r.Owner == p.ID && r.Tenant == p.TenantID
}

func (g *Grants) isAdmin(p *principal.Principal) bool {
	return g.svc.Policies().SystemAllowed(p.Roles, policy.PermGrantsAdmin)
}

// Issue decides req with the policy and creates the grant; the answer holds
// the password, shown this once.
func (g *Grants) Issue(ctx context.Context, p *principal.Principal, req grant.Request) (*grant.Credentials, error) {
	if err := grantCaller(p); err != nil {
		return nil, err
	}
	a, err := grant.Decide(g.svc.Policies(), p.Roles, req)
	if err != nil {
		return nil, err
	}
	if g.m == nil {
		return nil, errGrantsNotConfigured()
	}
	return g.m.Issue(ctx, p.ID, p.TenantID, a)
}

// List returns the caller's grants, or every grant for grants.admin; newest
// first.
func (g *Grants) List(ctx context.Context, p *principal.Principal) ([]grant.Record, error) {
	if err := grantCaller(p); err != nil {
		return nil, err
	}
	if g.m == nil {
		return nil, errGrantsNotConfigured()
	}
	admin := g.isAdmin(p)
	owner := p.ID
	if admin {
		owner = ""
	}
	recs, err := g.m.List(ctx, owner)
	if err != nil {
		return nil, err
	}
	out := recs[:0]
	for i := range recs {
		// The ledger matched the owner id; the tenant is checked here.
		if admin || ownsGrant(p, &recs[i]) {
			out = append(out, recs[i])
		}
	}
	return out, nil
}

// Get returns a grant the caller may see: their own, or any with
// grants.admin; anything else is a 404.
func (g *Grants) Get(ctx context.Context, p *principal.Principal, id string) (*grant.Record, error) {
	if err := grantCaller(p); err != nil {
		return nil, err
	}
	if g.m == nil {
		return nil, errGrantsNotConfigured()
	}
	rec, err := g.m.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if !ownsGrant(p, rec) && !g.isAdmin(p) {
		return nil, apperr.NotFound("no such grant")
	}
	return rec, nil
}

// Renew extends the caller's own active grant by ttl (a Go duration), within
// the max_ttl of the rule in force now, and returns the new expiry.
func (g *Grants) Renew(ctx context.Context, p *principal.Principal, id, ttl string) (time.Time, error) {
	rec, err := g.Get(ctx, p, id)
	if err != nil {
		return time.Time{}, err
	}
	if d, err := time.ParseDuration(ttl); err != nil || d <= 0 {
		return time.Time{}, apperr.Invalid("ttl %q is not a positive duration", ttl)
	}
	if !ownsGrant(p, rec) {
		return time.Time{}, apperr.Forbidden("only the owner of a grant may renew it")
	}
	if rec.Status != grant.Active {
		return time.Time{}, apperr.New(apperr.KindConflict, "grant is %s, not active", rec.Status)
	}
	if !g.svc.now().Before(rec.ExpiresAt) {
		return time.Time{}, apperr.New(apperr.KindConflict, "grant has expired; ask for a new one")
	}
	// The policy may have changed since the issue (a reload): renewing is a
	// new decision, made with the rules in force now.
	a, err := grant.Decide(g.svc.Policies(), p.Roles, grant.Request{
		Database: rec.Database, Collections: rec.Collections, Actions: rec.Actions, TTL: ttl, ClientSource: rec.ClientSource})
	if err != nil {
		return time.Time{}, err
	}
	return g.m.Renew(ctx, rec.ID, a.TTL)
}

// Revoke revokes a grant the caller may see; revoking twice is fine.
func (g *Grants) Revoke(ctx context.Context, p *principal.Principal, id string) (string, error) {
	rec, err := g.Get(ctx, p, id)
	if err != nil {
		return "", err
	}
	if err := g.m.Revoke(ctx, rec.ID); err != nil {
		return "", err
	}
	return rec.ID, nil
}
