package main

import (
	"os"
	"strings"
	"testing"

	"github.com/permission-mongo/permission-mongo/internal/app"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

// sdkServer is a whole proxy, started the way `pm serve` starts it, for the
// SDKs' suites (sdk/python/tests, sdk_go_test.go): on the engine named by
// PM_TEST_MONGODB_URI (a fresh database) or, without it, on an embedded
// FerretDB of its own.
type sdkServer struct {
	url      string
	database string
	keys     map[string]string // key name -> full API key
	// grants says whether the engine can issue credential grants (user
	// management and custom roles); without, POST /grants answers 501.
	grants bool
}

// sdkPolicy is what both SDKs' integration tests are written against.
// Tenants ta and tb are members; "admin" (tenant ta) may also read the
// audit log, manage API keys and ask for grants on notes.
const sdkPolicy = `
version: "1"
roles: {member: {}, admin: {}, analyst: {}}
policies:
  notes:
    member:
      actions: [create, read, update, delete, aggregate, restore]
      when: "resource.tenant_id == user.tenant_id"
      fields: {deny_write: [locked], mask: {email: email}}
    presets: {tenant_id: user.tenant_id}
system:
  audit.read: [admin]
  api_keys.manage: [admin]
grants:
  analyst: {databases: [DATABASE], collections: [notes], actions: [find], max_ttl: 1h}
`

func startSDKServer(t *testing.T) *sdkServer {
	t.Helper()
	dir := t.TempDir()
	s := &sdkServer{keys: map[string]string{}}
	var mongoLine string
	if uri := os.Getenv(testenv.EnvMongoURI); uri != "" {
		_, db := testenv.Mongo(t) // a fresh database, dropped at the end
		s.database = db.Name()
		mongoLine = "mongodb: {uri: " + yamlQuote(uri) + ", database: " + s.database + "}\n"
		s.grants = testenv.Has(t, testenv.CapUserManagement) && testenv.Has(t, testenv.CapCustomRoles)
	} else {
		s.database = "app"
		mongoLine = "mongodb: {uri: embedded, embedded_dir: data, database: app}\n"
		// The embedded FerretDB v1 has no user management (a declared gap).
	}
	pol := strings.ReplaceAll(sdkPolicy, "DATABASE", s.database)
	writeTestFile(t, dir, "policy.yml", pol)
	head := "listen: 127.0.0.1:0\npolicies: policy.yml\n" + mongoLine + "versions: {collections: [notes]}\n" +
		`cursor_secret: "` + strings.Repeat("s", 32) + "\"\n"
	c, keys := loadTestConfig(t, dir, head, "", []testKey{
		{"tenant-a", "ua", "ta", []string{"member"}},
		{"tenant-b", "ub", "tb", []string{"member"}},
		{"admin", "boss", "ta", []string{"member", "admin", "analyst"}},
	})
	s.keys = keys
	_, s.url = serveApp(t, c, app.Options{})
	return s
}

func yamlQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
