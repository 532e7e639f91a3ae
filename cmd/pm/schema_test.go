package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const schemaPolicyFile = `version: "1"
roles:
  hr: {}
policies:
  staff:
    hr:
      actions: [create, read]
      when: "resource.tenant_id == user.tenant_id"
schemas:
  staff:
    additional_fields: false
    fields:
      tenant_id: {type: string, required: true}
      name:      {type: string, required: true}
      salary:    {type: number, min: 0}
      status:    {type: string, enum: [active, inactive], default: active}
      label:     {computed: "resource.name + ' (' + resource.status + ')'"}
`

func TestCheckReportsSchemaProblems(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"p.yml": schemaPolicyFile + `  ghosts:
    fields:
      x: {type: strnig}
      y: {type: string, ref: nowhere}
`})
	code, out, errOut := pm(t, "policy", "check", dir)
	require.Equal(t, exitFail, code, out)
	f := filepath.Join(dir, "p.yml")
	require.Contains(t, errOut, f+":18:3: schema for collection \"ghosts\", which has no policy")
	require.Contains(t, errOut, f+":20:17: unknown type \"strnig\"")
	require.Contains(t, errOut, f+":21:10: y: ref names collection \"nowhere\", which has no policy")
	require.Len(t, strings.Split(strings.TrimSpace(errOut), "\n"), 3, errOut)

	writeFiles(t, dir, map[string]string{"p.yml": schemaPolicyFile})
	code, out, errOut = pm(t, "policy", "check", dir)
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, "ok:")
}

func TestPolicyTestValidationCases(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"p.yml": schemaPolicyFile, "tests/s.yml": `users:
  h: {id: h1, tenant_id: t1, roles: [hr]}
cases:
  - name: valid with default and computed
    user: h
    collection: staff
    action: create
    document: {tenant_id: t1, name: Ann}
    expect: allow
    valid: true
  - name: every failure listed
    user: h
    collection: staff
    action: create
    document: {tenant_id: t1, salary: -1, status: gone, extra: 1, label: forged}
    expect: allow
    validation_errors: ["name:required", "salary:min", "status:enum", "extra:additional_fields", "label:computed", "label:computed"]
  - name: wrongly expected valid
    user: h
    collection: staff
    action: create
    document: {tenant_id: t1, name: 5}
    expect: allow
    valid: true
  - name: wrongly expected invalid
    user: h
    collection: staff
    action: create
    document: {tenant_id: t1, name: Bo}
    expect: allow
    valid: false
`})
	code, out, _ := pm(t, "policy", "test", dir)
	require.Equal(t, exitFail, code, out)
	f := filepath.Join(dir, "tests", "s.yml")
	require.NotContains(t, out, "FAIL valid with default")
	require.NotContains(t, out, "FAIL every failure listed")
	require.Contains(t, out, f+":18: FAIL wrongly expected valid: expected valid, got label:computed, name:type")
	require.Contains(t, out, f+":25: FAIL wrongly expected invalid: expected validation failures, the document is valid")
	require.True(t, strings.HasSuffix(out, "2 passed, 2 failed\n"), out)
}
