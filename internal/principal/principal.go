// Package principal holds the authenticated caller that every request carries
// from the auth layer to the policy engine.
package principal

import "strings"

// Principal is who is calling. Policies see it as `user.*`.
//
// Values stay as decoded from JSON (string, float64/int64, bool, nil, []any,
// map[string]any) so that the policy engine can tell a missing value from a
// present one: a missing or null value must fail closed, never compare equal
// to a missing document field.
type Principal struct {
	ID       string         `json:"id"`
	TenantID string         `json:"tenant_id,omitempty"`
	Roles    []string       `json:"roles"`
	Claims   map[string]any `json:"claims,omitempty"`

	// Auth says how the caller authenticated: "api_key" or "jwt".
	Auth string `json:"auth,omitempty"`
	// KeyID is the API key id, or the JWT subject; recorded by audit, never a secret.
	KeyID string `json:"key_id,omitempty"`
}

// Lookup returns the value of `user.<path>`. The bool is false when the value
// is absent. Empty ID / TenantID count as absent: an empty string is what a
// token without the claim decodes to, and it must not match documents that
// lack the field.
func (p *Principal) Lookup(path string) (any, bool) {
	if p == nil {
		return nil, false
	}
	switch path {
	case "id":
		if p.ID == "" {
			return nil, false
		}
		return p.ID, true
	case "tenant_id":
		if p.TenantID == "" {
			return nil, false
		}
		return p.TenantID, true
	case "roles":
		out := make([]any, len(p.Roles))
		for i, r := range p.Roles {
			out[i] = r
		}
		return out, true
	}
	rest, ok := strings.CutPrefix(path, "claims.")
	if !ok {
		return nil, false
	}
	var cur any = p.Claims
	for rest != "" {
		part := rest
		if i := strings.IndexByte(rest, '.'); i >= 0 {
			part, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur, ok = m[part]
		if !ok {
			return nil, false
		}
	}
	return cur, true
}

// HasRole reports whether the principal directly holds role r.
func (p *Principal) HasRole(r string) bool {
	for _, x := range p.Roles {
		if x == r {
			return true
		}
	}
	return false
}
