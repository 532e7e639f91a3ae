package pipeline

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
)

// No stage may be both accepted and refused, or listed twice: the index
// would keep whichever row came last and the other would silently lose.
func TestStageTableNoStageInTwoLists(t *testing.T) {
	var accepted, refused []string
	for _, d := range stageTable {
		require.True(t, strings.HasPrefix(d.name, "$"), "stage name %q", d.name)
		require.True(t, (d.check == nil) != (d.refused == ""), "%s must have exactly one of check and refused", d.name)
		if d.check != nil {
			accepted = append(accepted, d.name)
		} else {
			refused = append(refused, d.name)
		}
		require.Zero(t, d.nested != nestedNone && d.check == nil, "%s: a refused stage is never walked into", d.name)
	}
	for _, list := range [][]string{accepted, refused} {
		seen := map[string]bool{}
		for _, n := range list {
			require.False(t, seen[n], "%s is listed twice", n)
			seen[n] = true
		}
	}
	for _, n := range accepted {
		require.NotContains(t, refused, n, "%s is both accepted and refused", n)
	}
	require.Len(t, stageByName, len(stageTable))
}

// Every row of the table is what Rewrite does: a refused stage is a 400
// giving its reason, and an accepted one is never "unknown" (its own check
// may still refuse this deliberately empty argument).
func TestStageTableDrivesRewrite(t *testing.T) {
	acc := member(t)
	for _, d := range stageTable {
		_, err := Rewrite("people", bson.A{bson.D{{Key: d.name, Value: bson.D{}}}}, acc, Limits{})
		if d.refused != "" {
			requireKind(t, err, apperr.KindInvalid, "stage "+d.name+" is not allowed: "+d.refused)
			continue
		}
		if err != nil {
			require.NotContains(t, err.Error(), "unknown or unsupported stage", d.name)
		}
	}
	_, err := Rewrite("people", bson.A{bson.D{{Key: "$nosuchstage", Value: bson.D{}}}}, acc, Limits{})
	requireKind(t, err, apperr.KindInvalid, "unknown or unsupported stage $nosuchstage")
}

const (
	docsStagesBegin = "<!-- stage table: generated from internal/pipeline/table.go by `go test ./internal/pipeline -run TestStageTableDocs -update` -->"
	docsStagesEnd   = "<!-- end of stage table -->"
)

// docsStages renders the stage table as docs/aggregation.md lists it.
func docsStages() string {
	var accepted []string
	var b strings.Builder
	b.WriteString(docsStagesBegin + "\n")
	for _, d := range stageTable {
		if d.check != nil {
			accepted = append(accepted, d.name)
		}
	}
	slices.Sort(accepted)
	fmt.Fprintf(&b, "Accepted, and checked as described above: `%s`.\n\n", strings.Join(accepted, "`, `"))
	b.WriteString("Refused anywhere in the tree with a 400 giving the reason; any other stage is refused as unknown:\n\n")
	b.WriteString("| Stage | Reason |\n|---|---|\n")
	for _, d := range stageTable {
		if d.refused != "" {
			fmt.Fprintf(&b, "| `%s` | %s |\n", d.name, d.refused)
		}
	}
	b.WriteString(docsStagesEnd)
	return b.String()
}

// The stage lists in docs/aggregation.md are the table's.
func TestStageTableDocs(t *testing.T) {
	file := filepath.Join("..", "..", "docs", "aggregation.md")
	src, err := os.ReadFile(file)
	require.NoError(t, err)
	doc := string(src)
	i, j := strings.Index(doc, docsStagesBegin), strings.Index(doc, docsStagesEnd)
	require.True(t, i >= 0 && j > i, "%s has no stage table between %q and %q", file, docsStagesBegin, docsStagesEnd)
	got := doc[i : j+len(docsStagesEnd)]
	want := docsStages()
	if *update && got != want {
		require.NoError(t, os.WriteFile(file, []byte(doc[:i]+want+doc[j+len(docsStagesEnd):]), 0o644))
		return
	}
	require.Equal(t, want, got, "run go test ./internal/pipeline -run TestStageTableDocs -update")
}
