package main

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/permission-mongo/permission-mongo/internal/app"
	"github.com/permission-mongo/permission-mongo/internal/auth"
	"github.com/permission-mongo/permission-mongo/internal/config"
)

const keysPolicy = `
version: "1"
roles: {admin: {}, clerk: {}}
system:
  api_keys.manage: [admin]
policies:
  notes:
    admin: {actions: [create, read]}
    clerk: {actions: [read]}
`

// createRemoteKey runs `pm keys create --remote` against url as the holder
// of callerKey and returns the key it printed on its first line and the
// key's id.
func createRemoteKey(t *testing.T, url, callerKey string, args ...string) (key, id string) {
	t.Helper()
	code, out, errOut := pmRun(t, "", append([]string{"keys", "create", "--remote", "--url", url, "--api-key", callerKey}, args...)...)
	if code != exitOK {
		t.Fatalf("keys create --remote %v: %d %s", args, code, errOut)
	}
	key = strings.SplitN(out, "\n", 2)[0]
	id, _, err := auth.ParseKey(key)
	if err != nil {
		t.Fatalf("keys create --remote printed no key first: %q", out)
	}
	return key, id
}

// pmRun runs the CLI in-process.
func pmRun(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	if len(args) >= 2 && args[0] == "keys" && args[1] == "hash" {
		code = runKeysHash(args[2:], strings.NewReader(stdin), &o, &e)
	} else {
		code = run(args, &o, &e)
	}
	return code, o.String(), e.String()
}

func getWithKey(t *testing.T, url, key string) int {
	t.Helper()
	st, _, _ := call(t, "GET", url, key, "")
	return st
}

// The key `pm keys create` prints is accepted by a server whose config holds
// the entry it prints (pasted as is), and `pm keys hash` of that key gives
// back the same entry.
func TestKeysCreateEntryWorksWhenPasted(t *testing.T) {
	code, out, errOut := pmRun(t, "", "keys", "create", "--name", "ci: deploy #1", "--id", "root", "--tenant", "t1", "--roles", "admin", "--expires-in", "24h")
	if code != exitOK {
		t.Fatalf("pm keys create: %d %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	key := lines[0]
	kid, _, err := auth.ParseKey(key)
	if err != nil {
		t.Fatalf("first line is not a key: %q", key)
	}
	var entry strings.Builder
	for _, l := range lines[1:] {
		if strings.HasPrefix(l, "#") {
			continue
		}
		entry.WriteString("    " + l + "\n")
	}
	if strings.Contains(entry.String(), key) || strings.Contains(entry.String(), strings.TrimPrefix(key, "pm_"+kid+"_")) {
		t.Fatal("the config entry contains the secret")
	}

	dir := t.TempDir()
	writeTestFile(t, dir, "policy.yml", keysPolicy)
	cfgText := "listen: 127.0.0.1:0\npolicies: policy.yml\nmongodb: {uri: embedded, embedded_dir: data, database: app}\n" +
		"auth:\n  api_keys:\n" + entry.String()
	cfg, err := config.Load(writeTestFile(t, dir, "config.yml", cfgText))
	if err != nil {
		t.Fatalf("the printed entry does not load:\n%s\n%v", cfgText, err)
	}
	k := cfg.Auth.APIKeys[0]
	if k.Name != "ci: deploy #1" || k.KeyID != kid || k.Principal.ID != "root" || k.Principal.TenantID != "t1" || k.ExpiresAt == nil {
		t.Fatalf("entry read back as %+v", k)
	}
	if d := time.Until(*k.ExpiresAt); d < 23*time.Hour || d > 25*time.Hour {
		t.Fatalf("expires_at %v is not about 24h away", k.ExpiresAt)
	}
	_, url := serveApp(t, cfg, app.Options{})
	if st := getWithKey(t, url+"/admin/api-keys", key); st != 200 {
		t.Fatalf("the created key is refused: %d", st)
	}
	// One changed character of the secret is refused: the hash is checked.
	bad := key[:len(key)-1] + map[bool]string{true: "b", false: "a"}[strings.HasSuffix(key, "a")]
	if st := getWithKey(t, url+"/admin/api-keys", bad); st != 401 {
		t.Fatalf("a wrong secret: %d, want 401", st)
	}

	code, hout, herr := pmRun(t, key+"\n", "keys", "hash")
	if code != exitOK {
		t.Fatalf("pm keys hash: %d %s", code, herr)
	}
	if want := "key_id: " + k.KeyID + "\nkey_sha256: " + k.KeySHA256 + "\n"; hout != want {
		t.Fatalf("pm keys hash printed %q, want %q", hout, want)
	}
}

// A server named without --remote is refused rather than silently ignored.
func TestKeysCreateServerFlagsNeedRemote(t *testing.T) {
	for _, args := range [][]string{
		{"keys", "create", "--name", "svc", "--id", "u1", "--url", "http://127.0.0.1:1"},
		{"keys", "create", "--name", "svc", "--id", "u1", "--api-key", "pm_x"},
	} {
		code, out, errOut := pmRun(t, "", args...)
		if code != exitUsage || out != "" || !strings.Contains(errOut, "--remote") {
			t.Fatalf("%v: %d %q %q", args, code, out, errOut)
		}
	}
}

func TestKeysHashRefusesNonKeys(t *testing.T) {
	for _, in := range []string{"", "test\n", "pm_0123456789abcdef_short\n", "pm_XYZ_" + strings.Repeat("a", 52)} {
		code, out, errOut := pmRun(t, in, "keys", "hash")
		if code != exitFail || out != "" || !strings.Contains(errOut, "pm keys create") {
			t.Fatalf("hash of %q: %d %q %q", in, code, out, errOut)
		}
	}
	if code, _, errOut := pmRun(t, "", "keys", "hash", "pm_0123456789abcdef_x"); code != exitUsage || !strings.Contains(errOut, "stdin") {
		t.Fatalf("key as argument: %d %s", code, errOut)
	}
}

// The demo key written in a comment of docker/config.example.yml is a real
// key: it parses, and it hashes to the entry below it, so the example works
// when pasted.
func TestExampleConfigDemoKeyMatchesItsEntry(t *testing.T) {
	raw, err := os.ReadFile("../../docker/config.example.yml")
	if err != nil {
		t.Fatal(err)
	}
	key := regexp.MustCompile(`pm_[0-9a-f]{16}_[a-z2-7]+`).FindString(string(raw))
	if key == "" {
		t.Fatal("docker/config.example.yml shows no demo key")
	}
	cfg, err := config.Load("../../docker/config.example.yml")
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := pmRun(t, key, "keys", "hash")
	if code != exitOK {
		t.Fatalf("the demo key is not a key pm accepts: %s", errOut)
	}
	k := cfg.Auth.APIKeys[0]
	if want := "key_id: " + k.KeyID + "\nkey_sha256: " + k.KeySHA256 + "\n"; out != want {
		t.Fatalf("the demo key hashes to\n%s\nbut the example's entry is\n%s", out, want)
	}
}

// list, create --remote and revoke drive the admin endpoints of a running
// server; a revoked key stops working, and a caller without api_keys.manage
// gets the server's 403 on stderr and exit 1.
func TestKeysListCreateRevokeAgainstServer(t *testing.T) {
	ts := startTestServer(t, keysPolicy, testKey{"admin", "root", "t1", []string{"admin"}}, testKey{"clerk", "c1", "t1", []string{"clerk"}})
	admin := ts.keys["admin"]

	newKey, newID := createRemoteKey(t, ts.url, admin, "--name", "svc", "--id", "svc-1", "--roles", "clerk", "--expires-in", "1h")
	if st := getWithKey(t, ts.url+"/collections/notes", newKey); st != 200 {
		t.Fatalf("the server-created key: %d", st)
	}

	t.Setenv("PM_API_KEY", admin) // the variable stands in for --api-key
	code, out, errOut := pmRun(t, "", "keys", "list", "--url", ts.url)
	if code != exitOK {
		t.Fatalf("list: %d %s", code, errOut)
	}
	var row string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, newID) {
			row = l
		}
	}
	if row == "" || !strings.Contains(row, "svc-1") || !strings.Contains(row, "clerk") || !strings.Contains(row, "active") || strings.Contains(out, newKey) {
		t.Fatalf("list does not show the key as active (or shows its secret):\n%s", out)
	}

	code, out, errOut = pmRun(t, "", "keys", "revoke", "--url", ts.url, newKey) // a pasted full key is reduced to its id
	if code != exitOK || out != "revoked "+newID+"\n" {
		t.Fatalf("revoke: %d %q %s", code, out, errOut)
	}
	waitUntil(t, func() bool { return getWithKey(t, ts.url+"/collections/notes", newKey) == 401 }, "the revoked key to be refused")
	code, out, _ = pmRun(t, "", "keys", "list", "--url", ts.url, "--json")
	var keys []adminKey
	if code != exitOK || json.Unmarshal([]byte(out), &keys) != nil || len(keys) != 1 || keys[0].ID != newID || !keys[0].Revoked {
		t.Fatalf("list --json after revoke: %d %s", code, out)
	}

	code, _, errOut = pmRun(t, "", "keys", "revoke", "--url", ts.url, "0123456789abcdef")
	if code != exitFail || !strings.Contains(errOut, "404 NOT_FOUND") {
		t.Fatalf("revoke of an unknown id: %d %s", code, errOut)
	}
	code, _, errOut = pmRun(t, "", "keys", "list", "--url", ts.url, "--api-key", ts.keys["clerk"])
	if code != exitFail || !strings.Contains(errOut, "403 FORBIDDEN") {
		t.Fatalf("list as a clerk: %d %s", code, errOut)
	}
	code, _, errOut = pmRun(t, "", "keys", "revoke", "--url", ts.url, "not-an-id")
	if code != exitUsage || strings.Contains(errOut, "not-an-id") {
		t.Fatalf("revoke of garbage: %d %s", code, errOut)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := pmRun(t, "", "version")
	if code != exitOK || !strings.HasPrefix(out, "pm dev (go") {
		t.Fatalf("pm version: %d %q", code, out)
	}
	old := version
	version = "1.2.3"
	defer func() { version = old }()
	if _, out, _ := pmRun(t, "", "version"); !strings.HasPrefix(out, "pm 1.2.3 ") {
		t.Fatalf("pm version with -X main.version=1.2.3: %q", out)
	}
}
