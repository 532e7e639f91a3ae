package policy

// System permissions of the console's administrator pages. They live in
// their own file, registered into SystemPermissions, so that the list of
// permissions can grow elsewhere without the two edits colliding.
const (
	// PermExplainAnyPrincipal lets a caller explain the access of any
	// principal of its own tenant (POST /explain with "principal" or
	// "api_key_id"), not only its own.
	PermExplainAnyPrincipal = "explain.any_principal"
	// PermPoliciesTest lets a caller run the loaded policy's test cases
	// (GET /admin/policies/tests).
	PermPoliciesTest = "policies.test"
)

func init() {
	SystemPermissions = append(SystemPermissions, PermExplainAnyPrincipal, PermPoliciesTest)
}
