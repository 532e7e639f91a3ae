package policy

import "slices"

// Permission is a system permission: a right that is not about one
// collection, granted to roles by the `system:` section. Every check in the
// server names one of the constants below, so a misspelt permission is a
// compile error rather than a check that silently never passes.
type Permission string

// The system permissions.
const (
	// PermAuditRead: read the audit log of the caller's tenant.
	PermAuditRead Permission = "audit.read"
	// PermAPIKeysManage: create, list and revoke API keys of the caller's
	// tenant.
	PermAPIKeysManage Permission = "api_keys.manage"
	// PermAPIKeysManageAnyTenant: the same for any tenant, named in the
	// request; a platform operator's permission for onboarding tenants.
	PermAPIKeysManageAnyTenant Permission = "api_keys.manage_any_tenant"
	// PermGrantsAdmin: see and revoke every credential grant (renewing stays
	// the owner's).
	PermGrantsAdmin Permission = "grants.admin"
	// PermPoliciesReload: reload the policy files on every proxy.
	PermPoliciesReload Permission = "policies.reload"
	// PermWebhooksRead: read webhook deliveries.
	PermWebhooksRead Permission = "webhooks.read"
	// PermWebhooksManage: redeliver a webhook delivery (dead or delivered).
	PermWebhooksManage Permission = "webhooks.manage"
	// PermExplainAnyPrincipal: explain the access of any principal of the
	// caller's tenant (POST /explain with "principal" or "api_key_id").
	PermExplainAnyPrincipal Permission = "explain.any_principal"
	// PermPoliciesTest: run the loaded policy's test cases
	// (GET /admin/policies/tests).
	PermPoliciesTest Permission = "policies.test"
)

// SystemPermissions are the permissions a `system:` section may grant.
var SystemPermissions = []Permission{PermAuditRead, PermAPIKeysManage, PermAPIKeysManageAnyTenant,
	PermGrantsAdmin, PermPoliciesReload, PermWebhooksRead, PermWebhooksManage, PermExplainAnyPrincipal, PermPoliciesTest}

// knownPermission reports whether name is a system permission.
func knownPermission(name string) bool {
	return slices.Contains(SystemPermissions, Permission(name))
}

// permissionNames lists the permissions for messages.
func permissionNames() []string {
	out := make([]string, len(SystemPermissions))
	for i, p := range SystemPermissions {
		out[i] = string(p)
	}
	return out
}

// SystemAllowed reports whether a caller with roles holds a system permission.
func (s *Set) SystemAllowed(roles []string, perm Permission) bool {
	allowed := s.System[string(perm)]
	for _, r := range s.Expand(roles) {
		if slices.Contains(allowed, r) {
			return true
		}
	}
	return false
}

// SystemPermissionsOf lists the system permissions roles hold, in the order
// of SystemPermissions.
func (s *Set) SystemPermissionsOf(roles []string) []Permission {
	var out []Permission
	for _, p := range SystemPermissions {
		if s.SystemAllowed(roles, p) {
			out = append(out, p)
		}
	}
	return out
}
