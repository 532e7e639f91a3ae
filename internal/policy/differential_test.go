package policy

import (
	"fmt"
	"math/rand"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/policy/when"
	"github.com/permission-mongo/permission-mongo/internal/principal"
	"github.com/permission-mongo/permission-mongo/internal/store"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

// TestDecisionDifferential checks whole decisions — several roles, inherited
// roles, rules folded per caller — on a real server: the documents the
// decision's filter returns are exactly those its in-memory check accepts,
// and every returned document gets field rules from a role that matched it.
func TestDecisionDifferential(t *testing.T) {
	const src = `roles: {employee: {}, manager: {inherits: [employee]}, auditor: {}, admin: {}}
policies:
  things:
    employee:
      actions: [read, update]
      when: "resource.tenant_id == user.tenant_id && (resource.owner == user.id || user.id in resource.shared_with)"
      fields: {deny: [secret]}
    manager:
      actions: [read]
      when: "resource.tenant_id == user.tenant_id && resource.dept in user.claims.depts"
    auditor:
      actions: [read]
      when: "resource.status != 'draft' && resource.amount >= user.claims.min_amount"
      fields: {mask: {owner: partial}}
    admin:
      actions: [read, delete]
      when: "'root' in user.roles || resource.tenant_id == user.tenant_id"
`
	s, err := Parse(map[string][]byte{"p.yml": []byte(src)})
	require.NoError(t, err)
	ctx := t.Context()
	r := rand.New(rand.NewSource(7))
	pick := func(vals ...any) any { return vals[r.Intn(len(vals))] }
	var docs []any
	for i := 0; i < 400; i++ {
		d := bson.D{{Key: "_id", Value: int32(i)}}
		add := func(k string, v any) {
			if r.Intn(7) != 0 {
				d = append(d, bson.E{Key: k, Value: v})
			}
		}
		add("tenant_id", pick("t1", "t2", nil, int32(1), bson.A{"t1"}))
		add("owner", pick("u1", "u2", "u3", nil))
		add("shared_with", pick(bson.A{"u1", "u2"}, bson.A{}, "u1", bson.A{"u3"}, nil))
		add("dept", pick("eng", "ops", "hr", nil, bson.A{"eng", "hr"}))
		add("status", pick("draft", "final", nil, int32(3)))
		add("amount", pick(int32(5), 50.5, int64(500), "500", nil))
		add("secret", "s")
		docs = append(docs, d)
	}
	coll := testenv.Store(t).Collection("things")
	require.NoError(t, coll.InsertMany(ctx, docs, true))

	callers := []*principal.Principal{
		{ID: "u1", TenantID: "t1", Roles: []string{"employee"}},
		{ID: "u2", TenantID: "t1", Roles: []string{"manager"}, Claims: map[string]any{"depts": []any{"eng", "ops"}}},
		{ID: "u3", TenantID: "t2", Roles: []string{"auditor", "employee"}, Claims: map[string]any{"min_amount": float64(50)}},
		{ID: "u4", Roles: []string{"manager", "auditor"}, Claims: map[string]any{"depts": []any{"hr"}}}, // no tenant: tenant rules fail closed
		{ID: "u5", TenantID: "t2", Roles: []string{"admin"}},
		{ID: "u6", Roles: []string{"admin", "root"}},
		{ID: "u7", TenantID: "t1", Roles: []string{"nobody"}},
	}
	for _, p := range callers {
		for _, a := range []Action{Read, Update, Delete} {
			d := s.Decide(p.Roles, p, "things", a, time.Now())
			var mem []int
			for _, doc := range docs {
				raw := testenv.Raw(t, doc)
				if d.Match(raw) {
					mem = append(mem, int(raw.Lookup("_id").Int32()))
					require.NotNil(t, d.FieldsFor(raw))
				}
			}
			var got []int
			switch d.State {
			case when.Never:
			default:
				filter := any(d.Filter())
				if d.State == when.Always {
					filter = bson.D{}
				}
				require.NoError(t, coll.Each(ctx, filter, store.Find{Sort: bson.D{{Key: "_id", Value: 1}}}, func(found bson.Raw) error {
					got = append(got, int(found.Lookup("_id").Int32()))
					return nil
				}))
			}
			sort.Ints(mem)
			require.Equal(t, fmt.Sprint(mem), fmt.Sprint(got), "caller %s action %s filter %s", p.ID, a, d.Filter())
			if !d.Granted {
				require.Empty(t, got)
			}
		}
	}
}
