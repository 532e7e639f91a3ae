// Package docs_test keeps the examples of the documentation true: every
// policy that policy-language.md presents as complete is loaded with the real
// loader, every example it presents as rejected must fail with the message it
// names, and the mask examples must be what the built-in masks produce.
package docs_test

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/policy"
)

const policyDoc = "policy-language.md"

// block is one fenced code block of a Markdown file.
type block struct {
	line int      // line of the opening fence, 1-based
	info []string // words after the fence: "yaml", "full-policy", ...
	body string
}

func (b block) has(word string) bool {
	for _, w := range b.info {
		if w == word {
			return true
		}
	}
	return false
}

// fencedBlocks returns the ``` blocks of a Markdown file. An unclosed block
// is a failure: it would silently swallow the rest of the page.
func fencedBlocks(t *testing.T, path string) []block {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	var out []block
	var cur *block
	var body strings.Builder
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		fence := strings.HasPrefix(strings.TrimSpace(line), "```")
		switch {
		case cur == nil && fence:
			cur = &block{line: n, info: strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "```"))}
			body.Reset()
		case cur != nil && fence:
			cur.body = body.String()
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			body.WriteString(line)
			body.WriteByte('\n')
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur != nil {
		t.Fatalf("%s:%d: code block is never closed", path, cur.line)
	}
	return out
}

func sourceName(b block) string { return policyDoc + "@" + strconv.Itoa(b.line) }

// TestPolicyLanguageExamples loads every ```yaml full-policy block with the
// policy loader (no error, no warning) and every ```yaml rejected block,
// whose first line is "# error: <text>", expecting a load error holding text.
func TestPolicyLanguageExamples(t *testing.T) {
	full, rejected := 0, 0
	for _, b := range fencedBlocks(t, policyDoc) {
		if len(b.info) == 0 || b.info[0] != "yaml" {
			continue
		}
		name := sourceName(b)
		switch {
		case b.has("full-policy"):
			full++
			t.Run("full@"+strconv.Itoa(b.line), func(t *testing.T) {
				set, err := policy.Parse(map[string][]byte{name: []byte(b.body)})
				if err != nil {
					t.Fatalf("%s: the example does not load:\n%v", name, err)
				}
				for _, w := range set.Warnings {
					t.Errorf("%s: the example loads with a warning: %s", name, w)
				}
			})
		case b.has("rejected"):
			rejected++
			t.Run("rejected@"+strconv.Itoa(b.line), func(t *testing.T) {
				first, _, _ := strings.Cut(b.body, "\n")
				want, ok := strings.CutPrefix(strings.TrimSpace(first), "# error:")
				want = strings.TrimSpace(want)
				if !ok || want == "" {
					t.Fatalf("%s: a rejected example must start with `# error: <message>`", name)
				}
				_, err := policy.Parse(map[string][]byte{name: []byte(b.body)})
				if err == nil {
					t.Fatalf("%s: the example loads, but the page says it is refused with %q", name, want)
				}
				if !strings.Contains(err.Error(), want) {
					t.Fatalf("%s: refused with\n%v\nbut the page says %q", name, err, want)
				}
			})
		}
	}
	// Markers lost in an edit would turn this test into a no-op.
	if full < 8 || rejected < 4 {
		t.Fatalf("%s: found %d full-policy and %d rejected examples; expected at least 8 and 4", policyDoc, full, rejected)
	}
}

// TestPolicyLanguageMaskExamples checks the rows of the built-in mask table
// that show an input and its masked form ("`in` → `out`").
func TestPolicyLanguageMaskExamples(t *testing.T) {
	set, err := policy.Parse(map[string][]byte{"empty.yml": []byte("roles: {r: {}}\n")})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(policyDoc)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, line := range strings.Split(string(raw), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 {
			continue
		}
		name := strings.Trim(strings.TrimSpace(cells[1]), "`")
		in, out, ok := strings.Cut(cells[2], "→")
		if !ok {
			continue
		}
		m, known := set.Masks[name]
		if !known {
			continue
		}
		in = strings.Trim(strings.TrimSpace(in), "`")
		out = strings.TrimSpace(out)
		out, _, _ = strings.Cut(out, " (")
		out = strings.Trim(out, "`")
		_, v, err := bson.MarshalValue(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := m(bson.RawValue{Type: bson.TypeString, Value: v}); got != out {
			t.Errorf("mask %s(%q) = %q, the page says %q", name, in, got, out)
		}
		checked++
	}
	if checked < 2 {
		t.Fatalf("%s: found %d mask examples to check; expected the email and phone rows", policyDoc, checked)
	}
}
