package policy

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/permission-mongo/permission-mongo/internal/policy/when"
)

// Load reads a policy file, or every *.yml / *.yaml file directly inside a
// folder (sub-folders such as tests/ are not policies), and merges them into
// one Set. Every problem in every file is reported in one *LoadError.
func Load(paths ...string) (*Set, error) {
	var files []string
	var probs []Problem
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			probs = append(probs, Problem{Pos{File: p}, "cannot read: " + err.Error()})
			continue
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			probs = append(probs, Problem{Pos{File: p}, "cannot read folder: " + err.Error()})
			continue
		}
		for _, e := range entries {
			ext := filepath.Ext(e.Name())
			if !e.IsDir() && (ext == ".yml" || ext == ".yaml") {
				files = append(files, filepath.Join(p, e.Name()))
			}
		}
	}
	srcs := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			probs = append(probs, Problem{Pos{File: f}, "cannot read: " + err.Error()})
			continue
		}
		srcs[f] = b
	}
	if len(files) == 0 && len(probs) == 0 {
		probs = append(probs, Problem{Pos{File: strings.Join(paths, ",")}, "no policy files found"})
	}
	set, err := parse(files, srcs)
	var warnings []Problem
	if err != nil {
		if le, ok := err.(*LoadError); ok {
			probs = append(probs, le.Problems...)
			warnings = le.Warnings
		}
	}
	if len(probs) > 0 {
		return nil, &LoadError{Problems: probs, Warnings: warnings}
	}
	return set, nil
}

// Parse loads a policy set from in-memory sources (name → YAML), in name order.
func Parse(srcs map[string][]byte) (*Set, error) {
	names := make([]string, 0, len(srcs))
	for n := range srcs {
		names = append(names, n)
	}
	sort.Strings(names)
	return parse(names, srcs)
}

type loader struct {
	set   *Set
	probs []Problem
	file  string
	// raw sections, merged across files, validated once everything is read
	roleNodes       map[string]*yaml.Node
	collNodes       map[string]*yaml.Node
	tmplNodes       map[string]*yaml.Node
	defaults        *yaml.Node
	masksNodes      map[string]*yaml.Node
	fileOf          map[*yaml.Node]string
	pendingRoleRefs []roleRef
	implicit        map[string]bool
}

func parse(files []string, srcs map[string][]byte) (*Set, error) {
	l := &loader{
		set: &Set{
			Roles: map[string]*Role{}, Collections: map[string]*Collection{}, Templates: map[string]map[string]*Rule{},
			System: map[string][]string{}, Grants: map[string]*GrantRule{}, Masks: map[string]Masker{},
			Defaults: Defaults{DenyUnlistedCollections: true}, scope: when.NewScope(), Files: files,
		},
		roleNodes: map[string]*yaml.Node{}, collNodes: map[string]*yaml.Node{}, tmplNodes: map[string]*yaml.Node{},
		masksNodes: map[string]*yaml.Node{}, fileOf: map[*yaml.Node]string{},
	}
	for name, m := range builtinMasks {
		l.set.Masks[name] = m
	}
	var grantNodes []*yaml.Node
	for _, f := range files {
		l.file = f
		var doc yaml.Node
		if err := yaml.Unmarshal(srcs[f], &doc); err != nil {
			l.probs = append(l.probs, Problem{Pos{File: f, Line: yamlErrLine(err), Col: 1}, "invalid YAML: " + err.Error()})
			continue
		}
		if len(doc.Content) == 0 {
			continue
		}
		root := doc.Content[0]
		if !l.isMap(root, "a policy file") {
			continue
		}
		l.eachKey(root, func(k string, kn, v *yaml.Node) {
			switch k {
			case "version":
				ver := l.str(v, "version")
				if ver != "" && ver != "1" {
					l.errf(v, "unsupported version %q (supported: \"1\")", ver)
				}
				l.set.Version = ver
			case "roles":
				l.collect(v, l.roleNodes, "role")
			case "templates":
				l.collect(v, l.tmplNodes, "template")
			case "policies":
				l.collect(v, l.collNodes, "policy for collection")
			case "masks":
				l.collect(v, l.masksNodes, "mask")
			case "system":
				l.system(v)
			case "grants":
				grantNodes = append(grantNodes, v)
				l.remember(v)
			case "defaults":
				if l.defaults != nil {
					l.errf(kn, "defaults already defined at %s", l.pos(l.defaults))
				}
				l.defaults = v
				l.remember(v)
			default:
				l.errf(kn, "unknown key %q (known: version, roles, templates, policies, masks, system, grants, defaults)", k)
			}
		})
	}
	l.buildDefaults()
	l.implicitRoles(grantNodes)
	l.buildRoles()
	l.buildMasks()
	l.buildTemplates()
	l.buildCollections()
	for _, g := range grantNodes {
		l.file = l.fileOf[g]
		l.grants(g)
	}
	l.checkSystemRoles()
	if len(l.probs) > 0 {
		sort.SliceStable(l.probs, func(i, j int) bool {
			a, b := l.probs[i].Pos, l.probs[j].Pos
			if a.File != b.File {
				return a.File < b.File
			}
			if a.Line != b.Line {
				return a.Line < b.Line
			}
			return a.Col < b.Col
		})
		return nil, &LoadError{Problems: l.probs, Warnings: l.set.Warnings}
	}
	return l.set, nil
}

var yamlLineRe = regexp.MustCompile(`line (\d+)`)

func yamlErrLine(err error) int {
	if m := yamlLineRe.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 1
}

// --- node helpers -----------------------------------------------------------

func (l *loader) pos(n *yaml.Node) Pos {
	f := l.fileOf[n]
	if f == "" {
		f = l.file
	}
	return Pos{File: f, Line: n.Line, Col: n.Column}
}

func (l *loader) remember(n *yaml.Node) { l.fileOf[n] = l.file }

func (l *loader) errf(n *yaml.Node, format string, args ...any) {
	l.probs = append(l.probs, Problem{l.pos(n), fmt.Sprintf(format, args...)})
}

func (l *loader) isMap(n *yaml.Node, what string) bool {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		l.errf(n, "%s must be a mapping", what)
		return false
	}
	return true
}

// eachKey visits a mapping's entries; duplicate keys are errors.
func (l *loader) eachKey(n *yaml.Node, f func(k string, kn, v *yaml.Node)) {
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, v := n.Content[i], n.Content[i+1]
		if v.Kind == yaml.AliasNode {
			v = v.Alias
		}
		if seen[kn.Value] {
			l.errf(kn, "duplicate key %q", kn.Value)
			continue
		}
		seen[kn.Value] = true
		f(kn.Value, kn, v)
	}
}

// collect merges the entries of a section across files, refusing redefinitions.
func (l *loader) collect(n *yaml.Node, into map[string]*yaml.Node, what string) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	if !l.isMap(n, what+"s") {
		return
	}
	l.eachKey(n, func(k string, kn, v *yaml.Node) {
		if prev, ok := into[k]; ok {
			l.errf(kn, "%s %q is already defined at %s", what, k, l.pos(prev))
			return
		}
		l.remember(v)
		l.remember(kn)
		into[k] = v
	})
}

func (l *loader) str(n *yaml.Node, what string) string {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		l.errf(n, "%s must be a string", what)
		return ""
	}
	return n.Value
}

func (l *loader) strList(n *yaml.Node, what string) []string {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		l.errf(n, "%s must be a list", what)
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for _, it := range n.Content {
		if it.Kind != yaml.ScalarNode || it.Tag == "!!null" {
			l.errf(it, "%s must hold strings", what)
			continue
		}
		out = append(out, it.Value)
	}
	return out
}

func (l *loader) boolean(n *yaml.Node, what string) bool {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		l.errf(n, "%s must be true or false", what)
		return false
	}
	return n.Value == "true"
}

// --- sections ---------------------------------------------------------------

func (l *loader) buildRoles() {
	for name := range l.implicit {
		l.set.Roles[name] = &Role{Name: name, closure: []string{name}}
	}
	for name, n := range l.roleNodes {
		l.file = l.fileOf[n]
		r := &Role{Name: name, Pos: l.pos(n)}
		l.set.Roles[name] = r
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			continue
		}
		if !l.isMap(n, "role "+name) {
			continue
		}
		l.eachKey(n, func(k string, kn, v *yaml.Node) {
			switch k {
			case "description":
				r.Description = l.str(v, "description")
			case "inherits":
				if v.Kind == yaml.ScalarNode && v.Tag == "!!str" {
					r.Inherits = []string{v.Value}
				} else {
					r.Inherits = l.strList(v, "inherits")
				}
				for _, p := range r.Inherits {
					if _, ok := l.roleNodes[p]; !ok {
						l.errf(v, "role %q inherits unknown role %q", name, p)
					}
				}
			default:
				l.errf(kn, "unknown key %q in role %q (known: description, inherits)", k, name)
			}
		})
	}
	// Closures, rejecting cycles.
	for _, r := range l.set.Roles {
		seen := map[string]bool{}
		var walk func(name string, stack []string) bool
		walk = func(name string, stack []string) bool {
			for _, s := range stack {
				if s == name {
					l.probs = append(l.probs, Problem{r.Pos, fmt.Sprintf("role inheritance cycle: %s", strings.Join(append(stack, name), " -> "))})
					return false
				}
			}
			if seen[name] {
				return true
			}
			seen[name] = true
			role, ok := l.set.Roles[name]
			if !ok {
				return true
			}
			for _, p := range role.Inherits {
				if !walk(p, append(stack, name)) {
					return false
				}
			}
			return true
		}
		if walk(r.Name, nil) {
			for x := range seen {
				r.closure = append(r.closure, x)
			}
			sort.Strings(r.closure)
		}
	}
}

func (l *loader) knownRole(name string) bool {
	_, ok := l.roleNodes[name]
	return ok || l.implicit[name]
}

// implicitRoles declares the roles a file grants something to without listing
// them under roles: (the Permission Mongo style, and the contract's own
// example). They load, with a warning naming them, unless
// defaults.strict_roles is set, in which case every role must be declared.
func (l *loader) implicitRoles(grantNodes []*yaml.Node) {
	l.implicit = map[string]bool{}
	if l.set.Defaults.StrictRoles {
		return
	}
	add := func(name string, n *yaml.Node) {
		if _, declared := l.roleNodes[name]; declared || l.implicit[name] {
			return
		}
		l.implicit[name] = true
		l.set.Warnings = append(l.set.Warnings, Problem{l.pos(n), fmt.Sprintf("role %q is not declared under roles: (declared implicitly; set defaults.strict_roles to require declarations)", name)})
	}
	for _, group := range []map[string]*yaml.Node{l.collNodes, l.tmplNodes} {
		for _, n := range group {
			l.file = l.fileOf[n]
			if n.Kind != yaml.MappingNode {
				continue
			}
			for i := 0; i+1 < len(n.Content); i += 2 {
				if k := n.Content[i].Value; k != "template" && k != "presets" {
					add(k, n.Content[i])
				}
			}
		}
	}
	for _, ref := range l.pendingRoleRefs {
		if _, declared := l.roleNodes[ref.name]; !declared && !l.implicit[ref.name] {
			l.implicit[ref.name] = true
			l.set.Warnings = append(l.set.Warnings, Problem{ref.pos, fmt.Sprintf("role %q is not declared under roles: (declared implicitly)", ref.name)})
		}
	}
	for _, g := range grantNodes {
		l.file = l.fileOf[g]
		if g.Kind != yaml.MappingNode {
			continue
		}
		for i := 0; i+1 < len(g.Content); i += 2 {
			add(g.Content[i].Value, g.Content[i])
		}
	}
}

func (l *loader) roleNames() string {
	names := make([]string, 0, len(l.roleNodes))
	for n := range l.roleNodes {
		names = append(names, n)
	}
	for n := range l.implicit {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// rule parses one role's entry on a collection or template.
func (l *loader) rule(role string, n *yaml.Node) *Rule {
	r := &Rule{Role: role, Pos: l.pos(n)}
	if !l.isMap(n, "the rule of role "+role) {
		return r
	}
	r.When, _ = when.Compile("", l.set.scope)
	l.eachKey(n, func(k string, kn, v *yaml.Node) {
		switch k {
		case "actions":
			for i, a := range l.strList(v, "actions") {
				act := Action(a)
				if actionBit(act) == 0 {
					l.errf(v.Content[i], "unknown action %q (known: create, read, update, delete, aggregate, restore)", a)
					continue
				}
				r.Actions = append(r.Actions, act)
				r.actions |= actionBit(act)
			}
		case "when":
			src := l.str(v, "when")
			x, err := when.Compile(src, l.set.scope)
			if err != nil {
				if we, ok := err.(*when.Error); ok {
					line, col := v.Line+we.Line-1, we.Column
					if we.Line == 1 {
						col += v.Column - 1
						if v.Style == yaml.DoubleQuotedStyle || v.Style == yaml.SingleQuotedStyle {
							col++
						}
					}
					if v.Style == yaml.LiteralStyle || v.Style == yaml.FoldedStyle {
						line++
					}
					l.probs = append(l.probs, Problem{Pos{File: l.pos(v).File, Line: line, Col: col}, "when: " + we.Msg})
				} else {
					l.errf(v, "when: %v", err)
				}
				return
			}
			r.When = x
		case "fields":
			r.Fields = l.fields(v)
		case "description":
			l.str(v, "description")
		default:
			l.errf(kn, "unknown key %q in the rule of role %q (known: actions, when, fields, description)", k, role)
		}
	})
	return r
}

var fieldPathRe = regexp.MustCompile(`^[^.$\x00][^.\x00]*(\.[^.$\x00][^.\x00]*)*$`)

func (l *loader) fieldPaths(n *yaml.Node, what string) []string {
	out := l.strList(n, what)
	for i, p := range out {
		if !fieldPathRe.MatchString(p) {
			l.errf(n.Content[i], "%s: %q is not a field path", what, p)
		}
		if p == "_id" && what != "fields.allow" {
			l.errf(n.Content[i], "%s: _id cannot be hidden or protected this way; it identifies the document", what)
		}
	}
	return out
}

func (l *loader) fields(n *yaml.Node) FieldRules {
	var f FieldRules
	if !l.isMap(n, "fields") {
		return f
	}
	l.eachKey(n, func(k string, kn, v *yaml.Node) {
		switch k {
		case "allow":
			f.Allow = l.fieldPaths(v, "fields.allow")
		case "deny":
			f.Deny = l.fieldPaths(v, "fields.deny")
		case "deny_write":
			f.DenyWrite = l.fieldPaths(v, "fields.deny_write")
		case "mask":
			if !l.isMap(v, "fields.mask") {
				return
			}
			f.Mask = map[string]string{}
			l.eachKey(v, func(field string, fkn, mv *yaml.Node) {
				if !fieldPathRe.MatchString(field) || field == "_id" {
					l.errf(fkn, "fields.mask: %q is not a field path that can be masked", field)
				}
				name := l.str(mv, "mask type")
				if _, ok := l.set.Masks[name]; !ok && name != "" {
					l.errf(mv, "unknown mask type %q (known: %s)", name, l.maskNames())
				}
				f.Mask[field] = name
			})
		default:
			l.errf(kn, "unknown key %q in fields (known: allow, deny, deny_write, mask)", k)
		}
	})
	return f
}

func (l *loader) maskNames() string {
	names := make([]string, 0, len(l.set.Masks))
	for n := range l.set.Masks {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func (l *loader) buildTemplates() {
	for name, n := range l.tmplNodes {
		l.file = l.fileOf[n]
		rules := map[string]*Rule{}
		l.set.Templates[name] = rules
		if !l.isMap(n, "template "+name) {
			continue
		}
		l.eachKey(n, func(role string, kn, v *yaml.Node) {
			if !l.knownRole(role) {
				l.errf(kn, "template %q names unknown role %q (known roles: %s)", name, role, l.roleNames())
				return
			}
			rules[role] = l.rule(role, v)
		})
	}
}

func (l *loader) buildDefaults() {
	n := l.defaults
	if n == nil {
		return
	}
	l.file = l.fileOf[n]
	if !l.isMap(n, "defaults") {
		return
	}
	l.eachKey(n, func(k string, kn, v *yaml.Node) {
		switch k {
		case "deny_unlisted_collections":
			l.set.Defaults.DenyUnlistedCollections = l.boolean(v, k)
		case "strict_roles":
			l.set.Defaults.StrictRoles = l.boolean(v, k)
		case "template":
			l.set.Defaults.Template = l.str(v, k)
			if _, ok := l.tmplNodes[l.set.Defaults.Template]; !ok {
				l.errf(v, "unknown template %q", l.set.Defaults.Template)
			}
		default:
			l.errf(kn, "unknown key %q in defaults (known: deny_unlisted_collections, strict_roles, template)", k)
		}
	})
	if !l.set.Defaults.DenyUnlistedCollections && l.set.Defaults.Template == "" {
		// Nothing would grant anything on an unlisted collection anyway: say so
		// rather than let a reader believe they are open.
		l.errf(n, "deny_unlisted_collections: false needs defaults.template, the rules unlisted collections get")
	}
}

func (l *loader) buildCollections() {
	names := make([]string, 0, len(l.collNodes))
	for n := range l.collNodes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		n := l.collNodes[name]
		l.file = l.fileOf[n]
		c := &Collection{Name: name, Pos: l.pos(n)}
		l.set.Collections[name] = c
		if !validCollectionName(name) {
			l.errf(n, "%q is not a valid collection name", name)
		}
		if !l.isMap(n, "policy of "+name) {
			continue
		}
		own := map[string]*Rule{}
		l.eachKey(n, func(k string, kn, v *yaml.Node) {
			switch k {
			case "template":
				c.Template = l.str(v, "template")
				if _, ok := l.tmplNodes[c.Template]; !ok && c.Template != "" {
					l.errf(v, "unknown template %q", c.Template)
				}
			case "presets":
				c.Presets = l.presets(v)
			default:
				if !l.knownRole(k) {
					l.errf(kn, "unknown role %q in the policy of %q (known roles: %s; other keys: template, presets)", k, name, l.roleNames())
					return
				}
				own[k] = l.rule(k, v)
			}
		})
		merged := map[string]*Rule{}
		if c.Template != "" {
			for role, r := range l.set.Templates[c.Template] {
				merged[role] = r
			}
		}
		for role, r := range own { // an explicit entry replaces the template's
			merged[role] = r
		}
		c.Rules = sortedRules(merged)
		if len(c.Rules) > maxRulesPerCollection {
			l.errf(n, "collection %q has %d role entries; at most %d are supported", name, len(c.Rules), maxRulesPerCollection)
		}
	}
}

// maxRulesPerCollection bounds the role entries of one collection: a decision
// records which rules matched a document in one machine word.
const maxRulesPerCollection = 60

func sortedRules(m map[string]*Rule) []*Rule {
	out := make([]*Rule, 0, len(m))
	for _, r := range m {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Role < out[j].Role })
	return out
}

func validCollectionName(n string) bool {
	return n != "" && !strings.ContainsAny(n, "$\x00") && !strings.HasPrefix(n, "system.") && len(n) <= 120
}

var presetCallerRe = regexp.MustCompile(`^user\.(id|tenant_id|roles|claims(\.[A-Za-z0-9_-]+)+)$`)

func (l *loader) presets(n *yaml.Node) []*Preset {
	if !l.isMap(n, "presets") {
		return nil
	}
	var out []*Preset
	l.eachKey(n, func(field string, kn, v *yaml.Node) {
		p := &Preset{Field: field, Pos: l.pos(kn)}
		if !fieldPathRe.MatchString(field) || field == "_id" {
			l.errf(kn, "presets: %q is not a field that can be preset", field)
		}
		switch {
		case v.Kind != yaml.ScalarNode:
			l.errf(v, "preset %q must be user.<attribute>, now, or a literal", field)
		case v.Tag == "!!str" && presetCallerRe.MatchString(v.Value) && v.Style == 0:
			p.CallerPath = strings.TrimPrefix(v.Value, "user.")
		case v.Tag == "!!str" && (v.Value == "now" || v.Value == "now()") && v.Style == 0:
			p.Now = true
		case v.Tag == "!!str" && strings.HasPrefix(v.Value, "user.") && v.Style == 0:
			l.errf(v, "preset %q: unknown caller value %q (known: user.id, user.tenant_id, user.roles, user.claims.*)", field, v.Value)
		default:
			var val any
			if err := v.Decode(&val); err != nil {
				l.errf(v, "preset %q: %v", field, err)
			}
			p.Value = val
		}
		out = append(out, p)
	})
	return out
}

func (l *loader) system(n *yaml.Node) {
	if !l.isMap(n, "system") {
		return
	}
	l.remember(n)
	l.eachKey(n, func(perm string, kn, v *yaml.Node) {
		known := false
		for _, p := range SystemPermissions {
			known = known || p == perm
		}
		if !known {
			l.errf(kn, "unknown system permission %q (known: %s)", perm, strings.Join(SystemPermissions, ", "))
			return
		}
		if _, dup := l.set.System[perm]; dup {
			l.errf(kn, "system permission %q is already defined", perm)
			return
		}
		roles := l.strList(v, "system."+perm)
		l.set.System[perm] = roles
		for i, r := range roles {
			l.pendingRoleRefs = append(l.pendingRoleRefs, roleRef{r, l.pos(v.Content[i])})
		}
	})
}

type roleRef struct {
	name string
	pos  Pos
}

func (l *loader) checkSystemRoles() {
	for _, ref := range l.pendingRoleRefs {
		if !l.knownRole(ref.name) {
			l.probs = append(l.probs, Problem{ref.pos, fmt.Sprintf("unknown role %q (known roles: %s)", ref.name, l.roleNames())})
		}
	}
}

// grantActions are the MongoDB privilege actions a grant may carry: the ones
// that act on a collection's data or describe it. Cluster, user and role
// administration are never grantable.
var grantActions = map[string]bool{
	"find": true, "insert": true, "update": true, "remove": true,
	"createIndex": true, "dropIndex": true, "listIndexes": true, "listCollections": true,
	"collStats": true, "dbStats": true, "changeStream": true, "killCursors": true,
	"bypassDocumentValidation": false,
}

// GrantShorthands expand to privilege actions.
var GrantShorthands = map[string][]string{
	"read":      {"find", "listIndexes", "listCollections", "collStats", "dbStats", "killCursors"},
	"readWrite": {"find", "insert", "update", "remove", "listIndexes", "listCollections", "collStats", "dbStats", "killCursors", "createIndex"},
}

// ValidGrantAction reports whether a is a privilege action a grant may carry.
func ValidGrantAction(a string) bool { return grantActions[a] }

func (l *loader) grantActionList(v *yaml.Node, what string) []string {
	var out []string
	for i, a := range l.strList(v, what) {
		if exp, ok := GrantShorthands[a]; ok {
			out = append(out, exp...)
			continue
		}
		if !grantActions[a] {
			l.errf(v.Content[i], "%s: %q is not a grantable MongoDB privilege action (allowed: find, insert, update, remove, createIndex, dropIndex, listIndexes, listCollections, collStats, dbStats, changeStream, killCursors, or read / readWrite)", what, a)
			continue
		}
		out = append(out, a)
	}
	return out
}

func (l *loader) grants(n *yaml.Node) {
	if !l.isMap(n, "grants") {
		return
	}
	l.eachKey(n, func(role string, kn, v *yaml.Node) {
		if !l.knownRole(role) {
			l.errf(kn, "grants: unknown role %q (known roles: %s)", role, l.roleNames())
			return
		}
		if _, dup := l.set.Grants[role]; dup {
			l.errf(kn, "grants for role %q are already defined", role)
			return
		}
		g := &GrantRule{Role: role, Pos: l.pos(kn)}
		l.set.Grants[role] = g
		if !l.isMap(v, "grants."+role) {
			return
		}
		l.eachKey(v, func(k string, kkn, vv *yaml.Node) {
			switch k {
			case "databases":
				g.Databases = l.strList(vv, "databases")
			case "collections":
				g.Collections = l.globs(vv, "collections")
			case "actions":
				g.Actions = l.grantActionList(vv, "actions")
			case "max_ttl":
				d, err := time.ParseDuration(l.str(vv, "max_ttl"))
				if err != nil || d <= 0 {
					l.errf(vv, "max_ttl: %q is not a positive duration (for example 1h, 30m)", vv.Value)
				}
				g.MaxTTL = d
			case "client_source":
				for i, s := range l.strList(vv, "client_source") {
					p, err := parsePrefix(s)
					if err != nil {
						l.errf(vv.Content[i], "client_source: %q is not an IP address or CIDR", s)
						continue
					}
					g.ClientSource = append(g.ClientSource, p)
				}
			case "deny":
				g.Deny = &GrantDeny{}
				if !l.isMap(vv, "deny") {
					return
				}
				l.eachKey(vv, func(dk string, dkn, dv *yaml.Node) {
					switch dk {
					case "databases":
						g.Deny.Databases = l.strList(dv, "deny.databases")
					case "collections":
						g.Deny.Collections = l.globs(dv, "deny.collections")
					case "actions":
						g.Deny.Actions = l.grantActionList(dv, "deny.actions")
					default:
						l.errf(dkn, "unknown key %q in grants deny (known: databases, collections, actions)", dk)
					}
				})
			default:
				l.errf(kkn, "unknown key %q in grants.%s (known: databases, collections, actions, max_ttl, client_source, deny)", k, role)
			}
		})
		for _, req := range []string{"databases", "collections", "actions", "max_ttl"} {
			if !hasKey(v, req) {
				l.errf(kn, "grants.%s: %s is required", role, req)
			}
		}
	})
}

func (l *loader) globs(n *yaml.Node, what string) []string {
	out := l.strList(n, what)
	for i, g := range out {
		if _, err := filepath.Match(g, "x"); err != nil {
			l.errf(n.Content[i], "%s: bad pattern %q", what, g)
		}
	}
	return out
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func (l *loader) buildMasks() {
	for name, n := range l.masksNodes {
		l.file = l.fileOf[n]
		if _, builtin := builtinMasks[name]; builtin {
			l.errf(n, "mask %q is built in and cannot be redefined", name)
			continue
		}
		m, err := l.maskDef(n)
		if err != nil {
			l.errf(n, "mask %q: %v", name, err)
			continue
		}
		l.set.Masks[name] = m
	}
}

func (l *loader) maskDef(n *yaml.Node) (Masker, error) {
	var def struct {
		Type      string `yaml:"type"`
		KeepStart int    `yaml:"keep_start"`
		KeepEnd   int    `yaml:"keep_end"`
		Char      string `yaml:"char"`
		Value     string `yaml:"value"`
	}
	if err := n.Decode(&def); err != nil {
		return nil, err
	}
	if err := checkKeys(n, "type", "keep_start", "keep_end", "char", "value"); err != nil {
		return nil, err
	}
	switch def.Type {
	case "partial":
		ch := '*'
		if def.Char != "" {
			r := []rune(def.Char)
			if len(r) != 1 {
				return nil, fmt.Errorf("char must be one character")
			}
			ch = r[0]
		}
		if def.KeepStart < 0 || def.KeepEnd < 0 {
			return nil, fmt.Errorf("keep_start and keep_end must not be negative")
		}
		return PartialMask(def.KeepStart, def.KeepEnd, ch), nil
	case "fixed":
		return FixedMask(def.Value), nil
	}
	return nil, fmt.Errorf("type must be partial or fixed, got %q", def.Type)
}

func hasKey(n *yaml.Node, k string) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == k {
			return true
		}
	}
	return false
}

func checkKeys(n *yaml.Node, known ...string) error {
	for i := 0; i+1 < len(n.Content); i += 2 {
		ok := false
		for _, k := range known {
			ok = ok || n.Content[i].Value == k
		}
		if !ok {
			return fmt.Errorf("unknown key %q (known: %s)", n.Content[i].Value, strings.Join(known, ", "))
		}
	}
	return nil
}
