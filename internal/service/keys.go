package service

import (
	"context"
	"strings"
	"time"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/auth"
	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/principal"
	"github.com/permission-mongo/permission-mongo/internal/store"
)

// KeyStore is where API keys created at run time live (*store.APIKeys,
// wrapped by the fleet so that revocations reach every proxy).
type KeyStore interface {
	Create(ctx context.Context, r *auth.KeyRecord, createdBy string) error
	List(ctx context.Context, tenantID string, limit int64) ([]*store.StoredKey, error)
	Revoke(ctx context.Context, tenantID, id string, now time.Time) (bool, error)
}

// MaxKeyLifetime bounds a key's expires_in: a key that outlives every
// rotation policy is a key nobody remembers to revoke.
const MaxKeyLifetime = 366 * 24 * time.Hour

// maxKeysListed bounds one GET /admin/api-keys.
const maxKeysListed = 1000

// KeyRequest is a key to create: its name, the principal it stands for and
// its lifetime (0: no expiry). Principal.TenantID "" means the caller's.
type KeyRequest struct {
	Name      string
	Principal principal.Principal
	ExpiresIn time.Duration
}

// Keys decides who may manage which API keys and applies the decision to a
// KeyStore. It is the one place these rules live:
//
//   - api_keys.manage manages the keys of the caller's own tenant, and needs
//     a caller with a tenant;
//   - api_keys.manage_any_tenant (a platform operator) manages the keys of
//     any tenant, named in the request, so that a new tenant is onboarded
//     without editing files;
//   - a new key holds only roles the policy declares and no system
//     permission its creator lacks, so that neither kind of administrator
//     can mint a key more powerful than themselves.
type Keys struct {
	svc   *Service
	store KeyStore
}

// Keys returns key administration over ks; ks nil answers every call with
// 501, as a server without a key store must.
func (s *Service) Keys(ks KeyStore) *Keys { return &Keys{svc: s, store: ks} }

// tenantFor returns the tenant whose keys the caller may manage in this
// request: requested ("" for the caller's own) when the caller's
// permissions allow it.
func (k *Keys) tenantFor(caller *principal.Principal, requested string) (string, error) {
	if caller == nil {
		return "", apperr.New(apperr.KindUnauthenticated, "authentication required")
	}
	if k.store == nil {
		return "", apperr.New(apperr.KindNotSupported, "API key management is not configured")
	}
	set := k.svc.Policies()
	switch {
	case set.SystemAllowed(caller.Roles, policy.PermAPIKeysManageAnyTenant):
		if requested == "" {
			requested = caller.TenantID
		}
		if requested == "" {
			return "", apperr.Invalid("name the tenant whose keys to manage (tenant_id)")
		}
		return requested, nil
	case set.SystemAllowed(caller.Roles, policy.PermAPIKeysManage):
		if caller.TenantID == "" {
			return "", apperr.Forbidden("managing API keys needs a caller with a tenant")
		}
		if requested != "" && requested != caller.TenantID {
			return "", apperr.Forbidden("managing the API keys of another tenant needs the %s permission", policy.PermAPIKeysManageAnyTenant)
		}
		return caller.TenantID, nil
	default:
		return "", apperr.Forbidden("managing API keys needs the %s permission", policy.PermAPIKeysManage)
	}
}

// holds reports whether roles hold perm for the no-escalation rule. Managing
// the keys of any tenant includes managing those of one's own.
func holds(set *policy.Set, roles []string, perm policy.Permission) bool {
	if set.SystemAllowed(roles, perm) {
		return true
	}
	return perm == policy.PermAPIKeysManage && set.SystemAllowed(roles, policy.PermAPIKeysManageAnyTenant)
}

// Create makes a key for req and returns its record and the key itself,
// which exists nowhere else: only its hash is stored.
func (k *Keys) Create(ctx context.Context, caller *principal.Principal, req KeyRequest) (*auth.KeyRecord, string, error) {
	tenant, err := k.tenantFor(caller, req.Principal.TenantID)
	if err != nil {
		return nil, "", err
	}
	name := strings.TrimSpace(req.Name)
	if name == "" || len(name) > 200 {
		return nil, "", apperr.Invalid(`"name" must be 1 to 200 characters`)
	}
	if req.Principal.ID == "" {
		return nil, "", apperr.Invalid(`"principal.id" is required`)
	}
	if req.ExpiresIn < 0 || req.ExpiresIn > MaxKeyLifetime {
		return nil, "", apperr.Invalid(`"expires_in" must be positive and at most %s`, MaxKeyLifetime)
	}
	set := k.svc.Policies()
	roles := append([]string{}, req.Principal.Roles...)
	for _, r := range roles {
		if _, ok := set.Roles[r]; !ok {
			return nil, "", apperr.Invalid("role %q is not declared in the policy", r).WithDetails(map[string]any{"role": r})
		}
	}
	for _, perm := range set.SystemPermissionsOf(roles) {
		if !holds(set, caller.Roles, perm) {
			return nil, "", apperr.Forbidden("the key's roles would hold the %s permission, which the caller does not", perm)
		}
	}
	now := k.svc.now().UTC().Truncate(time.Second)
	p := req.Principal
	p.TenantID, p.Roles = tenant, roles
	rec := &auth.KeyRecord{Name: name, Principal: p, CreatedAt: now}
	if req.ExpiresIn > 0 {
		exp := now.Add(req.ExpiresIn)
		rec.ExpiresAt = &exp
	}
	id, key, hash := auth.GenerateKey()
	rec.ID, rec.SecretSHA256 = id, hash
	if err := k.store.Create(ctx, rec, caller.ID); err != nil {
		return nil, "", err
	}
	return rec, key, nil
}

// List returns the keys of a tenant ("" for the caller's), newest first,
// never their secrets.
func (k *Keys) List(ctx context.Context, caller *principal.Principal, tenant string) ([]*store.StoredKey, error) {
	tenant, err := k.tenantFor(caller, tenant)
	if err != nil {
		return nil, err
	}
	return k.store.List(ctx, tenant, maxKeysListed)
}

// Revoke revokes a key of a tenant ("" for the caller's). Revoking twice is
// fine; a key the tenant does not have is a 404, whether it exists in
// another tenant or not.
func (k *Keys) Revoke(ctx context.Context, caller *principal.Principal, tenant, id string) error {
	tenant, err := k.tenantFor(caller, tenant)
	if err != nil {
		return err
	}
	ok, err := k.store.Revoke(ctx, tenant, id, k.svc.now().UTC())
	if err != nil {
		return err
	}
	if !ok {
		return apperr.NotFound("no such API key")
	}
	return nil
}
