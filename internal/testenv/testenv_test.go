package testenv_test

import (
	"context"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestMongoRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	coll := testenv.Collection(t, "things")

	_, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "a"}, {Key: "n", Value: 1}})
	require.NoError(t, err)
	var got struct {
		ID string `bson:"_id"`
		N  int    `bson:"n"`
	}
	require.NoError(t, coll.FindOne(ctx, bson.D{{Key: "n", Value: 1}}).Decode(&got))
	require.Equal(t, "a", got.ID)
	require.Equal(t, 1, got.N)
	require.Contains(t, []string{testenv.BackendFerretDB, testenv.BackendDocumentDB, testenv.BackendMongoDB}, testenv.Backend())
}

// Parallel tests get separate databases, and each is dropped when its test ends.
func TestMongoIsolatesAndDrops(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	var mu sync.Mutex
	var used []string
	t.Run("group", func(t *testing.T) {
		for _, name := range []string{"one", "two", "three"} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				db := testenv.DB(t)
				mu.Lock()
				used = append(used, db.Name())
				mu.Unlock()
				_, err := db.Collection("c").InsertOne(ctx, bson.D{{Key: "x", Value: name}})
				require.NoError(t, err)
				n, err := db.Collection("c").CountDocuments(ctx, bson.D{})
				require.NoError(t, err)
				require.EqualValues(t, 1, n, "another test's document leaked into this database")
			})
		}
	})
	// t.Run returns after the parallel subtests and their cleanups finished.
	require.Len(t, used, 3)
	require.Len(t, slices.Compact(slices.Sorted(slices.Values(used))), 3, "database names repeat")

	client, _ := testenv.Mongo(t)
	all, err := client.ListDatabaseNames(ctx, bson.D{})
	require.NoError(t, err)
	for _, n := range used {
		require.NotContains(t, all, n, "database of a finished test was not dropped")
	}
}

func TestRequireCapabilitySkipsNamingIt(t *testing.T) {
	t.Parallel()
	testenv.RequireMissing(t, testenv.CapLookup)
	// A subtest that skips is reported as skipped, not failed.
	ran := false
	t.Run("needs lookup", func(t *testing.T) {
		testenv.RequireCapability(t, "lookup")
		ran = true
	})
	require.False(t, ran, "test body ran although the capability is missing")
}

func TestRedis(t *testing.T) {
	t.Parallel()
	addr := testenv.Redis(t)
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	require.NoError(t, err)
	defer func() { _ = conn.Close() }()
	require.NoError(t, conn.SetDeadline(time.Now().Add(2*time.Second)))
	_, err = conn.Write([]byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"))
	require.NoError(t, err)
	buf := make([]byte, 64)
	var got []byte
	for len(got) < len("+OK\r\n$1\r\nv\r\n") {
		n, err := conn.Read(buf)
		require.NoError(t, err)
		got = append(got, buf[:n]...)
	}
	require.Equal(t, "+OK\r\n$1\r\nv\r\n", string(got))
}

// The gaps declared for this engine are exactly the capabilities it lacks:
// a capability an engine gains fails here until its declaration is removed
// (so the tests that were skipped for it run), and one it loses fails here
// instead of hiding as skips.
func TestDeclaredGaps(t *testing.T) {
	t.Parallel()
	b := testenv.Backend()
	missing := testenv.Missing(t)
	t.Logf("backend %s lacks: %v", b, missing)
	if !testenv.HasDeclaredGaps(b) {
		t.Skipf("capability gaps are declared only for the engines this project is tested on; backend %s lacks %v", b, missing)
	}
	require.Equal(t, testenv.DeclaredGaps(b), missing)
}

// ConnectAs reaches the test server as a user the test created; the
// password is checked, so a wrong one is refused.
func TestConnectAs(t *testing.T) {
	t.Parallel()
	testenv.RequireCapability(t, testenv.CapUserManagement)
	db := testenv.DB(t)
	ctx := t.Context()
	user := testenv.UniqueName("pmtest_user_")
	require.NoError(t, db.RunCommand(ctx, bson.D{{Key: "createUser", Value: user}, {Key: "pwd", Value: "pw-1"},
		{Key: "roles", Value: bson.A{bson.D{{Key: "role", Value: "readWrite"}, {Key: "db", Value: db.Name()}}}},
		{Key: "mechanisms", Value: bson.A{"SCRAM-SHA-256"}}}).Err())
	t.Cleanup(func() { _ = db.RunCommand(context.WithoutCancel(ctx), bson.D{{Key: "dropUser", Value: user}}).Err() })

	_, err := testenv.ConnectAs(t, user, "pw-1", db.Name()).Database(db.Name()).Collection("c").InsertOne(ctx, bson.D{{Key: "x", Value: 1}})
	require.NoError(t, err)
	require.Error(t, testenv.ConnectAs(t, user, "wrong", db.Name()).Ping(ctx, nil), "a wrong password is refused")
}
