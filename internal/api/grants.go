package api

// Credential grants (HTTP contract, "Credential grants"): short-lived MongoDB
// users holding exactly the privileges a grant rule of the policy allows.
// The decisions live in package grant (rules, issue sequence, revocation);
// this file decodes requests, decides who may see which grant, and encodes
// answers. The password is written once, in the answer to POST /grants, and
// never stored or shown again.

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/grant"
	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/principal"
	"github.com/permission-mongo/permission-mongo/internal/store"
)

// permGrantsAdmin is the system permission that sees and revokes every grant.
const permGrantsAdmin = policy.PermGrantsAdmin

// grantAPI serves /grants. m is nil when the proxy was built without a grant
// manager: every endpoint then answers 501 (POST only after the rule checks).
type grantAPI struct {
	s *Server
	m *grant.Manager
}

// grantRoutes registers the /grants endpoints.
func (s *Server) grantRoutes(e *echo.Echo, m *grant.Manager) {
	h := &grantAPI{s: s, m: m}
	g := e.Group("/grants", s.authenticate)
	g.POST("", h.issue)
	g.GET("", h.list)
	g.GET("/:id", h.get)
	g.POST("/:id/renew", h.renew)
	g.DELETE("/:id", h.revoke)
}

func errGrantsNotConfigured() error {
	return apperr.New(apperr.KindNotSupported, "credential grants are not configured on this proxy").
		WithDetails(map[string]any{"capability": store.CapUserManagement})
}

// caller is the authenticated principal; grants are owned by a principal id,
// so a principal without one can neither ask for nor list grants (an empty
// owner would otherwise match every ownerless ledger entry).
func (h *grantAPI) caller(c *echo.Context) (*principal.Principal, error) {
	p := principalOf(c)
	if p == nil || p.ID == "" {
		return nil, apperr.Forbidden("credential grants need a caller with an id")
	}
	return p, nil
}

func (h *grantAPI) isAdmin(p *principal.Principal) bool {
	return h.s.svc.Policies().SystemAllowed(p.Roles, permGrantsAdmin)
}

// owns: a grant belongs to the principal id within its tenant (ids are only
// unique per tenant).
func owns(p *principal.Principal, r *grant.Record) bool {
	return p.ID != "" && r.Owner == p.ID && r.Tenant == p.TenantID
}

// find returns a grant the caller may see: their own, or any with
// grants.admin. Anything else is a 404, exactly like a grant that does not
// exist (never reveal existence).
func (h *grantAPI) find(c *echo.Context, p *principal.Principal) (*grant.Record, error) {
	if h.m == nil {
		return nil, errGrantsNotConfigured()
	}
	rec, err := h.m.Get(c.Request().Context(), c.Param("id"))
	if err != nil {
		return nil, err
	}
	if !owns(p, rec) && !h.isAdmin(p) {
		return nil, apperr.NotFound("no such grant")
	}
	return rec, nil
}

// issue: POST /grants {database, collections, actions | role, ttl,
// client_source?} → 201 with the credentials, the only time the password is
// shown. The rules are checked first, so that a refusal says why even on a
// backend that could not issue anything.
func (h *grantAPI) issue(c *echo.Context) error {
	p, err := h.caller(c)
	if err != nil {
		return err
	}
	if err := noQuery(c); err != nil {
		return err
	}
	body, err := h.s.readBody(c)
	if err != nil {
		return err
	}
	req, err := parseGrantRequest(body)
	if err != nil {
		return err
	}
	a, err := grant.Decide(h.s.svc.Policies(), p.Roles, req)
	if err != nil {
		return err
	}
	if h.m == nil {
		return errGrantsNotConfigured()
	}
	cr, err := h.m.Issue(c.Request().Context(), p.ID, p.TenantID, a)
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
	p, err := h.caller(c)
	if err != nil {
		return err
	}
	if err := noQuery(c); err != nil {
		return err
	}
	if h.m == nil {
		return errGrantsNotConfigured()
	}
	admin := h.isAdmin(p)
	owner := p.ID
	if admin {
		owner = ""
	}
	recs, err := h.m.List(c.Request().Context(), owner)
	if err != nil {
		return err
	}
	now := time.Now()
	out := make([]map[string]any, 0, len(recs))
	for i := range recs {
		if admin || owns(p, &recs[i]) {
			out = append(out, grantJSON(&recs[i], now))
		}
	}
	return writeData(c, http.StatusOK, out)
}

// get: GET /grants/:id.
func (h *grantAPI) get(c *echo.Context) error {
	p, err := h.caller(c)
	if err != nil {
		return err
	}
	if err := noQuery(c); err != nil {
		return err
	}
	rec, err := h.find(c, p)
	if err != nil {
		return err
	}
	return writeData(c, http.StatusOK, grantJSON(rec, time.Now()))
}

// renew: POST /grants/:id/renew {ttl} → {expires_at}. Only the owner renews
// (grants.admin sees and revokes, it does not extend someone else's access),
// only an active grant that has not expired yet, only while the current
// policy still allows the grant to the owner, and never past the issue time
// plus the max_ttl of the rule that allowed it (package grant clamps).
func (h *grantAPI) renew(c *echo.Context) error {
	p, err := h.caller(c)
	if err != nil {
		return err
	}
	if err := noQuery(c); err != nil {
		return err
	}
	rec, err := h.find(c, p)
	if err != nil {
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
	if d, err := time.ParseDuration(ttl); err != nil || d <= 0 {
		return apperr.Invalid("ttl %q is not a positive duration", ttl)
	}
	if !owns(p, rec) {
		return apperr.Forbidden("only the owner of a grant may renew it")
	}
	if rec.Status != grant.Active {
		return apperr.New(apperr.KindConflict, "grant is %s, not active", rec.Status)
	}
	if !time.Now().Before(rec.ExpiresAt) {
		return apperr.New(apperr.KindConflict, "grant has expired; ask for a new one")
	}
	// The policy may have changed since the issue (a reload): renewing is a
	// new decision, made with the rules in force now.
	a, err := grant.Decide(h.s.svc.Policies(), p.Roles, grant.Request{
		Database: rec.Database, Collections: rec.Collections, Actions: rec.Actions, TTL: ttl, ClientSource: rec.ClientSource})
	if err != nil {
		return err
	}
	exp, err := h.m.Renew(c.Request().Context(), rec.ID, a.TTL)
	if err != nil {
		return err
	}
	return writeData(c, http.StatusOK, map[string]any{"expires_at": formatTime(exp)})
}

// revoke: DELETE /grants/:id → {revoked: true}; a grant already revoked
// answers the same (idempotent).
func (h *grantAPI) revoke(c *echo.Context) error {
	p, err := h.caller(c)
	if err != nil {
		return err
	}
	if err := noQuery(c); err != nil {
		return err
	}
	rec, err := h.find(c, p)
	if err != nil {
		return err
	}
	if err := h.m.Revoke(c.Request().Context(), rec.ID); err != nil {
		return err
	}
	return writeData(c, http.StatusOK, map[string]any{"revoked": true, "grant_id": rec.ID})
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
