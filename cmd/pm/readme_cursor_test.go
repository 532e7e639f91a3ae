package main

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestREADMECursorExample runs the README's cursor example as pasted, with
// bash, curl and sed, against the example policies: the second command
// must fetch the page after the first one.
func TestREADMECursorExample(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "sed"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the README example needs %s on PATH: %v", tool, err)
		}
	}
	example := docFrom(t, "README.md", "# List with a cursor")
	example = example[:strings.Index(example, "\n\n")]

	url, keys := startExampleServer(t, testKey{"hana", "hana", "acme", []string{"hr"}})
	for _, body := range []string{`{"_id":"emp-1","name":"Ann"}`, `{"_id":"emp-2","name":"Ben"}`, `{"_id":"emp-3","name":"Cy"}`} {
		if st, _, _ := call(t, http.MethodPost, url+"/collections/employees", keys["hana"], body); st != 201 {
			t.Fatalf("seed %s: %d", body, st)
		}
	}
	cmd := exec.Command("bash", "-c", "set -e\n"+example)
	cmd.Env = append(os.Environ(), "B="+url, "KEY_hana="+keys["hana"], "NO_PROXY=127.0.0.1", "no_proxy=127.0.0.1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the example fails: %v\n%s\n%s", err, example, out)
	}
	// Two answers, one per line: the first page, then the next one.
	lines := strings.Split(strings.TrimSpace(strings.ReplaceAll(string(out), "}{", "}\n{")), "\n")
	if len(lines) != 2 {
		t.Fatalf("want two answers, got:\n%s", out)
	}
	var pages [2]struct {
		Data []struct {
			ID string `json:"_id"`
		} `json:"data"`
		Pagination struct {
			HasMore bool `json:"has_more"`
		} `json:"pagination"`
	}
	for i, l := range lines {
		if err := json.Unmarshal([]byte(l), &pages[i]); err != nil {
			t.Fatalf("answer %d is not JSON: %v: %s", i+1, err, l)
		}
	}
	if len(pages[0].Data) != 2 || !pages[0].Pagination.HasMore || len(pages[1].Data) != 1 || pages[1].Data[0].ID != "emp-3" || pages[1].Pagination.HasMore {
		t.Fatalf("the cursor did not lead to the next page:\n%s", out)
	}
}
