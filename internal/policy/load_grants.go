package policy

// Loading of the sections outside collection policies: system permissions,
// credential grant rules and custom masks.

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/permission-mongo/permission-mongo/internal/yamlnode"
)

func (l *loader) system(n *yaml.Node) {
	if !l.Mapping(n, "system") {
		return
	}
	l.remember(n)
	l.Each(n, func(perm string, kn, v *yaml.Node) {
		if !knownPermission(perm) {
			l.errf(kn, "unknown system permission %q (known: %s)", perm, strings.Join(permissionNames(), ", "))
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
	if !l.Mapping(n, "grants") {
		return
	}
	l.Each(n, func(role string, kn, v *yaml.Node) {
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
		if !l.Mapping(v, "grants."+role) {
			return
		}
		l.Keys(v, "grants."+role,
			yamlnode.On("databases", func(_, vv *yaml.Node) { g.Databases = l.strList(vv, "databases") }),
			yamlnode.On("collections", func(_, vv *yaml.Node) { g.Collections = l.globs(vv, "collections") }),
			yamlnode.On("actions", func(_, vv *yaml.Node) { g.Actions = l.grantActionList(vv, "actions") }),
			yamlnode.On("max_ttl", func(_, vv *yaml.Node) {
				d, err := time.ParseDuration(l.Str(vv, "max_ttl"))
				if err != nil || d <= 0 {
					l.errf(vv, "max_ttl: %q is not a positive duration (for example 1h, 30m)", vv.Value)
				}
				g.MaxTTL = d
			}),
			yamlnode.On("client_source", func(_, vv *yaml.Node) { g.ClientSource = l.clientSource(vv) }),
			yamlnode.On("deny", func(_, vv *yaml.Node) { g.Deny = l.grantDeny(vv) }),
		)
		for _, req := range []string{"databases", "collections", "actions", "max_ttl"} {
			if !yamlnode.Has(v, req) {
				l.errf(kn, "grants.%s: %s is required", role, req)
			}
		}
	})
}

func (l *loader) clientSource(n *yaml.Node) []netip.Prefix {
	var out []netip.Prefix
	for i, s := range l.strList(n, "client_source") {
		p, err := ParsePrefix(s)
		if err != nil {
			l.errf(n.Content[i], "client_source: %q is not an IP address or CIDR", s)
			continue
		}
		out = append(out, p)
	}
	return out
}

// grantDeny reads what a grant takes back from what it gives.
func (l *loader) grantDeny(n *yaml.Node) *GrantDeny {
	d := &GrantDeny{}
	if !l.Mapping(n, "deny") {
		return d
	}
	l.Keys(n, "grants deny",
		yamlnode.On("databases", func(_, v *yaml.Node) { d.Databases = l.strList(v, "deny.databases") }),
		yamlnode.On("collections", func(_, v *yaml.Node) { d.Collections = l.globs(v, "deny.collections") }),
		yamlnode.On("actions", func(_, v *yaml.Node) { d.Actions = l.grantActionList(v, "deny.actions") }),
	)
	return d
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

// ParsePrefix reads an address range as policies and grants write it: a
// CIDR ("10.0.0.0/8") or a single address, which stands for itself alone.
func ParsePrefix(s string) (netip.Prefix, error) {
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
		if _, builtin := l.builtinMasks.Lookup(name); builtin {
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
