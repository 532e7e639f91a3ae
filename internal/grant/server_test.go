package grant

import (
	"encoding/base64"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/store"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

func TestMain(m *testing.M) {
	if os.Getenv(leaseWorkerURI) != "" {
		os.Exit(runLeaseWorker()) // a process of TestReaperLeaseOneHolderAcrossProcesses
	}
	testenv.Main(m)
}

func base64Decode(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

func manager(t *testing.T) (*Manager, *mongo.Database) {
	t.Helper()
	client, db := testenv.Mongo(t)
	caps := testenv.Capabilities(t)
	return &Manager{Client: store.NewClient(client), Ledger: store.NewCollection(db.Collection("pm_grants")), Missing: caps.GrantsMissing(), Hosts: "localhost"}, db
}

// On a backend without user management the grant is refused with 501 after
// the rule checks, and nothing is created: no ledger entry, no user.
func TestIssueWithoutUserManagementCreatesNothing(t *testing.T) {
	m, db := manager(t)
	if m.Missing == "" {
		t.Skip("capabilities user_management and custom_roles present: this test is about servers that cannot issue grants")
	}
	_, err := Decide(loadRules(t), []string{"analyst"}, Request{Database: db.Name(), Collections: []string{"orders"}, Actions: []string{"find"}, TTL: "1h"})
	require.Error(t, err, "the rule names database app only")
	a, err := Decide(loadRules(t), []string{"analyst"}, Request{Database: "app", Collections: []string{"orders"}, Actions: []string{"find"}, TTL: "1h"})
	require.NoError(t, err)
	_, err = m.Issue(t.Context(), "u1", "t1", a)
	require.Equal(t, apperr.KindNotSupported, apperr.KindOf(err))
	n, err := m.Ledger.Count(t.Context(), bson.D{})
	require.NoError(t, err)
	require.Zero(t, n, "no ledger entry may be written")
}

// Only one of several reapers holds the lease at a time; the lease passes on
// once it expires.
func TestReaperLeaseIsExclusive(t *testing.T) {
	m, db := manager(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m.Now = func() time.Time { return now }
	leases := store.NewCollection(db.Collection("pm_leases"))
	a := &Reaper{M: m, Leases: leases, Holder: "proxy-a", LeaseTTL: time.Minute}
	b := &Reaper{M: m, Leases: leases, Holder: "proxy-b", LeaseTTL: time.Minute}
	ctx := t.Context()
	ok, err := a.AcquireLease(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = b.AcquireLease(ctx)
	require.NoError(t, err)
	require.False(t, ok, "b must not reap while a holds the lease")
	ok, err = a.AcquireLease(ctx)
	require.NoError(t, err)
	require.True(t, ok, "the holder renews")
	now = now.Add(2 * time.Minute)
	ok, err = b.AcquireLease(ctx)
	require.NoError(t, err)
	require.True(t, ok, "an expired lease passes on")
	ok, err = a.AcquireLease(ctx)
	require.NoError(t, err)
	require.False(t, ok)
}

// TestRealServerGrantLifecycle runs where the server manages users (a real
// MongoDB named by PM_TEST_MONGODB_URI, with auth enabled and a user allowed
// to create users and roles): the issued user can do exactly what was
// granted, stops working after revoke, and the reaper cleans up a crash.
func TestRealServerGrantLifecycle(t *testing.T) {
	testenv.RequireCapability(t, store.CapUserManagement)
	testenv.RequireCapability(t, store.CapCustomRoles)
	m, db := manager(t)
	ctx := t.Context()
	s := loadRules(t)
	_, err := db.Collection("orders").InsertOne(ctx, bson.D{{Key: "_id", Value: 1}})
	require.NoError(t, err)
	_, err = db.Collection("secret").InsertOne(ctx, bson.D{{Key: "_id", Value: 1}})
	require.NoError(t, err)
	a, err := Decide(s, []string{"engineer"}, Request{Database: "app", Collections: []string{"orders"}, Actions: []string{"find"}, TTL: "1h"})
	require.NoError(t, err)
	a.Database = db.Name() // the test database stands for "app"
	creds, err := m.Issue(ctx, "u1", "t1", a)
	require.NoError(t, err)

	user := testenv.ConnectAs(t, creds.Username, creds.Password, creds.AuthSource)
	udb := user.Database(db.Name())
	require.NoError(t, udb.Collection("orders").FindOne(ctx, bson.D{}).Err(), "find on the granted collection works")
	_, err = udb.Collection("orders").InsertOne(ctx, bson.D{{Key: "x", Value: 1}})
	require.Error(t, err, "insert was not granted")
	require.Error(t, udb.Collection("secret").FindOne(ctx, bson.D{}).Err(), "another collection was not granted")

	require.NoError(t, m.Revoke(ctx, creds.GrantID))
	require.NoError(t, m.Revoke(ctx, creds.GrantID), "revoke is idempotent")
	fresh := testenv.ConnectAs(t, creds.Username, creds.Password, creds.AuthSource)
	require.Error(t, fresh.Database(db.Name()).Collection("orders").FindOne(ctx, bson.D{}).Err(), "revoked credentials stop working")

	// A crash between createRole and createUser: a pending entry and an
	// orphan role. The reaper drops both.
	id := NewID()
	require.NoError(t, db.RunCommand(ctx, CreateRoleCmd(RolePrefix+id, a)).Err())
	err = m.Ledger.InsertOne(ctx, Record{ID: id, Database: db.Name(), Username: UserPrefix + id, RoleName: RolePrefix + id, Status: Pending, CreatedAt: time.Now().Add(-time.Hour)})
	require.NoError(t, err)
	r := &Reaper{M: m, Leases: store.NewCollection(db.Collection("pm_leases")), Holder: "t", LeaseTTL: time.Minute, MaxAttempts: 3, PendingAfter: time.Minute}
	rep, err := r.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, rep.Cleaned)
	var roles struct {
		Roles []bson.M `bson:"roles"`
	}
	require.NoError(t, db.RunCommand(ctx, bson.D{{Key: "rolesInfo", Value: RolePrefix + id}}).Decode(&roles))
	require.Empty(t, roles.Roles)
}
