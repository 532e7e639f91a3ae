package main

import (
	"strings"
	"testing"
)

// operatorKeysPolicy: "platform" may manage the keys of any tenant and
// holds what admin holds.
const operatorKeysPolicy = `
version: "1"
roles: {admin: {}, clerk: {}, platform: {inherits: [admin]}}
system:
  api_keys.manage: [admin]
  api_keys.manage_any_tenant: [platform]
policies:
  notes:
    admin: {actions: [create, read]}
    clerk: {actions: [read]}
`

// TestKeysOperatorOnboardsTenant: through the CLI, a platform operator
// creates the first admin key of a tenant nobody configured, lists and
// revokes keys there with --tenant; a tenant admin's --tenant for another
// tenant is refused.
func TestKeysOperatorOnboardsTenant(t *testing.T) {
	ts := startTestServer(t, operatorKeysPolicy,
		testKey{"ops", "ops", "", []string{"platform"}}, testKey{"admin", "root", "t1", []string{"admin"}})
	ops := ts.keys["ops"]

	acmeAdmin, acmeID := createRemoteKey(t, ts.url, ops, "--name", "acme admin", "--id", "acme-root", "--tenant", "acme", "--roles", "admin")
	// The new tenant's admin manages its own tenant's keys at once.
	clerkKey, _ := createRemoteKey(t, ts.url, acmeAdmin, "--name", "acme clerk", "--id", "acme-c1", "--roles", "clerk")
	if st := getWithKey(t, ts.url+"/collections/notes", clerkKey); st != 200 {
		t.Fatalf("acme clerk key: %d", st)
	}

	code, out, errOut := pmRun(t, "", "keys", "list", "--url", ts.url, "--api-key", ops, "--tenant", "acme")
	if code != exitOK || !strings.Contains(out, acmeID) || !strings.Contains(out, "acme-c1") {
		t.Fatalf("list --tenant acme: %d %s %s", code, out, errOut)
	}
	code, _, errOut = pmRun(t, "", "keys", "list", "--url", ts.url, "--api-key", ts.keys["admin"], "--tenant", "acme")
	if code != exitFail || !strings.Contains(errOut, "403 FORBIDDEN") {
		t.Fatalf("a t1 admin listing acme: %d %s", code, errOut)
	}
	code, _, errOut = pmRun(t, "", "keys", "revoke", "--url", ts.url, "--api-key", ops, "--tenant", "acme", acmeID)
	if code != exitOK {
		t.Fatalf("revoke --tenant acme: %d %s", code, errOut)
	}
	waitUntil(t, func() bool { return getWithKey(t, ts.url+"/admin/api-keys", acmeAdmin) == 401 }, "the revoked acme admin key to be refused")
}
