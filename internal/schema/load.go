package schema

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.yaml.in/yaml/v3"

	"github.com/permission-mongo/permission-mongo/internal/fieldpath"
	"github.com/permission-mongo/permission-mongo/internal/yamlnode"
)

// Source is the value of one file's `schemas:` key.
type Source struct {
	File string
	Node *yaml.Node
}

// Parse builds the schemas of every source. Every problem is reported, with
// its position; the Set is usable only when there are none.
func Parse(srcs []Source) (*Set, []Problem) {
	l := &loader{set: &Set{Collections: map[string]*Collection{}}}
	l.Reader = yamlnode.Reader{Errf: l.errf}
	for _, s := range srcs {
		l.file = s.File
		n := yamlnode.Deref(s.Node)
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			continue
		}
		if !l.Mapping(n, "schemas") {
			continue
		}
		l.Each(n, func(name string, kn, v *yaml.Node) {
			if prev, ok := l.set.Collections[name]; ok {
				l.errf(kn, "schema for collection %q is already defined at %s:%d:%d", name, prev.Pos.File, prev.Pos.Line, prev.Pos.Col)
				return
			}
			if c := l.collection(name, kn, v); c != nil {
				l.set.Collections[name] = c
			}
		})
	}
	return l.set, l.probs
}

type loader struct {
	yamlnode.Reader
	set   *Set
	file  string
	probs []Problem
}

func (l *loader) pos(n *yaml.Node) Pos { return Pos{File: l.file, Line: n.Line, Col: n.Column} }

func (l *loader) errf(n *yaml.Node, format string, args ...any) {
	l.probs = append(l.probs, Problem{l.pos(n), fmt.Sprintf(format, args...)})
}

func (l *loader) str(n *yaml.Node, what string) string {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" || n.Value == "" {
		l.errf(n, "%s must be a non-empty string", what)
		return ""
	}
	return n.Value
}

func (l *loader) num(n *yaml.Node, what string) *float64 {
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!int" || n.Tag == "!!float") {
		if f, err := strconv.ParseFloat(n.Value, 64); err == nil {
			return &f
		}
	}
	l.errf(n, "%s must be a number", what)
	return nil
}

func (l *loader) count(n *yaml.Node, what string) *int {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!int" {
		if i, err := strconv.Atoi(n.Value); err == nil && i >= 0 {
			return &i
		}
	}
	l.errf(n, "%s must be a whole number >= 0", what)
	return nil
}

var fieldNameRe = regexp.MustCompile(`^[^.$\x00][^.\x00]*$`)

func (l *loader) collection(name string, kn, n *yaml.Node) *Collection {
	c := &Collection{Name: name, Object: Object{Additional: true}, Pos: l.pos(kn)}
	if !l.Mapping(n, "schema "+name) {
		return nil
	}
	l.Keys(n, fmt.Sprintf("schema %q", name),
		yamlnode.On("additional_fields", func(_, v *yaml.Node) { c.Additional = l.Bool(v, "additional_fields") }),
		yamlnode.On("fields", func(_, v *yaml.Node) { c.Fields = l.fields(v, "") }),
		yamlnode.On("indexes", func(_, v *yaml.Node) { c.Indexes = l.indexes(v) }),
		yamlnode.On("description", nil),
	)
	return c
}

func (l *loader) fields(n *yaml.Node, prefix string) []*Field {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if !l.Mapping(n, "fields") {
		return nil
	}
	var out []*Field
	l.Each(n, func(name string, kn, v *yaml.Node) {
		if !fieldNameRe.MatchString(name) {
			l.errf(kn, "invalid field name %q (no dots, no leading $)", name)
			return
		}
		path := fieldpath.Join(prefix, name)
		if f := l.field(name, path, v, prefix); f != nil {
			out = append(out, f)
		}
	})
	return out
}

// field reads one field spec. prefix is the parent's path ("" at the top).
func (l *loader) field(name, path string, n *yaml.Node, prefix string) *Field {
	f := &Field{Name: name, Path: path, Pos: l.pos(n)}
	if !l.Mapping(n, "field "+path) {
		return nil
	}
	inArray := strings.Contains(path, "[]")
	var enumNode, defNode, fieldsNode, addNode *yaml.Node
	keep := func(into **yaml.Node) func(_, v *yaml.Node) { return func(_, v *yaml.Node) { *into = v } }
	count := func(into **int, what string) func(_, v *yaml.Node) {
		return func(_, v *yaml.Node) { *into = l.count(v, what) }
	}
	l.Keys(n, "field "+path,
		yamlnode.On("type", func(_, v *yaml.Node) {
			f.Type = l.str(v, "type")
			if f.Type != "" && !slices.Contains(Types, f.Type) {
				l.errf(v, "unknown type %q for %s (known: %s)", f.Type, path, strings.Join(Types, ", "))
				f.Type = TypeAny
			}
		}),
		yamlnode.On("required", func(_, v *yaml.Node) { f.Required = l.Bool(v, "required") }),
		yamlnode.On("nullable", func(_, v *yaml.Node) { f.Nullable = l.Bool(v, "nullable") }),
		yamlnode.On("enum", keep(&enumNode)),
		yamlnode.On("min", func(_, v *yaml.Node) { f.Min = l.num(v, "min") }),
		yamlnode.On("max", func(_, v *yaml.Node) { f.Max = l.num(v, "max") }),
		yamlnode.On("min_length", count(&f.MinLength, "min_length")),
		yamlnode.On("max_length", count(&f.MaxLength, "max_length")),
		yamlnode.On("pattern", func(_, v *yaml.Node) {
			if s := l.str(v, "pattern"); s != "" {
				re, err := regexp.Compile(s)
				if err != nil {
					l.errf(v, "%s: invalid pattern: %v", path, err)
				}
				f.Pattern = re
			}
		}),
		yamlnode.On("format", func(_, v *yaml.Node) {
			f.Format = l.str(v, "format")
			if f.Format != "" && !slices.Contains(Formats, f.Format) {
				l.errf(v, "unknown format %q for %s (known: %s)", f.Format, path, strings.Join(Formats, ", "))
			}
		}),
		yamlnode.On("min_items", count(&f.MinItems, "min_items")),
		yamlnode.On("max_items", count(&f.MaxItems, "max_items")),
		yamlnode.On("items", func(_, v *yaml.Node) { f.Items = l.field(name, path+".[]", v, path) }),
		yamlnode.On("fields", keep(&fieldsNode)),
		yamlnode.On("additional_fields", keep(&addNode)),
		yamlnode.On("default", func(kn, v *yaml.Node) {
			defNode = v
			if inArray {
				l.errf(kn, "%s: default is not supported inside array items", path)
			}
		}),
		yamlnode.On("immutable", func(kn, v *yaml.Node) {
			f.Immutable = l.Bool(v, "immutable")
			if f.Immutable && inArray {
				l.errf(kn, "%s: immutable is not supported inside array items", path)
			}
		}),
		yamlnode.On("computed", func(kn, v *yaml.Node) { l.computed(f, kn, v, prefix) }),
		yamlnode.On("ref", func(_, v *yaml.Node) { f.Ref = l.ref(v, path) }),
		yamlnode.On("description", nil),
	)
	if fieldsNode != nil || addNode != nil {
		if f.Type == "" {
			f.Type = TypeObject
		}
		if f.Type != TypeObject {
			l.errf(n, "%s: fields and additional_fields need type: object", path)
		}
		f.Object = &Object{Additional: true}
		if fieldsNode != nil {
			f.Object.Fields = l.fields(fieldsNode, path)
		}
		if addNode != nil {
			f.Object.Additional = l.Bool(addNode, "additional_fields")
		}
	}
	l.checkField(f, n, enumNode, defNode)
	return f
}

// computed reads a computed field's expression; only a top-level field
// may have one.
func (l *loader) computed(f *Field, kn, v *yaml.Node, prefix string) {
	f.ComputedSrc = l.str(v, "computed")
	if prefix != "" {
		l.errf(kn, "%s: computed fields must be top-level fields", f.Path)
		return
	}
	if f.ComputedSrc != "" {
		prog, err := expr.Compile(f.ComputedSrc, expr.Env(map[string]any{
			"resource": map[string]any{}, "doc": map[string]any{}, "now": time.Time{},
		}))
		if err != nil {
			l.errf(v, "%s: computed expression does not compile: %s", f.Path, firstLine(err.Error()))
		}
		f.Computed = prog
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func (l *loader) checkField(f *Field, n, enumNode, defNode *yaml.Node) {
	path := f.Path
	needs := func(set bool, key string, types ...string) {
		if set && f.Type != "" && f.Type != TypeAny && !slices.Contains(types, f.Type) {
			l.errf(n, "%s: %s applies to type %s, not %s", path, key, strings.Join(types, " or "), f.Type)
		}
	}
	needs(f.Min != nil || f.Max != nil, "min/max", TypeNumber, TypeInt)
	needs(f.MinLength != nil || f.MaxLength != nil || f.Pattern != nil || f.Format != "", "min_length/max_length/pattern/format", TypeString)
	needs(f.MinItems != nil || f.MaxItems != nil || f.Items != nil, "min_items/max_items/items", TypeArray)
	if f.Min != nil && f.Max != nil && *f.Min > *f.Max {
		l.errf(n, "%s: min is greater than max", path)
	}
	if f.Computed != nil || f.ComputedSrc != "" {
		for _, bad := range []struct {
			set bool
			key string
		}{{f.HasDefault || defNode != nil, "default"}, {f.Immutable, "immutable"}, {f.Ref != nil, "ref"}} {
			if bad.set {
				l.errf(n, "%s: a computed field cannot also be %s", path, bad.key)
			}
		}
	}
	if enumNode != nil {
		if enumNode.Kind != yaml.SequenceNode || len(enumNode.Content) == 0 {
			l.errf(enumNode, "%s: enum must be a non-empty list", path)
		} else {
			for _, it := range enumNode.Content {
				rv, err := yamlValue(yamlnode.Deref(it))
				if err != nil {
					l.errf(it, "%s: enum value: %v", path, err)
					continue
				}
				if !typeOK(f.Type, rv) {
					l.errf(it, "%s: enum value %s is not a %s", path, rv.String(), f.Type)
					continue
				}
				f.Enum = append(f.Enum, rv)
			}
		}
	}
	if defNode != nil {
		rv, err := yamlValue(defNode)
		if err != nil {
			l.errf(defNode, "%s: default: %v", path, err)
			return
		}
		var v validator
		v.value(path, f, rv)
		for _, fl := range v.out {
			l.errf(defNode, "%s: default does not satisfy the field: %s", path, fl.Message)
		}
		var val any
		if err := rv.Unmarshal(&val); err != nil {
			l.errf(defNode, "%s: default: %v", path, err)
			return
		}
		f.Default, f.HasDefault = val, true
	}
}

func (l *loader) ref(n *yaml.Node, path string) *Ref {
	r := &Ref{Field: "_id"}
	switch n.Kind {
	case yaml.ScalarNode:
		r.Collection = l.str(n, "ref")
	case yaml.MappingNode:
		l.Keys(n, "ref of "+path,
			yamlnode.On("collection", func(_, v *yaml.Node) { r.Collection = l.str(v, "ref.collection") }),
			yamlnode.On("field", func(_, v *yaml.Node) { r.Field = l.str(v, "ref.field") }),
		)
	default:
		l.errf(n, "%s: ref must be a collection name or {collection, field}", path)
		return nil
	}
	if r.Collection == "" {
		l.errf(n, "%s: ref needs a collection", path)
		return nil
	}
	if strings.HasPrefix(strings.ToLower(r.Collection), "pm_") || strings.HasPrefix(r.Collection, "system.") || strings.Contains(r.Collection, "$") {
		l.errf(n, "%s: ref names collection %q, which is not a document collection", path, r.Collection)
		return nil
	}
	if r.Field == "" || strings.HasPrefix(r.Field, "$") || strings.Contains(r.Field, "..") {
		l.errf(n, "%s: invalid ref field %q", path, r.Field)
		return nil
	}
	return r
}

func (l *loader) indexes(n *yaml.Node) []Index {
	if n.Kind != yaml.SequenceNode {
		l.errf(n, "indexes must be a list")
		return nil
	}
	var out []Index
	for _, it := range n.Content {
		it = yamlnode.Deref(it)
		if !l.Mapping(it, "an index") {
			continue
		}
		ix := Index{Pos: l.pos(it)}
		l.Keys(it, "index",
			yamlnode.On("fields", func(_, v *yaml.Node) { ix.Keys = l.indexKeys(v) }),
			yamlnode.On("unique", func(_, v *yaml.Node) { ix.Unique = l.Bool(v, "unique") }),
			yamlnode.On("name", func(_, v *yaml.Node) { ix.Name = l.str(v, "index name") }),
		)
		if len(ix.Keys) == 0 {
			if !yamlnode.Has(it, "fields") {
				l.errf(it, "an index needs fields")
			}
			continue
		}
		if ix.Name == "" {
			parts := make([]string, len(ix.Keys))
			for i, k := range ix.Keys {
				parts[i] = fmt.Sprintf("%s_%v", k.Key, k.Value)
			}
			ix.Name = "pm_schema_" + strings.Join(parts, "_")
		}
		out = append(out, ix)
	}
	return out
}

// indexKeys reads an index's fields: paths, "-" first for descending.
func (l *loader) indexKeys(v *yaml.Node) bson.D {
	if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
		l.errf(v, "index fields must be a non-empty list")
		return nil
	}
	var keys bson.D
	for _, fn := range v.Content {
		s := l.str(yamlnode.Deref(fn), "index field")
		dir := 1
		if strings.HasPrefix(s, "-") {
			s, dir = s[1:], -1
		}
		if s == "" || strings.HasPrefix(s, "$") || strings.Contains(s, "..") || strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") {
			l.errf(fn, "invalid index field %q", fn.Value)
			continue
		}
		keys = append(keys, bson.E{Key: s, Value: dir})
	}
	return keys
}

// yamlValue converts a YAML scalar, list or mapping into a BSON value, with
// YAML's own types (an int stays an int, a timestamp becomes a date).
func yamlValue(n *yaml.Node) (bson.RawValue, error) {
	var v any
	if err := n.Decode(&v); err != nil {
		return bson.RawValue{}, err
	}
	v = normalize(v)
	t, b, err := bson.MarshalValue(v)
	if err != nil {
		return bson.RawValue{}, err
	}
	return bson.RawValue{Type: t, Value: b}, nil
}

func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		keys := slices.Sorted(maps.Keys(x))
		out := bson.D{}
		for _, k := range keys {
			out = append(out, bson.E{Key: k, Value: normalize(x[k])})
		}
		return out
	case []any:
		out := bson.A{}
		for _, e := range x {
			out = append(out, normalize(e))
		}
		return out
	case time.Time:
		return bson.NewDateTimeFromTime(x)
	}
	return v
}
