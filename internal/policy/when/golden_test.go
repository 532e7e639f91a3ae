package when

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestGoldenFilters pins the exact filter each expression compiles to for a
// few callers, so that any change to the compiler's output shows in review.
// Regenerate with: go test ./internal/policy/when -run Golden -update
func TestGoldenFilters(t *testing.T) {
	callers := []diffCaller{diffCallers[0], diffCallers[2]}
	var b strings.Builder
	for _, src := range diffExprs {
		sc := NewScope()
		x, err := Compile(src, sc)
		require.NoError(t, err, src)
		fmt.Fprintf(&b, "%s\n", src)
		for _, c := range callers {
			env := NewEnv(sc, c.vars, diffNow)
			st := x.State(env)
			f := ""
			if st == Conditional {
				f = " " + bson.Raw(x.AppendFilter(nil, env)).String()
			}
			fmt.Fprintf(&b, "  %-9s %s%s\n", c.name, st, f)
		}
	}
	path := filepath.Join("testdata", "filters.golden")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run with -update to create the golden file")
	require.Equal(t, string(want), b.String())
}
