package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// examplePolicies is the shipped policy folder, which `make run` serves.
const examplePolicies = "../../policies"

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, src := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(src), 0o644))
	}
}

func TestCheckExamplePolicies(t *testing.T) {
	code, out, errOut := pm(t, "policy", "check", examplePolicies)
	require.Equal(t, exitOK, code, errOut)
	require.Regexp(t, `^ok: \d+ roles, \d+ collections\n$`, out)
	require.Contains(t, out, "ok: 10 roles, 6 collections")
	require.Empty(t, errOut, "the examples should load without warnings")
}

func TestCheckListsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"a.yml": `version: "1"
roles:
  employee: {}
policies:
  employees:
    employee:
      actions: [read, fly]
      when: "resource.tenant_id == user.tenant"
      fields:
        mask: {email: sparkle}
defaults: {strict_roles: true}
`,
		"b.yml": `policies:
  orders:
    ghost: {actions: [read]}
system:
  audit.write: [employee]
`,
	})
	code, out, errOut := pm(t, "policy", "check", dir)
	require.Equal(t, exitFail, code)
	require.Empty(t, out)
	a, b := filepath.Join(dir, "a.yml"), filepath.Join(dir, "b.yml")
	want := []struct{ prefix, msg string }{
		{a + ":7:", `unknown action "fly"`},
		{a + ":8:", "unknown variable user.tenant"},
		{a + ":10:", `unknown mask type "sparkle"`},
		{b + ":3:", `unknown role "ghost"`},
		{b + ":5:", `unknown system permission "audit.write"`},
	}
	lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
	lineRe := regexp.MustCompile(`^.+:\d+:\d+: .+$`)
	for _, l := range lines {
		require.Regexp(t, lineRe, l, "every line is file:line:col: message")
	}
	for _, w := range want {
		found := false
		for _, l := range lines {
			found = found || (strings.HasPrefix(l, w.prefix) && strings.Contains(l, w.msg))
		}
		require.True(t, found, "missing %s ... %s in:\n%s", w.prefix, w.msg, errOut)
	}
	require.Len(t, lines, len(want), errOut)
}

func TestCheckMissingFileAndWarnings(t *testing.T) {
	code, _, errOut := pm(t, "policy", "check", filepath.Join(t.TempDir(), "nope.yml"))
	require.Equal(t, exitFail, code)
	require.Contains(t, errOut, "nope.yml")

	// An undeclared role loads (Permission Mongo files do this) but is
	// worth a warning.
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"p.yml": "policies:\n  notes:\n    writer: {actions: [read]}\n"})
	code, out, errOut := pm(t, "policy", "check", filepath.Join(dir, "p.yml"))
	require.Equal(t, exitOK, code, errOut)
	require.Equal(t, "ok: 1 roles, 1 collections\n", out)
	require.Regexp(t, `p\.yml:3:5: warning: role "writer" is not declared`, errOut)
}

// explainJSON runs explain --json and decodes its output, checking it has
// exactly the documented keys.
func explainJSON(t *testing.T, policies, user, coll, action string) map[string]any {
	t.Helper()
	code, out, errOut := pm(t, "policy", "explain", "--policies", policies, "--user", user, "--collection", coll, "--action", action, "--json")
	require.Equal(t, exitOK, code, errOut)
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	keys := make([]string, 0, len(got))
	for k := range got {
		keys = append(keys, k)
	}
	require.ElementsMatch(t, []string{"allowed", "state", "filter", "fields"}, keys)
	require.True(t, strings.HasPrefix(out, `{"allowed":`), "documented key order: %s", out)
	return got
}

func TestExplainJSON(t *testing.T) {
	t.Run("conditional filter with caller values substituted", func(t *testing.T) {
		got := explainJSON(t, examplePolicies, `{"id":"u1","tenant_id":"t1","roles":["employee"]}`, "employees", "read")
		require.Equal(t, true, got["allowed"])
		require.Equal(t, "conditional", got["state"])
		filter, err := json.Marshal(got["filter"])
		require.NoError(t, err)
		require.JSONEq(t, `{"$or":[
			{"$and":[{"tenant_id":{"$eq":"t1"}},{"owner":{"$eq":"u1"}}]},
			{"$and":[{"tenant_id":{"$eq":"t1"}},{"public":{"$eq":true}}]}]}`, string(filter))
		fields := got["fields"].([]any)
		require.Len(t, fields, 2)
		employee := fields[0].(map[string]any)
		require.Equal(t, "employee", employee["role"])
		require.Equal(t, "conditional", employee["state"])
		require.Equal(t, "resource.tenant_id == user.tenant_id && resource.owner == user.id", employee["when"])
		require.Equal(t, []any{"ssn"}, employee["fields"].(map[string]any)["deny"])
		viewer := fields[1].(map[string]any)
		require.Equal(t, "viewer", viewer["role"])
		require.Equal(t, map[string]any{"email": "email", "phone": "phone"}, viewer["fields"].(map[string]any)["mask"])
	})
	t.Run("fail closed without tenant_id", func(t *testing.T) {
		got := explainJSON(t, examplePolicies, `{"id":"u1","roles":["employee"]}`, "employees", "read")
		require.Equal(t, true, got["allowed"], "a role grants the action ...")
		require.Equal(t, "never", got["state"], "... but matches nothing for this caller")
		require.Equal(t, map[string]any{"_id": map[string]any{"$in": []any{}}}, got["filter"])
		require.Equal(t, []any{}, got["fields"])
	})
	t.Run("not granted", func(t *testing.T) {
		got := explainJSON(t, examplePolicies, `{"id":"u1","tenant_id":"t1","roles":["manager"]}`, "payroll", "read")
		require.Equal(t, false, got["allowed"])
		require.Equal(t, "never", got["state"])
		require.Equal(t, []any{}, got["fields"])
	})
	t.Run("always: no filter", func(t *testing.T) {
		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{"p.yml": "roles: {admin: {}}\npolicies:\n  notes:\n    admin: {actions: [read]}\n"})
		got := explainJSON(t, dir, `{"id":"a1","roles":["admin"]}`, "notes", "read")
		require.Equal(t, true, got["allowed"])
		require.Equal(t, "always", got["state"])
		require.Nil(t, got["filter"])
		require.Len(t, got["fields"], 1)
	})
	t.Run("claims array becomes $in", func(t *testing.T) {
		got := explainJSON(t, examplePolicies, `{"id":"s1","tenant_id":"t1","roles":["support"],"claims":{"regions":["eu","us"]}}`, "orders", "update")
		filter, _ := json.Marshal(got["filter"])
		require.Contains(t, string(filter), `{"region":{"$in":["eu","us"]}}`)
	})
}

func TestExplainText(t *testing.T) {
	code, out, errOut := pm(t, "policy", "explain", "--policies", examplePolicies,
		"--user", `{"id":"u2","tenant_id":"t1","roles":["manager"]}`, "--collection", "employees", "--action", "read")
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, "allowed:    true")
	require.Contains(t, out, "inherited: employee, viewer")
	require.Contains(t, out, `"manager_id":{"$eq":"u2"}`)
	require.Contains(t, out, "mask:       email (email), phone (phone)")

	code, out, _ = pm(t, "policy", "explain", "--policies", examplePolicies,
		"--user", `{"id":"u2","roles":["manager"]}`, "--collection", "employees", "--action", "read")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "matches nothing")
	require.Contains(t, out, "fail closed")

	code, out, _ = pm(t, "policy", "explain", "--policies", examplePolicies,
		"--user", `{"id":"u2","tenant_id":"t1","roles":["manger"]}`, "--collection", "secrets", "--action", "read")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, "manger (not defined in the policies)")
	require.Contains(t, out, "no policy for this collection")
}

func TestExplainBadInput(t *testing.T) {
	ok := []string{"--policies", examplePolicies, "--collection", "employees", "--action", "read"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"invalid JSON", append([]string{"--user", `{"id":`}, ok...), "--user: not a principal JSON object"},
		{"misspelt key", append([]string{"--user", `{"id":"u1","tenant":"t1"}`}, ok...), `unknown field "tenant"`},
		{"roles not a list", append([]string{"--user", `{"id":"u1","roles":"employee"}`}, ok...), "--user"},
		{"no user", ok, "--user is required"},
		{"bad action", []string{"--user", `{"id":"u1"}`, "--collection", "c", "--action", "fly"}, `--action must be one of create, read, update, delete, aggregate, restore, got "fly"`},
		{"no collection", []string{"--user", `{"id":"u1"}`, "--action", "read"}, "--collection is required"},
		{"bad now", append([]string{"--user", `{"id":"u1"}`, "--now", "yesterday"}, ok...), "--now"},
		{"stray argument", append([]string{"--user", `{"id":"u1"}`, "extra"}, ok...), "unexpected argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := pm(t, append([]string{"policy", "explain"}, tc.args...)...)
			require.Equal(t, exitUsage, code, errOut)
			require.Empty(t, out)
			require.Contains(t, errOut, tc.want)
		})
	}
	// A policy that does not load is not a usage error.
	code, _, errOut := pm(t, "policy", "explain", "--policies", filepath.Join(t.TempDir(), "none"),
		"--user", `{"id":"u1"}`, "--collection", "c", "--action", "read")
	require.Equal(t, exitFail, code)
	require.Contains(t, errOut, "none")
}

func TestPolicyTestExamplePolicies(t *testing.T) {
	code, out, errOut := pm(t, "policy", "test", examplePolicies)
	require.Equal(t, exitOK, code, out+errOut)
	m := regexp.MustCompile(`(?m)^(\d+) passed, 0 failed$`).FindStringSubmatch(out)
	require.NotNil(t, m, out)
	n, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	require.GreaterOrEqual(t, n, 25, "the examples keep at least 25 cases")
}

// copyPolicies puts the example policies (not their cases) in a new folder.
func copyPolicies(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files, err := filepath.Glob(filepath.Join(examplePolicies, "*.yml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644))
	}
	return dir
}

func TestPolicyTestReportsWrongCases(t *testing.T) {
	dir := copyPolicies(t)
	writeFiles(t, dir, map[string]string{"tests/wrong.yml": `users:
  jane: {id: u1, tenant_id: t1, roles: [employee]}
cases:
  - name: right
    user: jane
    collection: employees
    action: read
    document: {_id: 1, tenant_id: t1, owner: u1, ssn: "1"}
    expect: allow
    hidden: [ssn]

  - name: employees can read payroll
    user: jane
    collection: payroll
    action: read
    document: {_id: 2, tenant_id: t1, employee_id: u1}
    expect: allow

  - name: ssn is visible
    user: jane
    collection: employees
    action: read
    document: {_id: 1, tenant_id: t1, owner: u1, ssn: "1", n: 5}
    expect: allow
    visible: {ssn: "1", n: 6}

  - name: other tenant is denied
    user: jane
    collection: employees
    action: read
    document: {_id: 1, tenant_id: t1, owner: u1}
    expect: deny
`})
	code, out, _ := pm(t, "policy", "test", dir)
	require.Equal(t, exitFail, code)
	f := filepath.Join(dir, "tests", "wrong.yml")
	require.Contains(t, out, f+":12: FAIL employees can read payroll: expected allow, got deny: no role of the caller grants read on payroll")
	require.Contains(t, out, f+":19: FAIL ssn is visible: visible ssn: field is absent")
	require.Contains(t, out, "visible n: got 5, want 6")
	require.Contains(t, out, f+":27: FAIL other tenant is denied: expected deny, got allow by role employee")
	require.NotContains(t, out, "FAIL right")
	require.True(t, strings.HasSuffix(out, "1 passed, 3 failed\n"), out)

	// -run selects cases by name.
	code, out, _ = pm(t, "policy", "test", "-run", "^right$", "-v", dir)
	require.Equal(t, exitOK, code, out)
	require.Contains(t, out, f+":4: ok   right")
	require.True(t, strings.HasSuffix(out, "1 passed, 0 failed\n"), out)
}

func TestPolicyTestReportsMalformedCases(t *testing.T) {
	dir := copyPolicies(t)
	writeFiles(t, dir, map[string]string{"tests/bad.yml": `cases:
  - name: typo in the caller
    user: {id: u1, tenant: t1, roles: [employee]}
    collection: employees
    action: read
    document: {_id: 1}
    expect: allow
  - name: missing pieces
    user: {id: u1}
    action: fly
    expect: perhaps
  - name: fields on a deny
    user: {id: u1}
    collection: employees
    action: read
    document: {_id: 1}
    expect: deny
    hidden: [ssn]
  - name: not run, names a field it does not have
    user: {id: u1, tenant_id: t1, roles: [hr]}
    collection: employees
    action: read
    document: {_id: 1, tenant_id: t1}
    expect: allow
    hidden: [snn]
`})
	code, out, _ := pm(t, "policy", "test", dir)
	require.Equal(t, exitFail, code)
	f := filepath.Join(dir, "tests", "bad.yml")
	for _, want := range []string{
		f + `:3:11: case "typo in the caller": user: unknown field "tenant"`,
		f + `:8:5: case "missing pieces": collection is required`,
		f + `:8:5: case "missing pieces": document is required`,
		f + `:10:13: case "missing pieces": unknown action "fly"`,
		f + `:11:13: case "missing pieces": expect must be allow or deny`,
		f + `:18:13: case "fields on a deny": hidden needs expect: allow`,
		f + `:19: FAIL not run, names a field it does not have: hidden snn: the document has no such field`,
	} {
		require.Contains(t, out, want)
	}
	require.True(t, strings.HasSuffix(out, "0 passed, 4 failed\n"), out)

	// No case files at all is a failure, not an empty success.
	code, _, errOut := pm(t, "policy", "test", copyPolicies(t))
	require.Equal(t, exitFail, code)
	require.Contains(t, errOut, "no case files")
}
