package policy

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/permission-mongo/permission-mongo/internal/policy/when"
	"github.com/permission-mongo/permission-mongo/internal/schema"
	"github.com/permission-mongo/permission-mongo/internal/yamlnode"
)

// Load reads a policy file, or every *.yml / *.yaml file directly inside a
// folder (sub-folders such as tests/ are not policies), and merges them into
// one Set. Every problem in every file is reported in one *LoadError. The
// mask types are BuiltinMasks; Masks.Load takes others.
func Load(paths ...string) (*Set, error) { return builtinMasks.Load(paths...) }

// Load is the package's Load with m as the built-in mask types.
func (m Masks) Load(paths ...string) (*Set, error) {
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
	set, err := parse(files, srcs, m)
	var warnings []Problem
	if err != nil {
		var le *LoadError
		if errors.As(err, &le) {
			probs = append(probs, le.Problems...)
			warnings = le.Warnings
		}
	}
	if len(probs) > 0 {
		return nil, &LoadError{Problems: probs, Warnings: warnings}
	}
	return set, nil
}

// Parse loads a policy set from in-memory sources (name → YAML), in name
// order, with BuiltinMasks; Masks.Parse takes others.
func Parse(srcs map[string][]byte) (*Set, error) { return builtinMasks.Parse(srcs) }

// Parse is the package's Parse with m as the built-in mask types.
func (m Masks) Parse(srcs map[string][]byte) (*Set, error) {
	return parse(slices.Sorted(maps.Keys(srcs)), srcs, m)
}

type loader struct {
	yamlnode.Reader
	set   *Set
	probs []Problem
	file  string
	// raw sections, merged across files, validated once everything is read
	roleNodes       map[string]*yaml.Node
	collNodes       map[string]*yaml.Node
	tmplNodes       map[string]*yaml.Node
	defaults        *yaml.Node
	masksNodes      map[string]*yaml.Node
	builtinMasks    Masks
	fileOf          map[*yaml.Node]string
	pendingRoleRefs []roleRef
	implicit        map[string]bool
	hierarchyNode   *yaml.Node
	hookNodes       map[string]*yaml.Node
	hierarchyUses   []*yaml.Node
}

func parse(files []string, srcs map[string][]byte, masks Masks) (*Set, error) {
	l := &loader{
		set: &Set{
			Roles: map[string]*Role{}, Collections: map[string]*Collection{}, Templates: map[string]map[string]*Rule{},
			System: map[string][]string{}, Grants: map[string]*GrantRule{}, Masks: map[string]Masker{},
			Defaults: Defaults{DenyUnlistedCollections: true}, scope: when.NewScope(), Files: files,
		},
		roleNodes: map[string]*yaml.Node{}, collNodes: map[string]*yaml.Node{}, tmplNodes: map[string]*yaml.Node{},
		masksNodes: map[string]*yaml.Node{}, fileOf: map[*yaml.Node]string{}, hookNodes: map[string]*yaml.Node{},
		builtinMasks: masks,
	}
	l.Reader = yamlnode.Reader{Errf: l.errf}
	for name, m := range masks.byName {
		l.set.Masks[name] = m
	}
	var grantNodes []*yaml.Node
	var schemaSrcs []schema.Source
	for _, f := range files {
		l.file = f
		var doc yaml.Node
		if err := yaml.Unmarshal(srcs[f], &doc); err != nil {
			l.probs = append(l.probs, Problem{Pos{File: f, Line: yamlnode.ErrLine(err), Col: 1}, "invalid YAML: " + err.Error()})
			continue
		}
		if len(doc.Content) == 0 {
			continue
		}
		root := doc.Content[0]
		if !l.Mapping(root, "a policy file") {
			continue
		}
		l.Keys(root, "",
			yamlnode.On("version", func(_, v *yaml.Node) { l.version(v) }),
			yamlnode.On("roles", l.collect(l.roleNodes, "role")),
			yamlnode.On("templates", l.collect(l.tmplNodes, "template")),
			yamlnode.On("policies", l.collect(l.collNodes, "policy for collection")),
			yamlnode.On("masks", l.collect(l.masksNodes, "mask")),
			yamlnode.On("system", func(_, v *yaml.Node) { l.system(v) }),
			yamlnode.On("grants", func(_, v *yaml.Node) {
				grantNodes = append(grantNodes, v)
				l.remember(v)
			}),
			yamlnode.On("schemas", func(_, v *yaml.Node) { schemaSrcs = append(schemaSrcs, schema.Source{File: f, Node: v}) }),
			yamlnode.On("hooks", l.collect(l.hookNodes, "hooks for collection")),
			yamlnode.On("hierarchy", func(kn, v *yaml.Node) {
				if l.hierarchyNode != nil {
					l.errf(kn, "hierarchy already defined at %s", l.pos(l.hierarchyNode))
					return
				}
				l.hierarchyNode = v
				l.remember(v)
			}),
			yamlnode.On("defaults", func(kn, v *yaml.Node) {
				if l.defaults != nil {
					l.errf(kn, "defaults already defined at %s", l.pos(l.defaults))
				}
				l.defaults = v
				l.remember(v)
			}),
		)
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
	l.buildSchemas(schemaSrcs)
	l.buildHierarchy()
	l.buildHooks()
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

// version reads the file's language version.
func (l *loader) version(v *yaml.Node) {
	ver := l.Str(v, "version")
	// Files written for Permission Mongo say "1.0"; it is the same
	// language, so it is recorded as "1".
	if ver == "1.0" {
		ver = "1"
	}
	if ver != "" && ver != "1" {
		l.errf(v, "unsupported version %q (supported: \"1\", \"1.0\")", ver)
	}
	l.set.Version = ver
}

// collect reads a section whose entries are merged across files, refusing
// redefinitions.
func (l *loader) collect(into map[string]*yaml.Node, what string) func(_, n *yaml.Node) {
	return func(_, n *yaml.Node) {
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return
		}
		if !l.Mapping(n, what+"s") {
			return
		}
		l.Each(n, func(k string, kn, v *yaml.Node) {
			if prev, ok := into[k]; ok {
				l.errf(kn, "%s %q is already defined at %s", what, k, l.pos(prev))
				return
			}
			l.remember(v)
			l.remember(kn)
			into[k] = v
		})
	}
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
