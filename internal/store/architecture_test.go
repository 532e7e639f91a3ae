package store_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The seam this package promises in its comment: it is the only package of
// the product that talks to the MongoDB driver. The other packages build
// their filters and documents with bson (the data format, allowed
// everywhere) and reach the server through the handles store gives them.
//
// The test-support packages are the exception: internal/testenv hands
// tests a driver client so that they can seed and inspect stored data behind
// the proxy's back, which is its purpose, and a package that starts the
// proxy for tests may do the same. They may be imported by _test.go files
// and by each other alone, which keeps the driver out of every binary but
// store's.

const (
	modulePath = "github.com/permission-mongo/permission-mongo"
	driverPath = "go.mongodb.org/mongo-driver/v2"
	bsonPath   = driverPath + "/bson"
	// bsoncorePath is the low-level reader of the same format.
	bsoncorePath = driverPath + "/x/bsonx/bsoncore"
	storePath    = modulePath + "/internal/store"
	testenvPath  = modulePath + "/internal/testenv"
)

// testSupport are the packages for tests only (see above).
var testSupport = []string{testenvPath, modulePath + "/internal/app/apptest"}

// driverEntryPoints are store's functions that take or return driver types.
// They are for tests and test support; a product package calling one would
// hold a driver handle without importing the driver.
var driverEntryPoints = []string{"Connect", "Probe", "NewDocuments", "NewAPIKeys", "RunAdminCommand",
	"NewClient", "NewDatabase", "NewCollection"}

func TestOnlyStoreTalksToTheDriver(t *testing.T) {
	t.Parallel()
	root := moduleRoot(t)
	problems, err := seamViolations(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) > 0 {
		t.Fatalf("only internal/store may use the MongoDB driver (bson excepted):\n%s", strings.Join(problems, "\n"))
	}
}

// The check itself catches each kind of breach: run on a small module that
// commits all of them, it names every one and nothing else.
func TestSeamCheckCatchesBreaches(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	write := func(rel, src string) {
		t.Helper()
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module "+modulePath+"\n")
	write("internal/store/s.go", "package store\nimport _ \""+driverPath+"/mongo\"\n")
	write("internal/testenv/e.go", "package testenv\nimport _ \""+driverPath+"/mongo\"\n")
	write("internal/app/apptest/a.go", "package apptest\nimport _ \""+driverPath+"/mongo\"\nimport _ \""+testenvPath+"\"\nimport \""+storePath+"\"\nvar _ = store.Connect\n")
	write("internal/ok/ok.go", "package ok\nimport _ \""+bsonPath+"\"\nimport _ \""+bsoncorePath+"\"\n")
	write("internal/ok/ok_test.go", "package ok\nimport _ \""+driverPath+"/mongo\"\nimport _ \""+testenvPath+"\"\n")
	write("internal/bad/driver.go", "package bad\nimport _ \""+driverPath+"/mongo/options\"\n")
	write("internal/bad/entry.go", "package bad\nimport st \""+storePath+"\"\nvar _ = st.Connect\n")
	write("internal/bad/testenv.go", "package bad\nimport _ \""+testenvPath+"\"\n")
	write("cmd/pm/main.go", "package main\nimport \""+driverPath+"/mongo\"\nvar _ mongo.Client\n")
	write("sdk/go/go.mod", "module example.com/sdk\n")
	write("sdk/go/own.go", "package sdk\nimport _ \""+driverPath+"/mongo\"\n")
	write("internal/x/testdata/t.go", "package t\nimport _ \""+driverPath+"/mongo\"\n")

	got, err := seamViolations(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"cmd/pm/main.go imports " + driverPath + "/mongo",
		"internal/bad/driver.go imports " + driverPath + "/mongo/options",
		"internal/bad/entry.go calls store.Connect, which hands out driver types",
		"internal/bad/testenv.go imports " + testenvPath + ", which is for tests only",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// seamViolations lists the non-test Go files of the module at root that
// break the seam, in path order. Nested modules (their own go.mod) and
// testdata folders are not part of the module and are skipped.
func seamViolations(root string) ([]string, error) {
	var problems []string
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == "." {
				return nil
			}
			name := d.Name()
			if name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") {
			return nil
		}
		pkg := modulePath + "/" + path.Dir(rel)
		if pkg == storePath || slices.Contains(testSupport, pkg) {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		problems = append(problems, fileViolations(rel, f)...)
		return nil
	})
	return problems, err
}

func fileViolations(rel string, f *ast.File) []string {
	var problems []string
	storeName := ""
	for _, imp := range f.Imports {
		ip, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			continue
		}
		switch {
		case ip == bsonPath || strings.HasPrefix(ip, bsonPath+"/") || ip == bsoncorePath:
		case ip == driverPath || strings.HasPrefix(ip, driverPath+"/"):
			problems = append(problems, fmt.Sprintf("%s imports %s", rel, ip))
		case slices.Contains(testSupport, ip):
			problems = append(problems, fmt.Sprintf("%s imports %s, which is for tests only", rel, ip))
		case ip == storePath:
			storeName = "store"
			if imp.Name != nil {
				storeName = imp.Name.Name
			}
		}
	}
	if storeName == "" || storeName == "_" {
		return problems
	}
	seen := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if x, ok := sel.X.(*ast.Ident); ok && x.Name == storeName && slices.Contains(driverEntryPoints, sel.Sel.Name) && !seen[sel.Sel.Name] {
			seen[sel.Sel.Name] = true
			problems = append(problems, fmt.Sprintf("%s calls store.%s, which hands out driver types", rel, sel.Sel.Name))
		}
		return true
	})
	return problems
}

// moduleRoot is the folder of the go.mod above this package.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's folder")
		}
		dir = parent
	}
}
