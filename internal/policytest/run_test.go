package policytest

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/permission-mongo/permission-mongo/internal/policy"
)

const testPolicy = `
version: "1"
roles:
  employee: {}
policies:
  notes:
    employee:
      actions: [read]
      when: resource.owner == user.id
      fields:
        deny: [secret]
`

const testCases = `
users:
  ann: {id: ann, tenant_id: t1, roles: [employee]}
cases:
  - name: own note is readable
    user: ann
    collection: notes
    action: read
    document: {owner: ann, secret: s, title: x}
    expect: allow
    hidden: [secret]
  - name: wrongly expects another's note
    user: ann
    collection: notes
    action: read
    document: {owner: bob}
    expect: allow
  - name: wrongly expects the secret shown
    user: ann
    collection: notes
    action: read
    document: {owner: ann, secret: s}
    expect: allow
    visible: {secret: s}
  - name: broken
    user: nobody
    collection: notes
    action: read
    document: {owner: ann}
    expect: allow
`

func writeDir(t *testing.T) (*policy.Set, string) {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "p.yml"), []byte(testPolicy), 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "tests"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tests", "notes.yml"), []byte(testCases), 0o644))
	set, err := policy.Load(dir)
	require.NoError(t, err)
	return set, filepath.Join(dir, "tests")
}

func TestRunDirReportsEachCase(t *testing.T) {
	set, dir := writeDir(t)
	rep, err := RunDir(set, dir, Options{})
	require.NoError(t, err)
	require.Len(t, rep.Files, 1)
	// Three cases ran; the fourth names an unknown user and is a problem
	// that still counts as a failure.
	require.Len(t, rep.Results, 3)
	require.Equal(t, 1, rep.Passed)
	require.Equal(t, 3, rep.Failed)
	byName := map[string]Result{}
	for _, r := range rep.Results {
		byName[r.Name] = r
	}
	require.True(t, byName["own note is readable"].Passed())
	require.Equal(t, 5, byName["own note is readable"].Line)
	require.Len(t, byName["wrongly expects another's note"].Failures, 1)
	require.Contains(t, byName["wrongly expects another's note"].Failures[0], "expected allow, got deny")
	require.Equal(t, []string{"visible secret: field is absent, want \"s\""}, byName["wrongly expects the secret shown"].Failures)
	require.Len(t, rep.Problems, 1)
	require.Equal(t, "broken", rep.Problems[0].Case)
	require.True(t, strings.Contains(rep.Problems[0].Msg, `unknown user "nobody"`), rep.Problems[0].Msg)

	rep, err = RunDir(set, dir, Options{Only: regexp.MustCompile("^own")})
	require.NoError(t, err)
	require.Equal(t, 1, rep.Passed)
	require.Equal(t, 1, rep.Failed) // the broken case is not skipped by -run
	require.Len(t, rep.Results, 1)
}

func TestRunDirWithoutCasesIsAnError(t *testing.T) {
	set, _ := writeDir(t)
	_, err := RunDir(set, t.TempDir(), Options{})
	require.ErrorContains(t, err, "no case files")
}
