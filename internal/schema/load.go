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
	for _, s := range srcs {
		l.file = s.File
		n := yamlnode.Deref(s.Node)
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			continue
		}
		if !l.isMap(n, "schemas") {
			continue
		}
		l.eachKey(n, func(name string, kn, v *yaml.Node) {
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
	set   *Set
	file  string
	probs []Problem
}

func (l *loader) pos(n *yaml.Node) Pos { return Pos{File: l.file, Line: n.Line, Col: n.Column} }

func (l *loader) errf(n *yaml.Node, format string, args ...any) {
	l.probs = append(l.probs, Problem{l.pos(n), fmt.Sprintf(format, args...)})
}

func (l *loader) isMap(n *yaml.Node, what string) bool {
	if n.Kind != yaml.MappingNode {
		l.errf(n, "%s must be a mapping", what)
		return false
	}
	return true
}

func (l *loader) eachKey(n *yaml.Node, f func(k string, kn, v *yaml.Node)) {
	yamlnode.EachKey(n, l.duplicateKey, f)
}

func (l *loader) duplicateKey(kn *yaml.Node) { l.errf(kn, "duplicate key %q", kn.Value) }

func (l *loader) boolean(n *yaml.Node, what string) bool {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		l.errf(n, "%s must be true or false", what)
		return false
	}
	return n.Value == "true"
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
	if !l.isMap(n, "schema "+name) {
		return nil
	}
	l.eachKey(n, func(k string, kn, v *yaml.Node) {
		switch k {
		case "description":
		case "additional_fields":
			c.Additional = l.boolean(v, "additional_fields")
		case "fields":
			c.Fields = l.fields(v, "")
		case "indexes":
			c.Indexes = l.indexes(v)
		default:
			l.errf(kn, "unknown key %q in schema %q (known: additional_fields, fields, indexes, description)", k, name)
		}
	})
	return c
}

func (l *loader) fields(n *yaml.Node, prefix string) []*Field {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if !l.isMap(n, "fields") {
		return nil
	}
	var out []*Field
	l.eachKey(n, func(name string, kn, v *yaml.Node) {
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

const fieldKeys = "type, required, nullable, enum, min, max, min_length, max_length, pattern, format, min_items, max_items, items, fields, additional_fields, default, immutable, computed, ref, description"

// field reads one field spec. prefix is the parent's path ("" at the top).
func (l *loader) field(name, path string, n *yaml.Node, prefix string) *Field {
	f := &Field{Name: name, Path: path, Pos: l.pos(n)}
	if !l.isMap(n, "field "+path) {
		return nil
	}
	inArray := strings.Contains(path, "[]")
	var enumNode, defNode, fieldsNode, addNode *yaml.Node
	l.eachKey(n, func(k string, kn, v *yaml.Node) {
		switch k {
		case "description":
		case "type":
			f.Type = l.str(v, "type")
			if f.Type != "" && !slices.Contains(Types, f.Type) {
				l.errf(v, "unknown type %q for %s (known: %s)", f.Type, path, strings.Join(Types, ", "))
				f.Type = TypeAny
			}
		case "required":
			f.Required = l.boolean(v, "required")
		case "nullable":
			f.Nullable = l.boolean(v, "nullable")
		case "immutable":
			f.Immutable = l.boolean(v, "immutable")
			if f.Immutable && inArray {
				l.errf(kn, "%s: immutable is not supported inside array items", path)
			}
		case "enum":
			enumNode = v
		case "min":
			f.Min = l.num(v, "min")
		case "max":
			f.Max = l.num(v, "max")
		case "min_length":
			f.MinLength = l.count(v, "min_length")
		case "max_length":
			f.MaxLength = l.count(v, "max_length")
		case "min_items":
			f.MinItems = l.count(v, "min_items")
		case "max_items":
			f.MaxItems = l.count(v, "max_items")
		case "pattern":
			if s := l.str(v, "pattern"); s != "" {
				re, err := regexp.Compile(s)
				if err != nil {
					l.errf(v, "%s: invalid pattern: %v", path, err)
				}
				f.Pattern = re
			}
		case "format":
			f.Format = l.str(v, "format")
			if f.Format != "" && !slices.Contains(Formats, f.Format) {
				l.errf(v, "unknown format %q for %s (known: %s)", f.Format, path, strings.Join(Formats, ", "))
			}
		case "items":
			f.Items = l.field(name, path+".[]", v, path)
		case "fields":
			fieldsNode = v
		case "additional_fields":
			addNode = v
		case "default":
			defNode = v
			if inArray {
				l.errf(kn, "%s: default is not supported inside array items", path)
			}
		case "computed":
			f.ComputedSrc = l.str(v, "computed")
			if prefix != "" {
				l.errf(kn, "%s: computed fields must be top-level fields", path)
				return
			}
			if f.ComputedSrc != "" {
				prog, err := expr.Compile(f.ComputedSrc, expr.Env(map[string]any{
					"resource": map[string]any{}, "doc": map[string]any{}, "now": time.Time{},
				}))
				if err != nil {
					l.errf(v, "%s: computed expression does not compile: %s", path, firstLine(err.Error()))
				}
				f.Computed = prog
			}
		case "ref":
			f.Ref = l.ref(v, path)
		default:
			l.errf(kn, "unknown key %q in field %s (known: %s)", k, path, fieldKeys)
		}
	})
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
			f.Object.Additional = l.boolean(addNode, "additional_fields")
		}
	}
	l.checkField(f, n, enumNode, defNode)
	return f
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
		l.eachKey(n, func(k string, kn, v *yaml.Node) {
			switch k {
			case "collection":
				r.Collection = l.str(v, "ref.collection")
			case "field":
				r.Field = l.str(v, "ref.field")
			default:
				l.errf(kn, "unknown key %q in ref of %s (known: collection, field)", k, path)
			}
		})
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
		if !l.isMap(it, "an index") {
			continue
		}
		ix := Index{Pos: l.pos(it)}
		hasFields := false
		l.eachKey(it, func(k string, kn, v *yaml.Node) {
			switch k {
			case "fields":
				hasFields = true
				if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
					l.errf(v, "index fields must be a non-empty list")
					return
				}
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
					ix.Keys = append(ix.Keys, bson.E{Key: s, Value: dir})
				}
			case "unique":
				ix.Unique = l.boolean(v, "unique")
			case "name":
				ix.Name = l.str(v, "index name")
			default:
				l.errf(kn, "unknown key %q in index (known: fields, unique, name)", k)
			}
		})
		if len(ix.Keys) == 0 {
			if !hasFields {
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
