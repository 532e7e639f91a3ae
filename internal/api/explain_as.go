package api

import (
	"net/http"

	"github.com/labstack/echo/v5"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/principal"
	"github.com/permission-mongo/permission-mongo/internal/service"
)

// explainAs answers POST /explain with "principal" {id, roles, claims?,
// tenant_id?} or "api_key_id": the explanation for that principal, which
// the service decides may be given (service.ExplainAs). The answer adds the
// principal explained.
func (s *Server) explainAs(c *echo.Context, m map[string]any, coll, action string) error {
	var sub service.Subject
	pd, err := docMember(m, "principal")
	if err != nil {
		return err
	}
	if pd != nil {
		if sub.Principal, err = subjectPrincipal(pd); err != nil {
			return err
		}
	}
	if sub.KeyID, err = stringMember(m, "api_key_id", false); err != nil {
		return err
	}
	if _, ok := m["api_key_id"]; ok && sub.KeyID == "" {
		return apperr.Invalid(`"api_key_id" must be a key id`)
	}
	sub.Keys = s.auth.Keys
	e, err := s.svc.ExplainAs(c.Request().Context(), principalOf(c), sub, coll, action)
	if err != nil {
		return err
	}
	out, err := explanationJSON(e.Explanation)
	if err != nil {
		return err
	}
	p := map[string]any{"id": e.Principal.ID, "tenant_id": e.Principal.TenantID, "roles": e.Principal.Roles}
	if sub.KeyID != "" {
		p["api_key_id"] = sub.KeyID
	}
	out["principal"] = p
	if e.HierarchyUnresolved {
		out["hierarchy_resolved"] = false
	}
	return writeData(c, http.StatusOK, out)
}

// subjectPrincipal reads the "principal" member. Unknown members are
// refused: a misspelt "role" would otherwise explain a principal without
// roles nobody meant to ask about.
func subjectPrincipal(pd bson.D) (*principal.Principal, error) {
	pm, unknown := principalMembers(pd)
	if unknown != "" {
		return nil, apperr.Invalid("unknown principal member %q (known: id, tenant_id, roles, claims)", unknown)
	}
	id, err := stringMember(pm, "id", true)
	if err != nil {
		return nil, apperr.Invalid(`"principal.id" must be a string`)
	}
	if id == "" {
		return nil, apperr.Invalid(`"principal.id" is required`)
	}
	tenant, err := stringMember(pm, "tenant_id", false)
	if err != nil {
		return nil, apperr.Invalid(`"principal.tenant_id" must be a string`)
	}
	roles, _, err := stringsMember(pm, "roles")
	if err != nil {
		return nil, apperr.Invalid(`"principal.roles" must be an array of strings`)
	}
	claims, err := claimsMember(pm)
	if err != nil {
		return nil, err
	}
	return &principal.Principal{ID: id, TenantID: tenant, Roles: roles, Claims: claims}, nil
}
