// Package policytest runs policy test cases (tests/*.yml, the format of
// policies/README.md) against a loaded policy set: `pm policy test` and the
// server's policy-tests endpoint share it, so both report the same failures.
package policytest

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/mongosem"
	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/policy/when"
	"github.com/permission-mongo/permission-mongo/internal/schema"
)

// Result is the outcome of one case: Failures lists what differed from the
// case's expectations, none when it passed.
type Result struct {
	File     string
	Line     int
	Name     string
	Failures []string
}

// Passed reports whether the case met every expectation.
func (r Result) Passed() bool { return len(r.Failures) == 0 }

// Report is the outcome of running the case files of one folder.
type Report struct {
	// Files are the case files read, in the order they ran.
	Files []string
	// Problems are mistakes in the case files. A case with a problem does
	// not run, and counts as failed: a case that cannot be checked must not
	// read as green.
	Problems []Problem
	Results  []Result
	Passed   int
	Failed   int
}

// Options narrow a run.
type Options struct {
	// Only, when set, runs just the cases whose name it matches.
	Only *regexp.Regexp
	// Now is the clock of the cases that do not set now (time.Now when
	// zero). One clock for the whole run, so those cases agree.
	Now time.Time
}

// RunDir runs the case files (*.yml, *.yaml) of dir against set. A folder
// without case files is an error: a run that finds nothing must not look
// like a green one.
func RunDir(set *policy.Set, dir string, opt Options) (*Report, error) {
	files, err := CaseFiles(dir)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no case files (*.yml) in %s", dir)
	}
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}
	rep := &Report{Files: files}
	for _, f := range files {
		cases, broken, probs := ParseFile(f, opt.Now)
		rep.Problems = append(rep.Problems, probs...)
		rep.Failed += broken
		if broken == 0 && len(probs) > 0 {
			rep.Failed++ // a problem outside any case still fails the run
		}
		for _, tc := range cases {
			if opt.Only != nil && !opt.Only.MatchString(tc.Name) {
				continue
			}
			r := Result{File: tc.File, Line: tc.Line, Name: tc.Name, Failures: Check(set, tc)}
			if r.Passed() {
				rep.Passed++
			} else {
				rep.Failed++
			}
			rep.Results = append(rep.Results, r)
		}
	}
	return rep, nil
}

// CaseFiles lists the case files of dir, sorted.
func CaseFiles(dir string) ([]string, error) {
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

// Check returns what differed from the case's expectations; none means it
// passed.
func Check(set *policy.Set, tc *Case) []string {
	return append(runAccessCase(set, tc), runSchemaCase(set, tc)...)
}

// runSchemaCase checks valid / validation_errors: the document is completed
// and validated as a create would (defaults, computed fields), without the
// reference checks, which need the database.
func runSchemaCase(set *policy.Set, tc *Case) []string {
	if tc.valid == nil {
		return nil
	}
	sc := set.Schemas.For(tc.Collection)
	if sc == nil {
		return []string{fmt.Sprintf("valid: collection %s has no schema", tc.Collection)}
	}
	var d bson.D
	if err := bson.Unmarshal(tc.Doc, &d); err != nil {
		return []string{"document: " + err.Error()}
	}
	var fails []schema.Failure
	for _, e := range d {
		if c, ok := sc.Computed(e.Key); ok {
			fails = append(fails, schema.Failure{Path: c, Rule: schema.RuleComputed, Message: "is computed by the server and cannot be written"})
		}
	}
	d, _, more := sc.Complete(d, tc.Now)
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

func runAccessCase(set *policy.Set, tc *Case) []string {
	d := set.Decide(tc.User.Roles, tc.User, tc.Collection, tc.Action, tc.Now)
	// Allowed is what the proxy enforces: the in-memory check is what create
	// and update post-images go through, and it must agree with the filter.
	allowed := d.Granted && d.Match(tc.Doc)
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
		view := d.FieldsFor(tc.Doc)
		if view == nil {
			// Match said yes, so some rule matched: FieldsFor disagreeing is
			// an engine bug, not a policy mistake; say so plainly.
			return []string{"Decision.Match accepts the document but FieldsFor returns no rules (policy engine inconsistency)"}
		}
		seen, err := view.Apply(tc.Doc)
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
			if _, err := tc.Doc.LookupErr(strings.Split(path, ".")...); err != nil {
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
		if _, denied := d.WriteDeniedFor(tc.Doc, []string{path}); !denied {
			diffs = append(diffs, fmt.Sprintf("write_denied %s: the caller may write it", path))
		}
	}
	for _, path := range tc.writable {
		if _, denied := d.WriteDeniedFor(tc.Doc, []string{path}); denied {
			diffs = append(diffs, fmt.Sprintf("writable %s: deny_write refuses it", path))
		}
	}
	return diffs
}

// denyReason says which step refused, the first thing a policy author needs
// to know to fix either the policy or the case.
func denyReason(set *policy.Set, d *policy.Decision, tc *Case) string {
	switch {
	case !d.Granted:
		return whyNotGranted(set, d) + " (caller roles: " + strings.Join(set.Expand(tc.User.Roles), ", ") + ")"
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
func matchingRoles(set *policy.Set, d *policy.Decision, tc *Case) []string {
	var rules []*policy.Rule
	if c, ok := set.Collections[tc.Collection]; ok {
		rules = c.Rules
	} else if !set.Defaults.DenyUnlistedCollections && set.Defaults.Template != "" {
		for _, r := range set.Templates[set.Defaults.Template] {
			rules = append(rules, r)
		}
	}
	held := set.Expand(tc.User.Roles)
	var out []string
	for _, r := range rules {
		if r.Grants(tc.Action) && slices.Contains(held, r.Role) && r.When.Match(tc.Doc, d.Env()) {
			out = append(out, fmt.Sprintf("role %s (%s, when: %q)", r.Role, r.Pos, r.When.Source()))
		}
	}
	if len(out) == 0 {
		return []string{"an unknown rule"}
	}
	sort.Strings(out)
	return out
}

// whyNotGranted says why no rule grants the action at all.
func whyNotGranted(set *policy.Set, d *policy.Decision) string {
	if _, ok := set.Collections[d.Collection]; !ok && (set.Defaults.DenyUnlistedCollections || set.Defaults.Template == "") {
		return "no policy for this collection, and unlisted collections are denied"
	}
	return fmt.Sprintf("no role of the caller grants %s on %s", d.Action, d.Collection)
}

func actionNames() string {
	names := make([]string, len(policy.Actions))
	for i, a := range policy.Actions {
		names[i] = string(a)
	}
	return strings.Join(names, ", ")
}
