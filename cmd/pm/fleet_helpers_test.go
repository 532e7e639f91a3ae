package main

import (
	"path/filepath"
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/permission-mongo/permission-mongo/internal/app"
	"github.com/permission-mongo/permission-mongo/internal/config"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

// fleetPolicy lets clerks read and write their tenant's tickets and admins
// manage keys and reload policies.
const fleetPolicy = `
version: "1"
roles: {clerk: {}, admin: {}}
policies:
  tickets:
    clerk:
      actions: [create, read, update, delete, aggregate]
      when: "resource.tenant_id == user.tenant_id"
    presets: {tenant_id: user.tenant_id}
system:
  api_keys.manage: [admin]
  policies.reload: [admin]
  audit.read: [admin]
`

// fleetSetup is one deployment's shared files: the config every proxy of
// the test reads (same database, cursor secret, Redis, keys) and the policy.
type fleetSetup struct {
	dir    string
	config string // path
	keys   map[string]string
	db     *mongo.Database
}

// newFleetSetup writes a config on the test's MongoDB server and a fresh
// database. extra is YAML appended at the top level (redis, rate_limits).
func newFleetSetup(t *testing.T, extra string, keys ...testKey) *fleetSetup {
	t.Helper()
	uri := testenv.MongoURI(t)
	_, db := testenv.Mongo(t)
	dir := t.TempDir()
	writeTestFile(t, dir, "policy.yml", fleetPolicy)
	head := "listen: 127.0.0.1:0\npolicies: policy.yml\n" +
		"mongodb: {uri: \"" + uri + "\", database: " + db.Name() + "}\n" + testCursorSecret +
		"log: {level: warn}\n" + extra + "\n"
	_, full := loadTestConfig(t, dir, head, "  key_cache_ttl: 10s\n", keys)
	path := filepath.Join(dir, "config.yml")
	return &fleetSetup{dir: dir, config: path, keys: full, db: db}
}

// startInProcess runs one proxy of the setup in the test process.
func (f *fleetSetup) startInProcess(t *testing.T) (url string, a *app.App) {
	t.Helper()
	c, err := config.Load(f.config)
	if err != nil {
		t.Fatal(err)
	}
	a, url = serveApp(t, c, app.Options{})
	return url, a
}
