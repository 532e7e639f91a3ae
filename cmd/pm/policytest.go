package main

import (
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/mongosem"
	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/policy/when"
	"github.com/permission-mongo/permission-mongo/internal/schema"
)

// runPolicyTest implements `pm policy test DIR`: the policies are DIR/*.yml,
// the cases DIR/tests/*.yml.
func runPolicyTest(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("pm policy test", "[-v] [-run REGEXP] DIR", stderr)
	verbose := fs.Bool("v", false, "also print the cases that pass")
	runPattern := fs.String("run", "", "run only the cases whose name matches this regular expression")
	if code, stop := parseFlags(fs, args); stop {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "pm policy test: name exactly one policy folder")
		fs.Usage()
		return exitUsage
	}
	var only *regexp.Regexp
	if *runPattern != "" {
		var err error
		if only, err = regexp.Compile(*runPattern); err != nil {
			fmt.Fprintf(stderr, "pm policy test: -run: %v\n", err)
			return exitUsage
		}
	}
	dir := fs.Arg(0)
	set, ok := loadPolicies(stderr, dir)
	if !ok {
		return exitFail
	}
	files, err := caseFiles(filepath.Join(dir, "tests"))
	if err != nil {
		fmt.Fprintf(stderr, "pm policy test: %v\n", err)
		return exitFail
	}
	if len(files) == 0 {
		// A test run that finds nothing must not look like a green one.
		fmt.Fprintf(stderr, "pm policy test: no case files (*.yml) in %s\n", filepath.Join(dir, "tests"))
		return exitFail
	}

	// One clock for the whole run, so cases that do not set now agree.
	now := time.Now()
	passed, failed := 0, 0
	for _, f := range files {
		cases, broken, probs := parseCaseFile(f, now)
		for _, p := range probs {
			fmt.Fprintln(stdout, p.String())
		}
		failed += broken
		if broken == 0 && len(probs) > 0 {
			failed++ // a problem outside any case still fails the run
		}
		for _, tc := range cases {
			if only != nil && !only.MatchString(tc.name) {
				continue
			}
			if diffs := runCase(set, tc); len(diffs) > 0 {
				failed++
				fmt.Fprintf(stdout, "%s:%d: FAIL %s: %s\n", tc.file, tc.line, tc.name, strings.Join(diffs, "; "))
			} else {
				passed++
				if *verbose {
					fmt.Fprintf(stdout, "%s:%d: ok   %s\n", tc.file, tc.line, tc.name)
				}
			}
		}
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return exitFail
	}
	if passed == 0 {
		fmt.Fprintln(stderr, "pm policy test: no case ran")
		return exitFail
	}
	return exitOK
}

func caseFiles(dir string) ([]string, error) {
	var files []string
	for _, pat := range []string{"*.yml", "*.yaml"} {
		m, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			return nil, err
		}
		files = append(files, m...)
	}
	sort.Strings(files)
	return files, nil
}

var yamlLineRe = regexp.MustCompile(`line (\d+)`)

// yamlErrLine digs the line out of a YAML syntax error, which only carries
// it in its text.
func yamlErrLine(err error) int {
	if m := yamlLineRe.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 1
}

// runCase returns what differed from the case's expectations; none means it
// passed.
func runCase(set *policy.Set, tc *testCase) []string {
	return append(runAccessCase(set, tc), runSchemaCase(set, tc)...)
}

// runSchemaCase checks valid / validation_errors: the document is completed
// and validated as a create would (defaults, computed fields), without the
// reference checks, which need the database.
func runSchemaCase(set *policy.Set, tc *testCase) []string {
	if tc.valid == nil {
		return nil
	}
	sc := set.Schemas.For(tc.collection)
	if sc == nil {
		return []string{fmt.Sprintf("valid: collection %s has no schema", tc.collection)}
	}
	var d bson.D
	if err := bson.Unmarshal(tc.doc, &d); err != nil {
		return []string{"document: " + err.Error()}
	}
	var fails []schema.Failure
	for _, e := range d {
		if c, ok := sc.Computed(e.Key); ok {
			fails = append(fails, schema.Failure{Path: c, Rule: schema.RuleComputed, Message: "is computed by the server and cannot be written"})
		}
	}
	d, _, more := sc.Complete(d, tc.now)
	fails = append(fails, more...)
	raw, err := bson.Marshal(d)
	if err != nil {
		return []string{"document: " + err.Error()}
	}
	fails = append(fails, sc.Validate(raw, []string{"_id", "created_by", "created_at", "updated_by", "updated_at"})...)
	got := make([]string, 0, len(fails))
	for _, f := range fails {
		got = append(got, f.Path+":"+f.Rule)
	}
	slices.Sort(got)
	if *tc.valid {
		if len(got) > 0 {
			return []string{"expected valid, got " + strings.Join(got, ", ")}
		}
		return nil
	}
	if len(got) == 0 {
		return []string{"expected validation failures, the document is valid"}
	}
	if len(tc.validationErrors) > 0 {
		want := slices.Clone(tc.validationErrors)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			return []string{fmt.Sprintf("validation_errors: got %s, want %s", strings.Join(got, ", "), strings.Join(want, ", "))}
		}
	}
	return nil
}

func runAccessCase(set *policy.Set, tc *testCase) []string {
	d := set.Decide(tc.user.Roles, tc.user, tc.collection, tc.action, tc.now)
	// Allowed is what the proxy enforces: the in-memory check is what create
	// and update post-images go through, and it must agree with the filter.
	allowed := d.Granted && d.Match(tc.doc)
	if allowed != tc.allow {
		if tc.allow {
			return []string{"expected allow, got deny: " + denyReason(set, d, tc)}
		}
		return []string{"expected deny, got allow by " + strings.Join(matchingRoles(set, d, tc), ", ")}
	}
	if !allowed {
		return nil
	}

	var diffs []string
	if len(tc.visible)+len(tc.hidden) > 0 {
		view := d.FieldsFor(tc.doc)
		if view == nil {
			// Match said yes, so some rule matched: FieldsFor disagreeing is
			// an engine bug, not a policy mistake; say so plainly.
			return []string{"Decision.Match accepts the document but FieldsFor returns no rules (policy engine inconsistency)"}
		}
		seen, err := view.Apply(tc.doc)
		if err != nil {
			return []string{"applying the field rules: " + err.Error()}
		}
		for _, fv := range tc.visible {
			got, err := seen.LookupErr(strings.Split(fv.path, ".")...)
			switch {
			case err != nil:
				diffs = append(diffs, fmt.Sprintf("visible %s: field is absent, want %s", fv.path, showValue(fv.value)))
			case !mongosem.Equal(got, fv.value):
				diffs = append(diffs, fmt.Sprintf("visible %s: got %s, want %s", fv.path, showValue(got), showValue(fv.value)))
			}
		}
		for _, path := range tc.hidden {
			if _, err := tc.doc.LookupErr(strings.Split(path, ".")...); err != nil {
				// A misspelt path would otherwise pass forever.
				diffs = append(diffs, fmt.Sprintf("hidden %s: the document has no such field, so hiding it proves nothing", path))
				continue
			}
			if got, err := seen.LookupErr(strings.Split(path, ".")...); err == nil {
				diffs = append(diffs, fmt.Sprintf("hidden %s: field is visible as %s", path, showValue(got)))
			}
		}
	}
	for _, path := range tc.writeDenied {
		if _, denied := d.WriteDeniedFor(tc.doc, []string{path}); !denied {
			diffs = append(diffs, fmt.Sprintf("write_denied %s: the caller may write it", path))
		}
	}
	for _, path := range tc.writable {
		if _, denied := d.WriteDeniedFor(tc.doc, []string{path}); denied {
			diffs = append(diffs, fmt.Sprintf("writable %s: deny_write refuses it", path))
		}
	}
	return diffs
}

// denyReason says which step refused, the first thing a policy author needs
// to know to fix either the policy or the case.
func denyReason(set *policy.Set, d *policy.Decision, tc *testCase) string {
	switch {
	case !d.Granted:
		return whyNotGranted(set, d) + " (caller roles: " + strings.Join(set.Expand(tc.user.Roles), ", ") + ")"
	case d.State == when.Never:
		return "the granting rules need caller values this caller lacks (fail closed)"
	}
	var whens []string
	for _, r := range d.Rules() {
		whens = append(whens, fmt.Sprintf("%s: %s", r.Role, r.When))
	}
	return "no granting rule matches the document (" + strings.Join(whens, " | ") + ")"
}

// matchingRoles names the roles whose rule accepts the document, to point at
// the rule that let an unexpected allow through.
func matchingRoles(set *policy.Set, d *policy.Decision, tc *testCase) []string {
	var rules []*policy.Rule
	if c, ok := set.Collections[tc.collection]; ok {
		rules = c.Rules
	} else if !set.Defaults.DenyUnlistedCollections && set.Defaults.Template != "" {
		for _, r := range set.Templates[set.Defaults.Template] {
			rules = append(rules, r)
		}
	}
	held := set.Expand(tc.user.Roles)
	var out []string
	for _, r := range rules {
		if r.Grants(tc.action) && slices.Contains(held, r.Role) && r.When.Match(tc.doc, d.Env()) {
			out = append(out, fmt.Sprintf("role %s (%s, when: %q)", r.Role, r.Pos, r.When.Source()))
		}
	}
	if len(out) == 0 {
		return []string{"an unknown rule"}
	}
	sort.Strings(out)
	return out
}
