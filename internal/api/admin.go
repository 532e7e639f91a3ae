package api

import (
	"context"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v5"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/auth"
	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/principal"
	"github.com/permission-mongo/permission-mongo/internal/store"
)

// KeyAdmin is the key store the admin endpoints manage (*store.APIKeys).
type KeyAdmin interface {
	Create(ctx context.Context, r *auth.KeyRecord, createdBy string) error
	List(ctx context.Context, tenantID string, limit int64) ([]*store.StoredKey, error)
	Revoke(ctx context.Context, tenantID, id string, now time.Time) (bool, error)
}

// permAPIKeys is the system permission the key endpoints need.
const permAPIKeys = "api_keys.manage"

// maxKeyLifetime bounds expires_in: a key that outlives every rotation
// policy is a key nobody remembers to revoke.
const maxKeyLifetime = 366 * 24 * time.Hour

// keyAdmin authorises a key-management request: the api_keys.manage system
// permission (policy file), and a tenant, because an administrator manages
// the keys of their own tenant only.
func (s *Server) keyAdmin(c *echo.Context) (*principal.Principal, error) {
	if s.keys == nil {
		return nil, apperr.New(apperr.KindNotSupported, "API key management is not configured")
	}
	p := principalOf(c)
	if !s.svc.Policies().SystemAllowed(p.Roles, permAPIKeys) {
		return nil, apperr.Forbidden("managing API keys needs the %s permission", permAPIKeys)
	}
	if p.TenantID == "" {
		return nil, apperr.Forbidden("managing API keys needs a caller with a tenant")
	}
	return p, nil
}

func keyJSON(k *auth.KeyRecord, createdBy string) map[string]any {
	m := map[string]any{
		"id":         k.ID,
		"name":       k.Name,
		"principal":  k.Principal,
		"created_at": k.CreatedAt.UTC().Format(time.RFC3339),
		"expires_at": nil,
		"revoked":    k.RevokedAt != nil,
	}
	if k.ExpiresAt != nil {
		m["expires_at"] = k.ExpiresAt.UTC().Format(time.RFC3339)
	}
	if k.RevokedAt != nil {
		m["revoked_at"] = k.RevokedAt.UTC().Format(time.RFC3339)
	}
	if createdBy != "" {
		m["created_by"] = createdBy
	}
	return m
}

// createKey: POST /admin/api-keys {name, principal, expires_in?} → 201 with
// the key, the only time it is shown.
//
// The new key's principal must be in the caller's tenant, hold only roles
// the policy declares, and no system permission the caller lacks: an
// administrator cannot mint a key for another tenant, for a role nobody
// defined, or with more system power than their own.
func (s *Server) createKey(c *echo.Context) error {
	caller, err := s.keyAdmin(c)
	if err != nil {
		return err
	}
	if err := noQuery(c); err != nil {
		return err
	}
	body, err := s.readBody(c)
	if err != nil {
		return err
	}
	m, err := parseObject(body, "name", "principal", "expires_in")
	if err != nil {
		return err
	}
	name, err := stringMember(m, "name", true)
	if err != nil {
		return err
	}
	if name = strings.TrimSpace(name); name == "" || len(name) > 200 {
		return apperr.Invalid(`"name" must be 1 to 200 characters`)
	}
	pd, err := docMember(m, "principal")
	if err != nil {
		return err
	}
	if pd == nil {
		return apperr.Invalid(`"principal" is required`)
	}
	p, err := s.keyPrincipal(caller, pd)
	if err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Second)
	rec := &auth.KeyRecord{Name: name, Principal: *p, CreatedAt: now}
	if v, ok := m["expires_in"]; ok && v != nil {
		d, err := parseLifetime(v)
		if err != nil {
			return err
		}
		exp := now.Add(d)
		rec.ExpiresAt = &exp
	}
	id, key, hash := auth.GenerateKey()
	rec.ID, rec.SecretSHA256 = id, hash
	if err := s.keys.Create(c.Request().Context(), rec, caller.ID); err != nil {
		return err
	}
	out := keyJSON(rec, caller.ID)
	out["key"] = key
	return writeData(c, http.StatusCreated, out)
}

func (s *Server) keyPrincipal(caller *principal.Principal, pd bson.D) (*principal.Principal, error) {
	pm := map[string]any{}
	for _, e := range pd {
		switch e.Key {
		case "id", "tenant_id", "roles", "claims":
			pm[e.Key] = e.Value
		default:
			return nil, apperr.Invalid("unknown principal member %q", e.Key)
		}
	}
	id, err := stringMember(pm, "id", true)
	if err != nil || id == "" {
		return nil, apperr.Invalid(`"principal.id" is required`)
	}
	tenant, err := stringMember(pm, "tenant_id", false)
	if err != nil {
		return nil, err
	}
	if tenant == "" {
		tenant = caller.TenantID
	}
	if tenant != caller.TenantID {
		return nil, apperr.Forbidden("a key can only be issued in the caller's tenant")
	}
	roles, _, err := stringsMember(pm, "roles")
	if err != nil {
		return nil, err
	}
	set := s.svc.Policies()
	for _, r := range roles {
		if _, ok := set.Roles[r]; !ok {
			return nil, apperr.Invalid("role %q is not declared in the policy", r).WithDetails(map[string]any{"role": r})
		}
	}
	// No escalation through system permissions: the key may not hold one
	// the caller lacks (an admin without grants.admin cannot mint a key
	// that has it).
	for _, perm := range policy.SystemPermissions {
		if set.SystemAllowed(roles, perm) && !set.SystemAllowed(caller.Roles, perm) {
			return nil, apperr.Forbidden("the key's roles would hold the %s permission, which the caller does not", perm)
		}
	}
	p := &principal.Principal{ID: id, TenantID: tenant, Roles: roles}
	if p.Roles == nil {
		p.Roles = []string{}
	}
	if v, ok := pm["claims"]; ok && v != nil {
		d, ok := v.(bson.D)
		if !ok {
			return nil, apperr.Invalid(`"principal.claims" must be an object`)
		}
		p.Claims = map[string]any{}
		for _, e := range d {
			p.Claims[e.Key] = claimValue(e.Value)
		}
	}
	return p, nil
}

// claimValue converts a decoded JSON value to the types policies compare
// (string, int64, float64, bool, nil, []any, map[string]any).
func claimValue(v any) any {
	switch x := v.(type) {
	case bson.D:
		m := make(map[string]any, len(x))
		for _, e := range x {
			m[e.Key] = claimValue(e.Value)
		}
		return m
	case bson.A:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = claimValue(e)
		}
		return out
	case int32:
		return int64(x)
	}
	return v
}

// parseLifetime reads expires_in: a Go duration string ("720h") or a number
// of seconds.
func parseLifetime(v any) (time.Duration, error) {
	var d time.Duration
	switch x := v.(type) {
	case string:
		var err error
		if d, err = time.ParseDuration(x); err != nil {
			return 0, apperr.Invalid(`"expires_in" must be a duration such as "720h" or a number of seconds`)
		}
	case int32, int64, float64:
		var f float64
		switch n := x.(type) {
		case int32:
			f = float64(n)
		case int64:
			f = float64(n)
		case float64:
			f = n
		}
		if f != math.Trunc(f) || f > maxKeyLifetime.Seconds() {
			return 0, apperr.Invalid(`"expires_in" must be a whole number of seconds, at most %d`, int64(maxKeyLifetime.Seconds()))
		}
		d = time.Duration(f) * time.Second
	default:
		return 0, apperr.Invalid(`"expires_in" must be a duration string or a number of seconds`)
	}
	if d <= 0 || d > maxKeyLifetime {
		return 0, apperr.Invalid(`"expires_in" must be positive and at most %s`, maxKeyLifetime)
	}
	return d, nil
}

// listKeys: GET /admin/api-keys → the keys of the caller's tenant, never
// their secrets or hashes.
func (s *Server) listKeys(c *echo.Context) error {
	caller, err := s.keyAdmin(c)
	if err != nil {
		return err
	}
	if err := noQuery(c); err != nil {
		return err
	}
	keys, err := s.keys.List(c.Request().Context(), caller.TenantID, 1000)
	if err != nil {
		return err
	}
	out := make([]map[string]any, len(keys))
	for i, k := range keys {
		out[i] = keyJSON(&k.KeyRecord, k.CreatedBy)
	}
	return writeData(c, http.StatusOK, out)
}

// revokeKey: DELETE /admin/api-keys/:id → {data: {revoked: true, id}};
// idempotent. A key of another tenant is a 404.
func (s *Server) revokeKey(c *echo.Context) error {
	caller, err := s.keyAdmin(c)
	if err != nil {
		return err
	}
	if err := noQuery(c); err != nil {
		return err
	}
	id := c.Param("id")
	ok, err := s.keys.Revoke(c.Request().Context(), caller.TenantID, id, time.Now().UTC())
	if err != nil {
		return err
	}
	if !ok {
		return apperr.NotFound("no such API key")
	}
	return writeData(c, http.StatusOK, map[string]any{"revoked": true, "id": id})
}
