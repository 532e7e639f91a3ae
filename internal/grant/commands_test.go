package grant

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
)

func extJSON(t *testing.T, d bson.D) string {
	t.Helper()
	b, err := bson.MarshalExtJSON(d, false, false)
	require.NoError(t, err)
	return string(b)
}

// The exact documents sent to MongoDB: a change here changes what a
// credential can do, so it must show in review.
func TestCommandDocuments(t *testing.T) {
	a := &Approved{Database: "app", Collections: []string{"orders", "report_q1"}, Actions: []string{"find"},
		ClientSource: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	require.Equal(t,
		`{"createRole":"pm_grant_role_abc","privileges":[{"resource":{"db":"app","collection":"orders"},"actions":["find"]},{"resource":{"db":"app","collection":"report_q1"},"actions":["find"]}],"roles":[],"authenticationRestrictions":[{"clientSource":["10.0.0.0/8"]}],"writeConcern":{"w":"majority"}}`,
		extJSON(t, CreateRoleCmd("pm_grant_role_abc", a)))

	exp := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	require.Equal(t,
		`{"createUser":"pm_grant_user_abc","pwd":"secret","roles":[{"role":"pm_grant_role_abc","db":"app"}],"customData":{"pm_grant":true,"grant_id":"abc","expires_at":{"$date":"2026-11-24T12:00:00Z"}},"mechanisms":["SCRAM-SHA-256"],"writeConcern":{"w":"majority"}}`,
		extJSON(t, CreateUserCmd("pm_grant_user_abc", "secret", "pm_grant_role_abc", "abc", a, exp)))

	noNet := &Approved{Database: "app", Collections: []string{"orders"}, Actions: []string{"find", "insert"}}
	require.Equal(t,
		`{"createRole":"r","privileges":[{"resource":{"db":"app","collection":"orders"},"actions":["find","insert"]}],"roles":[],"writeConcern":{"w":"majority"}}`,
		extJSON(t, CreateRoleCmd("r", noNet)))

	require.Equal(t, `{"updateUser":"u","customData":{"pm_grant":true,"grant_id":"abc","expires_at":{"$date":"2026-11-24T12:00:00Z"}},"writeConcern":{"w":"majority"}}`,
		extJSON(t, RenewUserCmd("u", "abc", exp)))
	require.Equal(t, `{"dropUser":"u","writeConcern":{"w":"majority"}}`, extJSON(t, DropUserCmd("u")))
	require.Equal(t, `{"dropRole":"r","writeConcern":{"w":"majority"}}`, extJSON(t, DropRoleCmd("r")))
}

func TestNamesAndPasswords(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := NewID()
		require.Len(t, id, 32)
		require.False(t, seen[id])
		seen[id] = true
	}
	p := NewPassword()
	raw, err := base64Decode(p)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(raw), 32)
	require.NotEqual(t, p, NewPassword())
}
