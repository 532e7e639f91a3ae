package policy

// Loading of the sections that define roles and what they may do: roles,
// templates, collection policies, their field rules and presets.

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/permission-mongo/permission-mongo/internal/policy/when"
	"github.com/permission-mongo/permission-mongo/internal/yamlnode"
	"go.yaml.in/yaml/v3"
)

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
		if !l.Mapping(n, "role "+name) {
			continue
		}
		l.Keys(n, fmt.Sprintf("role %q", name),
			yamlnode.On("description", func(_, v *yaml.Node) { r.Description = l.Str(v, "description") }),
			yamlnode.On("inherits", func(_, v *yaml.Node) {
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
			}),
		)
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
	if !l.Mapping(n, "the rule of role "+role) {
		return r
	}
	r.When, _ = when.Compile("", l.set.scope)
	l.Keys(n, fmt.Sprintf("the rule of role %q", role),
		yamlnode.On("actions", func(_, v *yaml.Node) {
			for i, a := range l.strList(v, "actions") {
				act := Action(a)
				if actionBit(act) == 0 {
					l.errf(v.Content[i], "unknown action %q (known: create, read, update, delete, aggregate, restore)", a)
					continue
				}
				r.Actions = append(r.Actions, act)
				r.actions |= actionBit(act)
			}
		}),
		yamlnode.On("when", func(_, v *yaml.Node) {
			if x := l.when(v); x != nil {
				r.When = x
			}
		}),
		yamlnode.On("fields", func(_, v *yaml.Node) { r.Fields = l.fields(v) }),
		yamlnode.On("description", func(_, v *yaml.Node) { l.Str(v, "description") }),
	)
	return r
}

// when compiles a rule's condition; nil after reporting a problem, placed
// at the line and column inside the YAML value where the expression fails.
func (l *loader) when(v *yaml.Node) *when.Expr {
	x, err := when.Compile(l.Str(v, "when"), l.set.scope)
	if err == nil {
		l.noteHierarchyUse(v, x)
		return x
	}
	var we *when.Error
	if !errors.As(err, &we) {
		l.errf(v, "when: %v", err)
		return nil
	}
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
	return nil
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

// denyWritePaths reads fields.deny_write. `_id` is accepted there and dropped:
// files written for Permission Mongo list it, and it already cannot be
// written (an update naming it is refused, a replacement must keep it).
// Keeping it would refuse creates that choose their own _id, which such files
// never meant.
func (l *loader) denyWritePaths(n *yaml.Node) []string {
	out := l.strList(n, "fields.deny_write")
	kept := out[:0:0]
	for i, p := range out {
		if p == "_id" {
			continue
		}
		if !fieldPathRe.MatchString(p) {
			l.errf(n.Content[i], "fields.deny_write: %q is not a field path", p)
		}
		kept = append(kept, p)
	}
	if out == nil {
		return nil
	}
	return kept
}

func (l *loader) fields(n *yaml.Node) FieldRules {
	var f FieldRules
	if !l.Mapping(n, "fields") {
		return f
	}
	l.Keys(n, "fields",
		yamlnode.On("allow", func(_, v *yaml.Node) { f.Allow = l.fieldPaths(v, "fields.allow") }),
		yamlnode.On("deny", func(_, v *yaml.Node) { f.Deny = l.fieldPaths(v, "fields.deny") }),
		yamlnode.On("deny_write", func(_, v *yaml.Node) { f.DenyWrite = l.denyWritePaths(v) }),
		yamlnode.On("mask", func(_, v *yaml.Node) {
			if !l.Mapping(v, "fields.mask") {
				return
			}
			f.Mask = map[string]string{}
			l.Each(v, func(field string, fkn, mv *yaml.Node) {
				if !fieldPathRe.MatchString(field) || field == "_id" {
					l.errf(fkn, "fields.mask: %q is not a field path that can be masked", field)
				}
				name := l.Str(mv, "mask type")
				if _, ok := l.set.Masks[name]; !ok && name != "" {
					l.errf(mv, "unknown mask type %q (known: %s)", name, l.maskNames())
				}
				f.Mask[field] = name
			})
		}),
	)
	return f
}

func (l *loader) maskNames() string {
	names := slices.Sorted(maps.Keys(l.set.Masks))
	return strings.Join(names, ", ")
}

func (l *loader) buildTemplates() {
	for name, n := range l.tmplNodes {
		l.file = l.fileOf[n]
		rules := map[string]*Rule{}
		l.set.Templates[name] = rules
		if !l.Mapping(n, "template "+name) {
			continue
		}
		l.Each(n, func(role string, kn, v *yaml.Node) {
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
	if !l.Mapping(n, "defaults") {
		return
	}
	d := &l.set.Defaults
	l.Keys(n, "defaults",
		yamlnode.On("deny_unlisted_collections", func(_, v *yaml.Node) {
			d.DenyUnlistedCollections = l.Bool(v, "deny_unlisted_collections")
		}),
		yamlnode.On("strict_roles", func(_, v *yaml.Node) { d.StrictRoles = l.Bool(v, "strict_roles") }),
		yamlnode.On("template", func(_, v *yaml.Node) {
			d.Template = l.Str(v, "template")
			if _, ok := l.tmplNodes[d.Template]; !ok {
				l.errf(v, "unknown template %q", d.Template)
			}
		}),
	)
	if !l.set.Defaults.DenyUnlistedCollections && l.set.Defaults.Template == "" {
		// Nothing would grant anything on an unlisted collection anyway: say so
		// rather than let a reader believe they are open.
		l.errf(n, "deny_unlisted_collections: false needs defaults.template, the rules unlisted collections get")
	}
}

func (l *loader) buildCollections() {
	names := slices.Sorted(maps.Keys(l.collNodes))
	for _, name := range names {
		n := l.collNodes[name]
		l.file = l.fileOf[n]
		c := &Collection{Name: name, Pos: l.pos(n)}
		l.set.Collections[name] = c
		if !validCollectionName(name) {
			l.errf(n, "%q is not a valid collection name", name)
		}
		if !l.Mapping(n, "policy of "+name) {
			continue
		}
		own := map[string]*Rule{}
		l.Each(n, func(k string, kn, v *yaml.Node) {
			switch k {
			case "template":
				c.Template = l.Str(v, "template")
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
	if !l.Mapping(n, "presets") {
		return nil
	}
	var out []*Preset
	l.Each(n, func(field string, kn, v *yaml.Node) {
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
