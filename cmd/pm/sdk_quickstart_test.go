package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/permission-mongo/permission-mongo/internal/app"
	"github.com/permission-mongo/permission-mongo/internal/app/apptest"
	"github.com/permission-mongo/permission-mongo/internal/auth"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

// The SDK quickstarts (sdk/README.md, sdk/*/examples) run against what
// `make run` serves: pm dev's policies, demo data and demo keys.
func TestSDKQuickstarts(t *testing.T) {
	// The server of the test process (embedded, or PM_TEST_MONGODB_URI's),
	// with a database of the test's own that is dropped when it ends.
	cfg := apptest.Config(t, filepath.Join("..", "..", "policies"))
	_, db := testenv.Mongo(t)
	cfg.MongoDB.Database = db.Name()
	keys := make([]auth.StaticKey, len(demoUsers))
	env := os.Environ()
	for i, u := range demoUsers {
		id, key, hash := auth.GenerateKey()
		keys[i] = auth.StaticKey{Name: "demo-" + u.name, KeyID: id, KeySHA256: hash, Principal: u.p}
		env = append(env, "KEY_"+u.name+"="+key)
	}
	demo, err := auth.NewStaticKeys(keys)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	a, url := serveApp(t, cfg, app.Options{Keys: demo})
	if err := seedDemo(ctx, a.Database()); err != nil {
		t.Fatal(err)
	}
	env = append(env, "PM_URL="+url, "NO_PROXY=127.0.0.1", "no_proxy=127.0.0.1", "PYTHONDONTWRITEBYTECODE=1", "GOWORK=off")

	python := pythonWithHTTPX(t)
	goBin := goTool(t)
	sdk := repoPath(t, "sdk")
	for _, tc := range []struct {
		name string
		cmd  *exec.Cmd
		want []string
	}{
		{"python", exec.CommandContext(ctx, python, filepath.Join(sdk, "python", "examples", "quickstart.py")),
			[]string{"emp-bob      Bob Baker", "in tenant acme", "acme employees: 4", `refused: writing field "salary"`,
				"emp-bob: not found", "delete: FORBIDDEN 403", "alice reads employees where {'$or'"}},
		{"python async", exec.CommandContext(ctx, python, filepath.Join(sdk, "python", "examples", "quickstart_async.py")),
			[]string{"Alice Archer\nAsync User\nBob Baker\nMona Moss\n", "eng, ops: [4, 0]"}},
		{"go", exec.CommandContext(ctx, goBin, "run", "./examples/quickstart"),
			[]string{"emp-mona     Mona Moss", "in tenant acme", "acme employees: 4 <nil>", `refused: writing field "salary"`,
				"emp-bob: not found", "alice reads employees where map[$or:"}},
	} {
		tc.cmd.Env = append(env, "PYTHONPATH="+filepath.Join(sdk, "python"))
		tc.cmd.Dir = filepath.Join(sdk, "go")
		out, err := tc.cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s quickstart: %v\n%s", tc.name, err, out)
		}
		for _, w := range tc.want {
			if !strings.Contains(string(out), w) {
				t.Errorf("%s quickstart output lacks %q:\n%s", tc.name, w, out)
			}
		}
	}
}

// sdk/go is a module of its own, so `go test ./...` and `go vet ./...` at
// the repository root do not enter it. This test runs its vet and its own
// tests (offline tests, examples that must compile) so that they do, and
// checks that the module still needs nothing beyond the standard library.
func TestGoSDKModule(t *testing.T) {
	goBin := goTool(t)
	dir := repoPath(t, "sdk", "go")
	mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mod), "require") {
		t.Fatalf("sdk/go/go.mod requires modules; the SDK is to stay standard-library only:\n%s", mod)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	for _, args := range [][]string{{"vet", "./..."}, {"test", "-count=1", "./..."}} {
		cmd := exec.CommandContext(ctx, goBin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s in sdk/go: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// goTool is the go command, which the SDK tests run to build and test the
// sdk/go module.
func goTool(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is not on PATH (needed to build and test the sdk/go module): %v", err)
	}
	return goBin
}

// repoPath is the absolute path of a file or folder of the repository,
// given from its root: commands the tests start run in other folders.
func repoPath(t *testing.T, elem ...string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join(append([]string{"..", ".."}, elem...)...))
	if err != nil {
		t.Fatal(err)
	}
	return p
}
