package main

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/permission-mongo/permission-mongo/internal/app/apptest"
	pmsdk "github.com/permission-mongo/permission-mongo/sdk/go"
)

// TestImportDocExample: the example of docs/import.md — the NDJSON file,
// sent by Hana (HR at acme) to the example policies — is answered with
// exactly the counts and failures the page shows.
func TestImportDocExample(t *testing.T) {
	blocks := fenced(docFrom(t, "docs/import.md", "imports this `people.ndjson`"), 3) // the file, the curl command, the answer
	ndjson, answer := blocks[0], blocks[2]

	url, keys := startExampleServer(t, testKey{"hana", "hana", "acme", []string{"hr"}})
	st, _, raw := apptest.Do(t, apptest.NewRequest(t, http.MethodPost, url+"/collections/employees/import", keys["hana"],
		strings.NewReader(ndjson), map[string]string{"Content-Type": "application/x-ndjson"}))
	type result struct {
		Data pmsdk.ImportResult `json:"data"`
	}
	var got, want result
	if err := json.Unmarshal(raw, &got); err != nil || st != 200 {
		t.Fatalf("status %d: %v", st, err)
	}
	if err := json.Unmarshal([]byte(answer), &want); err != nil {
		t.Fatalf("the answer on the page is not JSON: %v", err)
	}
	// The import and audit ids differ on every run; the rest must match.
	for _, r := range []*result{&got, &want} {
		r.Data.ImportID, r.Data.AuditID = "", ""
	}
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Fatalf("docs/import.md shows\n%s\nthe server answers\n%s", w, g)
	}
	if want.Data.Inserted+want.Data.FailedCount != int64(strings.Count(ndjson, "{\"_id\"")) {
		t.Fatalf("the page's counts do not add up to its lines")
	}
}

// docFrom returns the repository file at path (relative to its root) from
// the first occurrence of marker on: the example a test checks.
func docFrom(t *testing.T, path, marker string) string {
	t.Helper()
	raw, err := os.ReadFile(repoPath(t, strings.Split(path, "/")...))
	if err != nil {
		t.Fatal(err)
	}
	page := string(raw)
	at := strings.Index(page, marker)
	if at < 0 {
		t.Fatalf("%s: the example at %q is gone", path, marker)
	}
	return page[at:]
}

// fenced returns the bodies of the first n ``` blocks of text.
func fenced(text string, n int) []string {
	var out []string
	for len(out) < n {
		open := strings.Index(text, "```")
		if open < 0 {
			break
		}
		text = text[open+3:]
		text = text[strings.Index(text, "\n")+1:]
		end := strings.Index(text, "```")
		if end < 0 {
			break
		}
		out = append(out, text[:end])
		text = text[end+3:]
	}
	for len(out) < n {
		out = append(out, "")
	}
	return out
}
