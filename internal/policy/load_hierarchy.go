package policy

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/permission-mongo/permission-mongo/internal/hierarchy"
	"github.com/permission-mongo/permission-mongo/internal/policy/when"
	"github.com/permission-mongo/permission-mongo/internal/yamlnode"
)

// Hierarchy is the `hierarchy:` section: the collection in which each
// person's document names its manager. It makes user.$directReports,
// user.$subordinates and user.$ancestors usable in `when`.
type Hierarchy struct {
	// Config is exactly what the walk needs, so the service hands it over
	// as it is.
	hierarchy.Config
	Pos Pos
}

// Hierarchy defaults.
const (
	DefaultHierarchyDepth = 32
	DefaultHierarchyNodes = 10000
	DefaultHierarchyTTL   = 30 * time.Second
)

func (l *loader) noteHierarchyUse(n *yaml.Node, x *when.Expr) {
	for _, p := range x.CallerPaths(l.set.scope) {
		if strings.HasPrefix(p, "$") {
			l.remember(n)
			l.hierarchyUses = append(l.hierarchyUses, n)
			return
		}
	}
}

func (l *loader) buildHierarchy() {
	n := l.hierarchyNode
	if n == nil {
		for _, u := range l.hierarchyUses {
			l.errf(u, "when: user.$subordinates, user.$directReports and user.$ancestors need a hierarchy: section")
		}
		return
	}
	l.file = l.fileOf[n]
	if !l.Mapping(n, "hierarchy") {
		return
	}
	h := &Hierarchy{Config: hierarchy.Config{MaxDepth: DefaultHierarchyDepth, MaxNodes: DefaultHierarchyNodes, CacheTTL: DefaultHierarchyTTL}, Pos: l.pos(n)}
	l.Keys(n, "hierarchy",
		yamlnode.On("collection", func(_, v *yaml.Node) {
			h.Collection = l.Str(v, "hierarchy.collection")
			if h.Collection != "" && (strings.HasPrefix(strings.ToLower(h.Collection), "pm_") || strings.HasPrefix(h.Collection, "system.") || strings.Contains(h.Collection, "$")) {
				l.errf(v, "hierarchy.collection %q is not a document collection", h.Collection)
			}
		}),
		yamlnode.On("id_field", func(_, v *yaml.Node) { h.IDField = l.fieldName(v, "hierarchy.id_field") }),
		yamlnode.On("manager_field", func(_, v *yaml.Node) { h.ManagerField = l.fieldName(v, "hierarchy.manager_field") }),
		yamlnode.On("max_depth", func(_, v *yaml.Node) { h.MaxDepth = l.posInt(v, "hierarchy.max_depth", 1000) }),
		yamlnode.On("max_nodes", func(_, v *yaml.Node) { h.MaxNodes = l.posInt(v, "hierarchy.max_nodes", 1000000) }),
		yamlnode.On("cache_ttl", func(_, v *yaml.Node) {
			d, err := time.ParseDuration(l.Str(v, "hierarchy.cache_ttl"))
			if err != nil || d < 0 {
				l.errf(v, "hierarchy.cache_ttl must be a duration such as 30s (0 disables the cache)")
			}
			h.CacheTTL = d
		}),
	)
	for _, req := range []string{"collection", "id_field", "manager_field"} {
		if !yamlnode.Has(n, req) {
			l.errf(n, "hierarchy.%s is required", req)
		}
	}
	if h.Collection != "" && h.IDField != "" && h.ManagerField != "" {
		l.set.Hierarchy = h
	}
}

func (l *loader) fieldName(n *yaml.Node, what string) string {
	s := l.Str(n, what)
	if s != "" && (strings.HasPrefix(s, "$") || slices.Contains(strings.Split(s, "."), "")) {
		l.errf(n, "%s: invalid field path %q", what, s)
		return ""
	}
	return s
}

func (l *loader) posInt(n *yaml.Node, what string, max int) int {
	i, err := strconv.Atoi(n.Value)
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || err != nil || i < 1 || i > max {
		l.errf(n, "%s must be a whole number from 1 to %d", what, max)
		return 1
	}
	return i
}
