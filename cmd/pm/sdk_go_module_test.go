package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

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
