package policy

import (
	"sort"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/permission-mongo/permission-mongo/internal/policy/when"
)

// Caller is what a decision needs to know of the caller: its roles and its
// values for `user.*` (principal.Principal satisfies it).
type Caller interface {
	when.Vars
}

// Decision is what one caller may do with one action on one collection. It
// is computed once per request; every endpoint enforces through it.
type Decision struct {
	Collection string
	Action     Action
	// Granted: some role of the caller grants the action on the collection
	// (whether or not its `when` can match anything for this caller).
	Granted bool
	// State folds the caller's values into the rules: Never means the caller
	// sees no document, Always means no filter is needed.
	State when.State

	set    *Set
	env    *when.Env
	rules  []*Rule       // granting rules whose state is not Never
	states []when.State  // state of each of rules
	views  map[int]*View // combined field rules per set of matched rules
	// first is the first view built (for the set of rules firstSet), kept
	// out of views.
	first    *View
	firstSet int

	// Backing arrays: most callers match a handful of rules, and a decision
	// is made on every request.
	rulesBuf  [4]*Rule
	statesBuf [4]when.State
}

// holds reports whether a caller with roles has role, directly or by
// inheritance, without building the expanded role set.
func (s *Set) holds(roles []string, role string) bool {
	for _, r := range roles {
		if r == role {
			return true
		}
		if x, ok := s.Roles[r]; ok {
			for _, c := range x.closure {
				if c == role {
					return true
				}
			}
		}
	}
	return false
}

// Decide computes the decision for a caller holding roles.
func (s *Set) Decide(roles []string, caller Caller, collection string, action Action, now time.Time) *Decision {
	return s.DecideEnv(roles, s.NewEnv(caller, now), collection, action)
}

// NewEnv prepares a caller's values once, to be shared by several decisions
// of the same request.
func (s *Set) NewEnv(caller Caller, now time.Time) *when.Env {
	return when.NewEnv(s.scope, caller, now)
}

// DecideEnv is Decide with a prepared Env.
func (s *Set) DecideEnv(roles []string, env *when.Env, collection string, action Action) *Decision {
	d := &Decision{Collection: collection, Action: action, State: when.Never, set: s, env: env}
	rules := s.rulesFor(collection)
	if len(rules) == 0 {
		return d
	}
	d.rules, d.states = d.rulesBuf[:0], d.statesBuf[:0]
	for _, r := range rules {
		if !r.Grants(action) || !s.holds(roles, r.Role) {
			continue
		}
		d.Granted = true
		st := r.When.State(env)
		if st == when.Never {
			continue
		}
		d.rules = append(d.rules, r)
		d.states = append(d.states, st)
		if st > d.State {
			d.State = st
		}
	}
	return d
}

// rulesFor returns the rules of a collection, or of the default template for
// an unlisted collection when unlisted collections are not denied.
func (s *Set) rulesFor(collection string) []*Rule {
	if c, ok := s.Collections[collection]; ok {
		return c.Rules
	}
	if s.Defaults.DenyUnlistedCollections || s.Defaults.Template == "" {
		return nil
	}
	return sortedRules(s.Templates[s.Defaults.Template])
}

// Presets returns the presets of a collection.
func (s *Set) Presets(collection string) []*Preset {
	if c, ok := s.Collections[collection]; ok {
		return c.Presets
	}
	return nil
}

// Env is the caller environment the decision was made with.
func (d *Decision) Env() *when.Env { return d.env }

// Filter is the MongoDB filter to $and with the client's filter: nil when the
// decision is Always (nothing to inject), a filter matching nothing when it
// is Never.
func (d *Decision) Filter() bson.Raw {
	return d.AppendFilter(nil)
}

// AppendFilter appends Filter to dst (nil result when Always).
func (d *Decision) AppendFilter(dst []byte) bson.Raw {
	switch d.State {
	case when.Always:
		return nil
	case when.Never:
		return when.NeverFilter()
	}
	n := 0
	for _, st := range d.states {
		if st == when.Conditional {
			n++
		}
	}
	if n == 1 {
		for i, st := range d.states {
			if st == when.Conditional {
				return bson.Raw(d.rules[i].When.AppendFilter(dst, d.env))
			}
		}
	}
	idx, dst := bsoncore.AppendDocumentStart(dst)
	aidx, dst := bsoncore.AppendArrayElementStart(dst, "$or")
	k := 0
	for i, st := range d.states {
		if st != when.Conditional {
			continue
		}
		dst = bsoncore.AppendHeader(dst, bsoncore.TypeEmbeddedDocument, strconv.Itoa(k))
		dst = d.rules[i].When.AppendFilter(dst, d.env)
		k++
	}
	dst, _ = bsoncore.AppendArrayEnd(dst, aidx)
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return bson.Raw(dst)
}

// Match is the in-memory check: does some granting rule accept doc?
func (d *Decision) Match(doc bson.Raw) bool {
	for i, r := range d.rules {
		if d.states[i] == when.Always || r.When.Match(doc, d.env) {
			return true
		}
	}
	return false
}

// matched returns a bit set of the rules that accept doc.
func (d *Decision) matched(doc bson.Raw) int {
	m := 0
	for i, r := range d.rules { // at most maxRulesPerCollection rules
		if d.states[i] == when.Always || r.When.Match(doc, d.env) {
			m |= 1 << i
		}
	}
	return m
}

// FieldsFor returns the field rules doc is read with: those of the roles
// whose rule matched this document, never those of a role that did not.
// nil when no rule matches.
func (d *Decision) FieldsFor(doc bson.Raw) *View {
	m := d.matched(doc)
	if m == 0 {
		return nil
	}
	return d.view(m)
}

func (d *Decision) view(m int) *View {
	// Most reads see one set of matched rules (a single document, or a page
	// whose documents all match alike): the first view is kept apart, and
	// the map is made only for a second set.
	if d.first != nil && d.firstSet == m {
		return d.first
	}
	if v, ok := d.views[m]; ok {
		return v
	}
	v := &View{masks: d.set.Masks}
	v.rules = v.rulesBuf[:0]
	for i, r := range d.rules {
		if m&(1<<i) != 0 {
			v.rules = append(v.rules, &r.Fields)
		}
	}
	if d.first == nil {
		d.first, d.firstSet = v, m
		return v
	}
	if d.views == nil {
		d.views = map[int]*View{}
	}
	d.views[m] = v
	return v
}

// AnyView is the view of a document matched by every granting rule: the most
// a caller could see of any document. Use it only for what is shown of a
// document, never to decide what may be filtered on.
func (d *Decision) AnyView() *View { return d.view(1<<len(d.rules) - 1) }

// Readable reports whether the caller may use path in a filter, sort,
// projection or pipeline: it must be visible unmasked under every rule that
// can grant this caller a document, or results would reveal it through which
// documents match.
func (d *Decision) Readable(path string) bool {
	for _, r := range d.rules {
		if v, _ := r.Fields.vis(path, false); v != Visible {
			return false
		}
	}
	return true
}

// Opaque reports whether some rule that can grant this caller a document
// hides or masks path as a whole. A write below an opaque path (setting
// "a.b" where "a" is hidden) succeeds or fails depending on the hidden
// value's type, so it must be refused like a read.
func (d *Decision) Opaque(path string) bool {
	for _, r := range d.rules {
		if v, _ := r.Fields.vis(path, false); v == Hidden || v == Masked {
			return true
		}
	}
	return false
}

// WriteDeniedFor returns the first of paths that the rules matching doc all
// refuse to write (deny_write), for a write to that one document.
func (d *Decision) WriteDeniedFor(doc bson.Raw, paths []string) (string, bool) {
	m := d.matched(doc)
	for _, p := range paths {
		denied := true
		for i, r := range d.rules {
			if m&(1<<i) != 0 && !r.Fields.writeDenied(p) {
				denied = false
				break
			}
		}
		if denied {
			return p, true
		}
	}
	return "", false
}

// WriteDeniedAny returns the first of paths that some granting rule refuses
// to write: the conservative check for writes to many documents at once.
func (d *Decision) WriteDeniedAny(paths []string) (string, bool) {
	for _, p := range paths {
		for _, r := range d.rules {
			if r.Fields.writeDenied(p) {
				return p, true
			}
		}
	}
	return "", false
}

// RuleSummary is one role's part of a decision, for explain output.
type RuleSummary struct {
	Role   string     `json:"role"`
	When   string     `json:"when,omitempty"`
	State  string     `json:"state"`
	Fields FieldRules `json:"fields"`
}

// Rules summarises the rules that grant the action to this caller.
func (d *Decision) Rules() []RuleSummary {
	out := make([]RuleSummary, len(d.rules))
	for i, r := range d.rules {
		out[i] = RuleSummary{Role: r.Role, When: r.When.Source(), State: d.states[i].String(), Fields: r.Fields}
	}
	return out
}

// StrictFields is the most restrictive combination of the field rules of
// every rule that can grant this caller a document: a field hidden by any of
// them is hidden, masked by any is masked, and with allow lists only what
// every rule allows stays. It is what a stage that cannot tell documents
// apart (the start of an aggregation pipeline) must apply: looser would leak
// the field rules of one role into documents another role granted.
func (d *Decision) StrictFields() FieldRules {
	var out FieldRules
	seen := map[string]bool{}
	for _, r := range d.rules {
		for _, p := range r.Fields.Deny {
			if !seen["d"+p] {
				seen["d"+p] = true
				out.Deny = append(out.Deny, p)
			}
		}
		for p, m := range r.Fields.Mask {
			if out.Mask == nil {
				out.Mask = map[string]string{}
			}
			if _, ok := out.Mask[p]; !ok {
				out.Mask[p] = m
			}
		}
	}
	// Allow: a path stays when every rule with an allow list covers it.
	restricted := false
	var candidates []string
	for _, r := range d.rules {
		if len(r.Fields.Allow) > 0 {
			restricted = true
			candidates = append(candidates, r.Fields.Allow...)
		}
	}
	if restricted {
		for _, p := range candidates {
			ok := true
			for _, r := range d.rules {
				if len(r.Fields.Allow) == 0 {
					continue
				}
				covered := false
				for _, a := range r.Fields.Allow {
					covered = covered || covers(a, p)
				}
				ok = ok && covered
			}
			if ok && !seen["a"+p] {
				seen["a"+p] = true
				out.Allow = append(out.Allow, p)
			}
		}
		if len(out.Allow) == 0 {
			out.Allow = []string{"_id"} // nothing but the id is allowed by all
		}
	}
	sort.Strings(out.Deny)
	sort.Strings(out.Allow)
	return out
}
