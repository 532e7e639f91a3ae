package api

// Credential grants (HTTP contract, "Credential grants"): short-lived MongoDB
// users holding exactly the privileges a grant rule of the policy allows.
// What may be granted is decided in package grant (rules, issue sequence,
// revocation), who may see which grant in service.Grants; this file decodes
// requests and encodes answers. The password is written once, in the answer to POST /grants, and
// never stored or shown again.

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/permission-mongo/permission-mongo/internal/grant"
	"github.com/permission-mongo/permission-mongo/internal/service"
)

// grantAPI serves /grants; who may do what is decided by service.Grants.
// m is nil when the proxy was built without a grant manager: every endpoint
// then answers 501 (POST only after the rule checks).
type grantAPI struct {
	s *Server
	m service.GrantManager
}

func newGrantAPI(s *Server, m *grant.Manager) *grantAPI {
	h := &grantAPI{s: s}
	if m != nil { // a nil *grant.Manager must stay a nil interface
		h.m = m
	}
	return h
}

func (h *grantAPI) grants() *service.Grants { return h.s.svc.Grants(h.m) }

// issue: POST /grants {database, collections, actions | role, ttl,
// client_source?} → 201 with the credentials, the only time the password is
// shown. The rules are checked first, so that a refusal says why even on a
// backend that could not issue anything.
func (h *grantAPI) issue(c *echo.Context) error {
	body, err := h.s.readBody(c)
	if err != nil {
		return err
	}
	req, err := parseGrantRequest(body)
	if err != nil {
		return err
	}
	cr, err := h.grants().Issue(c.Request().Context(), principalOf(c), req)
	if err != nil {
		return err
	}
	out := map[string]any{
		"grant_id":    cr.GrantID,
		"username":    cr.Username,
		"password":    cr.Password,
		"auth_source": cr.AuthSource,
		"uri":         cr.URI,
		"expires_at":  formatTime(cr.ExpiresAt),
		"privileges":  cr.Privileges,
	}
	if cr.TTLClamped {
		out["ttl_clamped"] = true
	}
	// The body carries a password: no cache may keep it.
	c.Response().Header().Set("Cache-Control", "no-store")
	return writeData(c, http.StatusCreated, out)
}

func parseGrantRequest(body []byte) (grant.Request, error) {
	var req grant.Request
	m, err := parseObject(body, "database", "collections", "actions", "role", "ttl", "client_source")
	if err != nil {
		return req, err
	}
	if req.Database, err = stringMember(m, "database", true); err != nil {
		return req, err
	}
	if req.Collections, _, err = stringsMember(m, "collections"); err != nil {
		return req, err
	}
	if req.Actions, _, err = stringsMember(m, "actions"); err != nil {
		return req, err
	}
	if req.Role, err = stringMember(m, "role", false); err != nil {
		return req, err
	}
	if req.TTL, err = stringMember(m, "ttl", true); err != nil {
		return req, err
	}
	if req.ClientSource, _, err = stringsMember(m, "client_source"); err != nil {
		return req, err
	}
	return req, nil
}

// list: GET /grants → the caller's grants, or every grant for holders of
// grants.admin; newest first, at most 1000.
func (h *grantAPI) list(c *echo.Context) error {
	recs, err := h.grants().List(c.Request().Context(), principalOf(c))
	if err != nil {
		return err
	}
	now := time.Now()
	out := make([]map[string]any, 0, len(recs))
	for i := range recs {
		out = append(out, grantJSON(&recs[i], now))
	}
	return writeData(c, http.StatusOK, out)
}

// get: GET /grants/:id.
func (h *grantAPI) get(c *echo.Context) error {
	rec, err := h.grants().Get(c.Request().Context(), principalOf(c), c.Param("id"))
	if err != nil {
		return err
	}
	return writeData(c, http.StatusOK, grantJSON(rec, time.Now()))
}

// renew: POST /grants/:id/renew {ttl} → {expires_at}.
func (h *grantAPI) renew(c *echo.Context) error {
	p := principalOf(c)
	// Seen first: a grant the caller may not see is a 404 whatever the body.
	if _, err := h.grants().Get(c.Request().Context(), p, c.Param("id")); err != nil {
		return err
	}
	body, err := h.s.readBody(c)
	if err != nil {
		return err
	}
	m, err := parseObject(body, "ttl")
	if err != nil {
		return err
	}
	ttl, err := stringMember(m, "ttl", true)
	if err != nil {
		return err
	}
	exp, err := h.grants().Renew(c.Request().Context(), p, c.Param("id"), ttl)
	if err != nil {
		return err
	}
	return writeData(c, http.StatusOK, map[string]any{"expires_at": formatTime(exp)})
}

// revoke: DELETE /grants/:id → {revoked: true}; a grant already revoked
// answers the same (idempotent).
func (h *grantAPI) revoke(c *echo.Context) error {
	id, err := h.grants().Revoke(c.Request().Context(), principalOf(c), c.Param("id"))
	if err != nil {
		return err
	}
	return writeData(c, http.StatusOK, map[string]any{"revoked": true, "grant_id": id})
}

// grantJSON is a ledger record as the API shows it. Fields are listed one by
// one, so that a field added to the ledger is not published by accident; the
// ledger never holds the password anyway.
func grantJSON(r *grant.Record, now time.Time) map[string]any {
	privs := make([]any, 0, len(r.Collections))
	for _, c := range r.Collections {
		privs = append(privs, map[string]any{"resource": map[string]any{"db": r.Database, "collection": c}, "actions": nonNilStrings(r.Actions)})
	}
	m := map[string]any{
		"grant_id":       r.ID,
		"owner":          r.Owner,
		"database":       r.Database,
		"collections":    nonNilStrings(r.Collections),
		"actions":        nonNilStrings(r.Actions),
		"privileges":     privs,
		"username":       r.Username,
		"auth_source":    r.Database,
		"rule":           r.Rule,
		"status":         r.Status,
		"created_at":     formatTime(r.CreatedAt),
		"expires_at":     formatTime(r.ExpiresAt),
		"max_expires_at": formatTime(r.MaxExpiresAt),
		// Active in the ledger but past its expiry: the reaper has not
		// dropped it yet.
		"expired": r.Status == grant.Active && !now.Before(r.ExpiresAt),
	}
	if r.Tenant != "" {
		m["tenant_id"] = r.Tenant
	}
	if len(r.ClientSource) > 0 {
		m["client_source"] = r.ClientSource
	}
	return m
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func formatTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}
