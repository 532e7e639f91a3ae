package grant

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/policy"
)

const rulesPolicy = `roles: {analyst: {}, engineer: {}, intern: {inherits: [analyst]}, nobody: {}, superuser: {}}
grants:
  analyst:
    databases: [app]
    collections: [orders, "report_*"]
    actions: [find]
    max_ttl: 24h
    client_source: ["10.0.0.0/8"]
  engineer:
    databases: [app, "staging_*"]
    collections: ["*"]
    actions: [readWrite]
    max_ttl: 2h
    deny: {collections: [payroll], actions: [remove]}
  superuser:
    databases: ["*"]
    collections: ["*"]
    actions: [read]
    max_ttl: 1h
`

func loadRules(t *testing.T) *policy.Set {
	t.Helper()
	s, err := policy.Parse(map[string][]byte{"g.yml": []byte(rulesPolicy)})
	require.NoError(t, err)
	return s
}

func TestDecideRules(t *testing.T) {
	s := loadRules(t)
	cases := []struct {
		name  string
		roles []string
		req   Request
		kind  apperr.Kind // KindInternal = allowed
		msg   string
		check func(t *testing.T, a *Approved)
	}{
		{name: "analyst find on orders", roles: []string{"analyst"},
			req: Request{Database: "app", Collections: []string{"orders", "report_q1"}, Actions: []string{"find"}, TTL: "1h"},
			check: func(t *testing.T, a *Approved) {
				t.Helper()
				require.Equal(t, time.Hour, a.TTL)
				require.False(t, a.Clamped)
				require.Equal(t, "10.0.0.0/8", a.ClientSource[0].String(), "the rule's networks apply when none are asked")
				require.Equal(t, []string{"orders", "report_q1"}, a.Collections)
			}},
		{name: "inherited role", roles: []string{"intern"},
			req: Request{Database: "app", Collections: []string{"orders"}, Actions: []string{"find"}, TTL: "10m"}},
		{name: "ttl clamped to max_ttl", roles: []string{"analyst"},
			req: Request{Database: "app", Collections: []string{"orders"}, Role: "", Actions: []string{"find"}, TTL: "72h"},
			check: func(t *testing.T, a *Approved) {
				t.Helper()
				require.Equal(t, 24*time.Hour, a.TTL)
				require.True(t, a.Clamped)
			}},
		{name: "action not in rule", roles: []string{"analyst"},
			req:  Request{Database: "app", Collections: []string{"orders"}, Actions: []string{"insert"}, TTL: "1h"},
			kind: apperr.KindForbidden, msg: "action insert is not allowed"},
		{name: "collection not in rule", roles: []string{"analyst"},
			req:  Request{Database: "app", Collections: []string{"users"}, Actions: []string{"find"}, TTL: "1h"},
			kind: apperr.KindForbidden, msg: "collection users is not allowed"},
		{name: "database not in rule", roles: []string{"analyst"},
			req:  Request{Database: "billing", Collections: []string{"orders"}, Actions: []string{"find"}, TTL: "1h"},
			kind: apperr.KindForbidden, msg: "database billing is not allowed"},
		{name: "client source outside the rule's networks", roles: []string{"analyst"},
			req:  Request{Database: "app", Collections: []string{"orders"}, Actions: []string{"find"}, TTL: "1h", ClientSource: []string{"192.168.1.0/24"}},
			kind: apperr.KindForbidden, msg: "outside the allowed networks"},
		{name: "wider network than allowed", roles: []string{"analyst"},
			req:  Request{Database: "app", Collections: []string{"orders"}, Actions: []string{"find"}, TTL: "1h", ClientSource: []string{"10.0.0.0/7"}},
			kind: apperr.KindForbidden, msg: "outside the allowed networks"},
		{name: "narrower network inside", roles: []string{"analyst"},
			req: Request{Database: "app", Collections: []string{"orders"}, Actions: []string{"find"}, TTL: "1h", ClientSource: []string{"10.1.2.3"}}},
		{name: "bad CIDR", roles: []string{"analyst"},
			req:  Request{Database: "app", Collections: []string{"orders"}, Actions: []string{"find"}, TTL: "1h", ClientSource: []string{"10.0.0.0/99"}},
			kind: apperr.KindInvalid, msg: "not an IP address or CIDR"},
		{name: "unknown action", roles: []string{"engineer"},
			req:  Request{Database: "app", Collections: []string{"x"}, Actions: []string{"dropDatabase"}, TTL: "1h"},
			kind: apperr.KindInvalid, msg: "cannot be granted"},
		{name: "cluster action", roles: []string{"engineer"},
			req:  Request{Database: "app", Collections: []string{"x"}, Actions: []string{"createUser"}, TTL: "1h"},
			kind: apperr.KindInvalid, msg: "cannot be granted"},
		{name: "readWrite shorthand", roles: []string{"engineer"},
			req: Request{Database: "staging_eu", Collections: []string{"x"}, Role: "readWrite", TTL: "30m"},
			check: func(t *testing.T, a *Approved) {
				t.Helper()
				require.Contains(t, a.Actions, "insert")
				require.Contains(t, a.Actions, "remove")
			}},
		{name: "deny overrides allow: collection", roles: []string{"engineer"},
			req:  Request{Database: "app", Collections: []string{"orders", "payroll"}, Actions: []string{"remove"}, TTL: "1h"},
			kind: apperr.KindForbidden, msg: "denies action remove on collection payroll"},
		{name: "deny needs every list to match", roles: []string{"engineer"},
			req: Request{Database: "app", Collections: []string{"payroll"}, Actions: []string{"find"}, TTL: "1h"}},
		{name: "deny from one role beats allow of another", roles: []string{"engineer", "analyst"},
			req:  Request{Database: "app", Collections: []string{"payroll"}, Role: "readWrite", TTL: "1h"},
			kind: apperr.KindForbidden, msg: "denies"},
		{name: "no rule for the role", roles: []string{"nobody"},
			req:  Request{Database: "app", Collections: []string{"orders"}, Actions: []string{"find"}, TTL: "1h"},
			kind: apperr.KindForbidden, msg: "none of your roles"},
		{name: "ttl required", roles: []string{"analyst"},
			req:  Request{Database: "app", Collections: []string{"orders"}, Actions: []string{"find"}},
			kind: apperr.KindInvalid, msg: "ttl is required"},
		{name: "bad ttl", roles: []string{"analyst"},
			req:  Request{Database: "app", Collections: []string{"orders"}, Actions: []string{"find"}, TTL: "-1h"},
			kind: apperr.KindInvalid, msg: "not a positive duration"},
		{name: "role and actions together", roles: []string{"engineer"},
			req:  Request{Database: "app", Collections: []string{"x"}, Role: "read", Actions: []string{"find"}, TTL: "1h"},
			kind: apperr.KindInvalid, msg: "either role or actions"},
		{name: "proxy's own collection", roles: []string{"engineer"},
			req:  Request{Database: "app", Collections: []string{"pm_api_keys"}, Role: "readWrite", TTL: "1h"},
			kind: apperr.KindForbidden, msg: "reserved for the proxy"},
		{name: "proxy's own collection, other case", roles: []string{"engineer"},
			req:  Request{Database: "app", Collections: []string{"orders", "PM_audit"}, Role: "read", TTL: "1h"},
			kind: apperr.KindForbidden, msg: "reserved for the proxy"},
		{name: "admin database", roles: []string{"engineer", "superuser"},
			req:  Request{Database: "admin", Collections: []string{"x"}, Role: "read", TTL: "1h"},
			kind: apperr.KindForbidden, msg: "cannot be granted"},
		{name: "local database", roles: []string{"superuser"},
			req:  Request{Database: "local", Collections: []string{"oplog.rs"}, Role: "read", TTL: "1h"},
			kind: apperr.KindForbidden, msg: "cannot be granted"},
		{name: "bad database name", roles: []string{"superuser"},
			req:  Request{Database: "a.b", Collections: []string{"x"}, Role: "read", TTL: "1h"},
			kind: apperr.KindInvalid, msg: "not a database name"},
		{name: "system collection", roles: []string{"engineer"},
			req:  Request{Database: "app", Collections: []string{"system.users"}, Role: "read", TTL: "1h"},
			kind: apperr.KindInvalid, msg: "not a collection a grant can name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, err := Decide(s, c.roles, c.req)
			if c.kind == apperr.KindInternal {
				require.NoError(t, err)
				if c.check != nil {
					c.check(t, a)
				}
				return
			}
			require.Error(t, err)
			require.Equal(t, c.kind, apperr.KindOf(err), err.Error())
			require.Contains(t, err.Error(), c.msg)
		})
	}
}
