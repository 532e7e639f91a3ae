package pipeline

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/policy/when"
	"github.com/permission-mongo/permission-mongo/internal/principal"
	"github.com/permission-mongo/permission-mongo/internal/query"
)

// testPolicy covers every kind of target the rewriter meets:
//   - people: tenant filter, denied and masked fields;
//   - orders, nodes: tenant filter, no field rules;
//   - cards: allow list with a masked sub-field;
//   - public: no filter, no field rules;
//   - secrets: readable only by boss (forbidden to member);
//   - mine: a filter on user.id, Never for a caller without an id.
const testPolicy = `version: "1"
roles:
  member: {}
  boss: {}
policies:
  people:
    member:
      actions: [read, aggregate]
      when: "resource.tenant_id == user.tenant_id"
      fields:
        deny: [ssn, bank.iban]
        mask: {email: email, phone: phone}
  orders:
    member:
      actions: [read, aggregate]
      when: "resource.tenant_id == user.tenant_id"
  nodes:
    member:
      actions: [read]
      when: "resource.tenant_id == user.tenant_id"
  cards:
    member:
      actions: [read]
      when: "resource.tenant_id == user.tenant_id"
      fields:
        allow: [name, tenant_id, contact.city, contact.zip]
        mask: {contact.zip: redact}
  public:
    member: {actions: [read]}
  secrets:
    boss: {actions: [read]}
  mine:
    member:
      actions: [read]
      when: "resource.owner == user.id"
`

// policyAccess is Access as the api layer is expected to build it: one
// read decision per collection for the same caller.
type policyAccess struct {
	set    *policy.Set
	caller *principal.Principal
	asked  []string
}

func (a *policyAccess) For(coll string) (*Target, error) {
	a.asked = append(a.asked, coll)
	d := a.set.Decide(a.caller.Roles, a.caller, coll, policy.Read, time.Unix(1700000000, 0))
	if !d.Granted {
		return nil, apperr.Forbidden("you may not read collection %q", coll)
	}
	return &Target{
		Filter:   d.Filter(),
		Never:    d.State == when.Never,
		Fields:   d.StrictFields(),
		Readable: d.Readable,
	}, nil
}

func loadPolicy(t testing.TB) *policy.Set {
	t.Helper()
	s, err := policy.Parse(map[string][]byte{"test.yml": []byte(testPolicy)})
	require.NoError(t, err)
	return s
}

func member(t testing.TB) *policyAccess {
	t.Helper()
	return &policyAccess{set: loadPolicy(t), caller: &principal.Principal{ID: "u1", TenantID: "t1", Roles: []string{"member"}}}
}

// parsePipeline reads a pipeline written as Extended JSON, the way the api
// layer will (query.ParseJSONDoc keeps key order and refuses duplicates).
func parsePipeline(t testing.TB, js string) bson.A {
	t.Helper()
	d, err := query.ParseJSONDoc([]byte(`{"p": ` + js + `}`))
	require.NoError(t, err, js)
	a, ok := d[0].Value.(bson.A)
	require.True(t, ok, "pipeline must be an array")
	return a
}

func toJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := bson.MarshalExtJSONIndent(bson.D{{Key: "pipeline", Value: v}}, false, false, "", "  ")
	require.NoError(t, err)
	return string(b) + "\n"
}

func requireKind(t testing.TB, err error, k apperr.Kind, contains string) {
	t.Helper()
	require.Error(t, err)
	var ae *apperr.Error
	require.True(t, errors.As(err, &ae), "not an apperr: %v", err)
	require.Equal(t, k, ae.Kind, "kind of %q", ae.Message)
	require.Contains(t, ae.Message, contains)
}

// checkInvariants walks a rewritten pipeline and asserts what must hold for
// every output: it starts with a $match; every sub-pipeline that reads a
// collection starts with a $match; no refused stage appears.
func checkInvariants(t testing.TB, out bson.A) {
	t.Helper()
	require.NotEmpty(t, out)
	first, ok := out[0].(bson.D)
	require.True(t, ok)
	require.Equal(t, "$match", first[0].Key, "first stage")
	walkOutput(t, out, 0)
}

func walkOutput(t testing.TB, p bson.A, depth int) {
	t.Helper()
	require.Less(t, depth, 50)
	for _, st := range p {
		d := st.(bson.D)
		name := d[0].Key
		refused := stageByName[name].refused != ""
		require.False(t, refused, "refused stage %s in output", name)
		arg, _ := d[0].Value.(bson.D)
		switch name {
		case "$lookup", "$unionWith":
			sub, ok := get(arg, "pipeline")
			require.True(t, ok, "%s without an injected pipeline", name)
			sa := sub.(bson.A)
			require.NotEmpty(t, sa)
			require.Equal(t, "$match", sa[0].(bson.D)[0].Key, "%s pipeline must start with the policy $match", name)
			walkOutput(t, sa, depth+1)
		case "$facet":
			for _, e := range arg {
				walkOutput(t, e.Value.(bson.A), depth+1)
			}
		case "$graphLookup":
			// restrictSearchWithMatch is checked by the golden files.
		}
	}
}
