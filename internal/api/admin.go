package api

import (
	"math"
	"net/http"
	"time"

	"github.com/labstack/echo/v5"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/auth"
	"github.com/permission-mongo/permission-mongo/internal/principal"
	"github.com/permission-mongo/permission-mongo/internal/service"
)

// KeyAdmin is the key store the admin endpoints manage (*store.APIKeys);
// who may manage which keys is decided by service.Keys.
type KeyAdmin = service.KeyStore

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
// the key, the only time it is shown. service.Keys decides whether the
// caller may (tenant, roles, no escalation).
func (s *Server) createKey(c *echo.Context) error {
	m, err := s.bodyObject(c, "name", "principal", "expires_in")
	if err != nil {
		return err
	}
	var req service.KeyRequest
	if req.Name, err = stringMember(m, "name", true); err != nil {
		return err
	}
	pd, err := requiredDoc(m, "principal")
	if err != nil {
		return err
	}
	if req.Principal, err = decodeKeyPrincipal(pd); err != nil {
		return err
	}
	if v, ok := m["expires_in"]; ok && v != nil {
		if req.ExpiresIn, err = parseLifetime(v); err != nil {
			return err
		}
	}
	caller := principalOf(c)
	rec, key, err := s.svc.Keys(s.keys).Create(c.Request().Context(), caller, req)
	if err != nil {
		return err
	}
	out := keyJSON(rec, caller.ID)
	out["key"] = key
	return writeData(c, http.StatusCreated, out)
}

// decodeKeyPrincipal decodes the "principal" member.
func decodeKeyPrincipal(pd bson.D) (principal.Principal, error) {
	var p principal.Principal
	pm, unknown := principalMembers(pd)
	if unknown != "" {
		return p, apperr.Invalid("unknown principal member %q", unknown)
	}
	var err error
	if p.ID, err = stringMember(pm, "id", true); err != nil {
		return p, apperr.Invalid(`"principal.id" is required`)
	}
	if p.TenantID, err = stringMember(pm, "tenant_id", false); err != nil {
		return p, err
	}
	if p.Roles, _, err = stringsMember(pm, "roles"); err != nil {
		return p, err
	}
	p.Claims, err = claimsMember(pm)
	return p, err
}

// principalMembers indexes the members of a principal given in a body (a new
// key's, or the one /explain asks about); unknown is the first member that
// is not a principal's, "" when none. Callers refuse it: a misspelt "role"
// must not make a principal without roles nobody meant.
func principalMembers(pd bson.D) (pm map[string]any, unknown string) {
	pm = make(map[string]any, len(pd))
	for _, e := range pd {
		switch e.Key {
		case "id", "tenant_id", "roles", "claims":
			pm[e.Key] = e.Value
		default:
			return nil, e.Key
		}
	}
	return pm, ""
}

// claimsMember reads "principal.claims" of a principal given in a body (a
// new key's, or the one /explain asks about); nil when absent.
func claimsMember(pm map[string]any) (map[string]any, error) {
	v, ok := pm["claims"]
	if !ok || v == nil {
		return nil, nil
	}
	d, ok := v.(bson.D)
	if !ok {
		return nil, apperr.Invalid(`"principal.claims" must be an object`)
	}
	claims, err := principal.NormalizeClaim(d)
	if err != nil {
		return nil, apperr.Invalid(`"principal.claims" has a number out of range`)
	}
	return claims.(map[string]any), nil
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
		f, _ := jsonNumber(x)
		if f != math.Trunc(f) || f > service.MaxKeyLifetime.Seconds() {
			return 0, apperr.Invalid(`"expires_in" must be a whole number of seconds, at most %d`, int64(service.MaxKeyLifetime.Seconds()))
		}
		d = time.Duration(f) * time.Second
	default:
		return 0, apperr.Invalid(`"expires_in" must be a duration string or a number of seconds`)
	}
	if d <= 0 || d > service.MaxKeyLifetime {
		return 0, apperr.Invalid(`"expires_in" must be positive and at most %s`, service.MaxKeyLifetime)
	}
	return d, nil
}

// keyTenant reads the optional ?tenant_id= of the list and revoke
// endpoints: another tenant than the caller's, for platform operators.
func keyTenant(c *echo.Context) (string, error) {
	q, err := checkQuery(c, "tenant_id")
	if err != nil {
		return "", err
	}
	t := q.Get("tenant_id")
	if _, given := q["tenant_id"]; given && t == "" {
		return "", apperr.Invalid("tenant_id must not be empty")
	}
	return t, nil
}

// listKeys: GET /admin/api-keys[?tenant_id=] → the keys of the caller's
// tenant (or of the tenant named), never their secrets or hashes.
func (s *Server) listKeys(c *echo.Context) error {
	tenant, err := keyTenant(c)
	if err != nil {
		return err
	}
	keys, err := s.svc.Keys(s.keys).List(c.Request().Context(), principalOf(c), tenant)
	if err != nil {
		return err
	}
	out := make([]map[string]any, len(keys))
	for i, k := range keys {
		out[i] = keyJSON(&k.KeyRecord, k.CreatedBy)
	}
	return writeData(c, http.StatusOK, out)
}

// revokeKey: DELETE /admin/api-keys/:id[?tenant_id=] → {data: {revoked:
// true, id}}; idempotent. A key of another tenant is a 404.
func (s *Server) revokeKey(c *echo.Context) error {
	tenant, err := keyTenant(c)
	if err != nil {
		return err
	}
	id := c.Param("id")
	if err := s.svc.Keys(s.keys).Revoke(c.Request().Context(), principalOf(c), tenant, id); err != nil {
		return err
	}
	return writeData(c, http.StatusOK, map[string]any{"revoked": true, "id": id})
}
