package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/policy/when"
	"github.com/permission-mongo/permission-mongo/internal/principal"
)

// explainOutput is the --json form of `pm policy explain`. Field order is
// the documented output order.
type explainOutput struct {
	Allowed bool                 `json:"allowed"`
	State   string               `json:"state"`
	Filter  json.RawMessage      `json:"filter"` // null when no filter is injected
	Fields  []policy.RuleSummary `json:"fields"`
}

// runPolicyExplain implements `pm policy explain`.
func runPolicyExplain(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("pm policy explain", "--user JSON --collection C --action A [--policies PATH] [--now TIME] [--json]", stderr)
	policies := fs.String("policies", "policies", "policy file or folder")
	userArg := fs.String("user", "", `the caller as JSON, e.g. '{"id":"u1","tenant_id":"t1","roles":["employee"]}', or @FILE`)
	coll := fs.String("collection", "", "collection name")
	actionArg := fs.String("action", "", "one of "+actionNames())
	nowArg := fs.String("now", "", "the request time expressions see as now, RFC 3339 (default: the current time)")
	asJSON := fs.Bool("json", false, `print {"allowed","state","filter","fields"} as JSON`)
	if code, stop := parseFlags(fs, args); stop {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "pm policy explain: unexpected argument %q (everything is given by flags)\n", fs.Arg(0))
		return exitUsage
	}
	var problems []string
	if *userArg == "" {
		problems = append(problems, "--user is required")
	}
	if *coll == "" {
		problems = append(problems, "--collection is required")
	}
	action := policy.Action(*actionArg)
	if !slices.Contains(policy.Actions, action) {
		problems = append(problems, fmt.Sprintf("--action must be one of %s, got %q", actionNames(), *actionArg))
	}
	var user *principal.Principal
	if *userArg != "" {
		var err error
		if user, err = parsePrincipal(*userArg); err != nil {
			problems = append(problems, "--user: "+err.Error())
		}
	}
	now := time.Now()
	if *nowArg != "" {
		t, err := time.Parse(time.RFC3339, *nowArg)
		if err != nil {
			problems = append(problems, fmt.Sprintf("--now: %q is not an RFC 3339 time (e.g. 2026-01-31T12:00:00Z)", *nowArg))
		}
		now = t
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(stderr, "pm policy explain: "+p)
		}
		return exitUsage
	}

	set, ok := loadPolicies(stderr, *policies)
	if !ok {
		return exitFail
	}
	d := set.Decide(user.Roles, user, *coll, action, now)
	filter, err := filterJSON(d)
	if err != nil {
		fmt.Fprintf(stderr, "pm policy explain: %v\n", err)
		return exitFail
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		// `when` sources are full of && and <, which should read as written.
		enc.SetEscapeHTML(false)
		if err := enc.Encode(explainOutput{Allowed: d.Granted, State: d.State.String(), Filter: filter, Fields: d.Rules()}); err != nil {
			fmt.Fprintf(stderr, "pm policy explain: %v\n", err)
			return exitFail
		}
		return exitOK
	}
	printExplain(stdout, set, user, d, filter)
	return exitOK
}

func actionNames() string {
	names := make([]string, len(policy.Actions))
	for i, a := range policy.Actions {
		names[i] = string(a)
	}
	return strings.Join(names, ", ")
}

// parsePrincipal decodes a caller from JSON (or @FILE holding JSON). Unknown
// keys are refused: a misspelt "tenant" would otherwise leave tenant_id empty,
// and the explanation would show a fail-closed caller nobody meant to ask about.
func parsePrincipal(arg string) (*principal.Principal, error) {
	src := []byte(arg)
	if name, ok := strings.CutPrefix(arg, "@"); ok {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		src = b
	}
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.DisallowUnknownFields()
	var p principal.Principal
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("not a principal JSON object: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("not a principal JSON object: trailing data after the object")
	}
	return &p, nil
}

// filterJSON renders the decision's filter as relaxed Extended JSON, the
// form mongosh accepts, or nil when no filter is injected (Always).
func filterJSON(d *policy.Decision) (json.RawMessage, error) {
	f := d.Filter()
	if f == nil {
		return nil, nil
	}
	b, err := bson.MarshalExtJSON(f, false, false)
	if err != nil {
		return nil, fmt.Errorf("rendering the filter: %w", err)
	}
	return b, nil
}

func printExplain(w io.Writer, set *policy.Set, user *principal.Principal, d *policy.Decision, filter json.RawMessage) {
	fmt.Fprintf(w, "collection: %s\n", d.Collection)
	fmt.Fprintf(w, "action:     %s\n", d.Action)
	fmt.Fprintf(w, "roles:      %s\n", describeRoles(set, user.Roles))
	fmt.Fprintf(w, "allowed:    %t\n", d.Granted)
	fmt.Fprintf(w, "state:      %s\n", d.State)
	switch {
	case !d.Granted:
		fmt.Fprintf(w, "filter:     matches nothing (%s)\n", whyNotGranted(set, d))
	case d.State == when.Never:
		fmt.Fprintln(w, "filter:     matches nothing (every granting rule needs a caller value this caller lacks: fail closed)")
	case d.State == when.Always:
		fmt.Fprintln(w, "filter:     {} (none injected: every document matches)")
	default:
		fmt.Fprintf(w, "filter:     %s\n", filter)
	}
	rules := d.Rules()
	if len(rules) == 0 {
		return
	}
	fmt.Fprintln(w, "rules:")
	for _, r := range rules {
		fmt.Fprintf(w, "  %s (%s)\n", r.Role, r.State)
		if r.When != "" {
			fmt.Fprintf(w, "    when:       %s\n", r.When)
		}
		f := r.Fields
		if len(f.Allow)+len(f.Deny)+len(f.DenyWrite)+len(f.Mask) == 0 {
			fmt.Fprintln(w, "    fields:     all readable and writable")
			continue
		}
		if len(f.Allow) > 0 {
			fmt.Fprintf(w, "    allow:      %s\n", strings.Join(f.Allow, ", "))
		}
		if len(f.Deny) > 0 {
			fmt.Fprintf(w, "    deny:       %s\n", strings.Join(f.Deny, ", "))
		}
		if len(f.DenyWrite) > 0 {
			fmt.Fprintf(w, "    deny_write: %s\n", strings.Join(f.DenyWrite, ", "))
		}
		if len(f.Mask) > 0 {
			masks := make([]string, 0, len(f.Mask))
			for path, m := range f.Mask {
				masks = append(masks, path+" ("+m+")")
			}
			sort.Strings(masks)
			fmt.Fprintf(w, "    mask:       %s\n", strings.Join(masks, ", "))
		}
	}
	if len(rules) > 1 {
		fmt.Fprintln(w, "A document is read with the field rules of the roles whose rule matched it.")
	}
}

// describeRoles lists the caller's roles with those it gains by inheritance,
// and flags names the policies never define: they grant nothing, which is
// usually a typo in the token or the policy.
func describeRoles(set *policy.Set, roles []string) string {
	if len(roles) == 0 {
		return "(none)"
	}
	var out []string
	for _, r := range roles {
		if _, ok := set.Roles[r]; !ok {
			r += " (not defined in the policies)"
		}
		out = append(out, r)
	}
	s := strings.Join(out, ", ")
	var inherited []string
	for _, r := range set.Expand(roles) {
		if !slices.Contains(roles, r) {
			inherited = append(inherited, r)
		}
	}
	if len(inherited) > 0 {
		s += "; inherited: " + strings.Join(inherited, ", ")
	}
	return s
}

func whyNotGranted(set *policy.Set, d *policy.Decision) string {
	if _, ok := set.Collections[d.Collection]; !ok && (set.Defaults.DenyUnlistedCollections || set.Defaults.Template == "") {
		return "no policy for this collection, and unlisted collections are denied"
	}
	return fmt.Sprintf("no role of the caller grants %s on %s", d.Action, d.Collection)
}
