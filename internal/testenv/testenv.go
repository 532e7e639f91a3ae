// Package testenv gives integration tests real servers: a MongoDB-compatible
// database (an embedded FerretDB by default, or the server named by
// PM_TEST_MONGODB_URI) and a Redis server. Tests run against what is really
// there; a test that needs something the server lacks is skipped, saying
// which capability was missing, never faked.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/permission-mongo/permission-mongo/internal/store"
)

// EnvMongoURI names the variable that points the suite at a real server
// (e.g. a MongoDB replica set in a user's CI). Unset, an embedded FerretDB
// is started.
const EnvMongoURI = "PM_TEST_MONGODB_URI"

// Backend names returned by Backend.
const (
	BackendFerretDB   = store.BackendFerretDB
	BackendDocumentDB = store.BackendDocumentDB
	BackendMongoDB    = store.BackendMongoDB
)

// One server and one client per test process: starting FerretDB takes
// a moment, and isolation comes from a fresh database per test instead.
var (
	once     sync.Once
	setupErr error
	client   *mongo.Client
	caps     store.Capabilities
	extra    map[string]bool // every capability by name, store's and testenv's
	embedded *store.Embedded
	dataDir  string
	// serverURI reaches the test server from other processes too.
	serverURI string
)

func setup() error {
	once.Do(func() { setupErr = start() })
	return setupErr
}

func start() error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	uri := os.Getenv(EnvMongoURI)
	if uri == "" {
		dir, err := newDataDir()
		if err != nil {
			return err
		}
		e, err := store.StartEmbedded(ctx, dir, nil)
		if err != nil {
			_ = os.RemoveAll(dir)
			return err
		}
		embedded, dataDir, uri = e, dir, e.URI()
	}

	c, err := store.Connect(ctx, uri)
	if err != nil {
		return fmt.Errorf("connect to test server: %w", err)
	}
	probed, err := store.Probe(ctx, c, "pmtest_probe")
	if err != nil {
		return fmt.Errorf("probe test server: %w", err)
	}
	more, err := probeExtra(ctx, c, probed)
	if err != nil {
		return err
	}
	client, caps, extra, serverURI = c, probed, more, uri
	return nil
}

// Mongo returns the shared client and a new, empty database with a unique
// name (pmtest_<random>), dropped when the test ends. The client is shared by
// every test of the process: do not Disconnect it. Safe with t.Parallel.
// When the server cannot be started or reached, the test fails.
func Mongo(t testing.TB) (*mongo.Client, *mongo.Database) {
	t.Helper()
	if err := setup(); err != nil {
		t.Fatalf("testenv: MongoDB test server: %v", err)
	}
	db := client.Database(UniqueName("pmtest_"))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := db.Drop(ctx); err != nil {
			t.Errorf("testenv: drop test database %s: %v", db.Name(), err)
		}
	})
	return client, db
}

// DB is Mongo's database alone, for tests that do not need the client.
func DB(t testing.TB) *mongo.Database {
	t.Helper()
	_, db := Mongo(t)
	return db
}

// Collection is the collection name in a database of the test's own (see
// Mongo), for tests that work on one collection.
func Collection(t testing.TB, name string) *mongo.Collection {
	t.Helper()
	return DB(t).Collection(name)
}

// Store is the database of DB as the store package's handle, for tests of
// code that reads and writes through store.
func Store(t testing.TB) *store.Database {
	t.Helper()
	return store.NewDatabase(DB(t))
}

// ConnectAs connects to the test server's host as the given user (SCRAM-SHA-256
// against authSource), for tests of credentials the code under test issued.
// The client is disconnected when the test ends.
func ConnectAs(t testing.TB, username, password, authSource string) *mongo.Client {
	t.Helper()
	host := MongoURI(t)
	host = strings.TrimPrefix(host[strings.Index(host, "@")+1:], "mongodb://")
	if i := strings.IndexAny(host, "/?"); i >= 0 {
		host = host[:i]
	}
	c, err := mongo.Connect(options.Client().ApplyURI("mongodb://" + host).SetAuth(options.Credential{
		Username: username, Password: password, AuthSource: authSource, AuthMechanism: "SCRAM-SHA-256"}))
	if err != nil {
		t.Fatalf("testenv: connect as %s: %v", username, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Disconnect(ctx)
	})
	return c
}

// MongoURI is the test server's URI, for proxies a test starts as separate
// processes (they share the server the test process runs or points at).
// Use it with a database from Mongo, so that the test's data is dropped.
func MongoURI(t testing.TB) string {
	t.Helper()
	if err := setup(); err != nil {
		t.Fatalf("testenv: MongoDB test server: %v", err)
	}
	return serverURI
}

// Backend is BackendFerretDB, BackendDocumentDB or BackendMongoDB, as the
// server reported it, so that a test can exclude a documented difference of
// one engine from MongoDB. What a server can do is asked with Has or
// RequireCapability, never inferred from this name.
// It is "" when the server could not be started (Mongo reports why).
func Backend() string {
	if setup() != nil {
		return ""
	}
	return caps.Backend
}

// Capabilities is what the test server answered to store.Probe.
func Capabilities(t testing.TB) store.Capabilities {
	t.Helper()
	if err := setup(); err != nil {
		t.Fatalf("testenv: MongoDB test server: %v", err)
	}
	return caps
}

// UniqueName returns prefix followed by 16 random hex digits, for databases,
// collections or keys that parallel tests must not share.
func UniqueName(prefix string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	return prefix + hex.EncodeToString(b)
}

// Main runs the tests of a package and then stops the embedded server and
// removes its data. Use it from TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// Without it the server dies with the process and its directory is removed
// by a later test run.
func Main(m *testing.M) {
	code := m.Run()
	shutdown()
	os.Exit(code)
}

func shutdown() {
	if client != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = client.Disconnect(ctx)
		cancel()
	}
	if embedded != nil {
		embedded.Close()
		_ = os.RemoveAll(dataDir)
	}
}
