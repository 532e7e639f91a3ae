package schema

import (
	"fmt"
	"math"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/fieldpath"
	"github.com/permission-mongo/permission-mongo/internal/mongosem"
)

// Validate checks doc against the collection's fields and returns every
// failure, in document order. implicit names top-level fields the server
// writes (_id, stamps), which additional_fields: false never refuses.
// References are not checked here: they need the database (RefValues).
func (c *Collection) Validate(doc bson.Raw, implicit []string) []Failure {
	var v validator
	v.object("", &c.Object, doc, implicit)
	return v.out
}

type validator struct{ out []Failure }

func (v *validator) fail(path, rule, format string, args ...any) {
	v.out = append(v.out, Failure{Path: path, Rule: rule, Message: fmt.Sprintf(format, args...)})
}

func (v *validator) object(prefix string, o *Object, doc bson.Raw, implicit []string) {
	for _, f := range o.Fields {
		path := fieldpath.Join(prefix, f.Name)
		val, err := doc.LookupErr(f.Name)
		if err != nil {
			if f.Required {
				v.fail(path, RuleRequired, "is required")
			}
			continue
		}
		v.value(path, f, val)
	}
	if o.Additional {
		return
	}
	elems, err := doc.Elements()
	if err != nil {
		v.fail(prefix, RuleType, "is not a valid document")
		return
	}
	for _, e := range elems {
		k := e.Key()
		if slices.Contains(implicit, k) || o.field(k) != nil {
			continue
		}
		v.fail(fieldpath.Join(prefix, k), RuleAdditional, "is not a declared field")
	}
}

func (o *Object) field(name string) *Field {
	for _, f := range o.Fields {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// value checks one present value.
func (v *validator) value(path string, f *Field, val bson.RawValue) {
	if val.Type == bson.TypeNull {
		if !f.Nullable && f.Type != "" && f.Type != TypeAny {
			v.fail(path, RuleType, "must be a %s, not null", f.Type)
		}
		return
	}
	if !typeOK(f.Type, val) {
		v.fail(path, RuleType, "must be a %s, not %s", typeWord(f.Type), typeName(val))
		return
	}
	if len(f.Enum) > 0 && !slices.ContainsFunc(f.Enum, func(e bson.RawValue) bool { return sameValue(e, val) }) {
		v.fail(path, RuleEnum, "must be one of %s", enumText(f.Enum))
	}
	if n, ok := number(val); ok {
		if f.Min != nil && n < *f.Min {
			v.fail(path, RuleMin, "must be at least %s", fmtNum(*f.Min))
		}
		if f.Max != nil && n > *f.Max {
			v.fail(path, RuleMax, "must be at most %s", fmtNum(*f.Max))
		}
	}
	if s, ok := val.StringValueOK(); ok {
		n := utf8.RuneCountInString(s)
		if f.MinLength != nil && n < *f.MinLength {
			v.fail(path, RuleMinLength, "must be at least %d characters long", *f.MinLength)
		}
		if f.MaxLength != nil && n > *f.MaxLength {
			v.fail(path, RuleMaxLength, "must be at most %d characters long", *f.MaxLength)
		}
		if f.Pattern != nil && !f.Pattern.MatchString(s) {
			v.fail(path, RulePattern, "must match %s", f.Pattern.String())
		}
		if f.Format != "" && !formatOK(f.Format, s) {
			v.fail(path, RuleFormat, "must be a valid %s", f.Format)
		}
	}
	if arr, ok := val.ArrayOK(); ok {
		vals, _ := arr.Values()
		if f.MinItems != nil && len(vals) < *f.MinItems {
			v.fail(path, RuleMinItems, "must hold at least %d items", *f.MinItems)
		}
		if f.MaxItems != nil && len(vals) > *f.MaxItems {
			v.fail(path, RuleMaxItems, "must hold at most %d items", *f.MaxItems)
		}
		if f.Items != nil {
			for i, it := range vals {
				v.value(path+"."+strconv.Itoa(i), f.Items, it)
			}
		}
	}
	if d, ok := val.DocumentOK(); ok && f.Object != nil {
		v.object(path, f.Object, d, nil)
	}
}

func typeOK(t string, val bson.RawValue) bool {
	switch t {
	case "", TypeAny:
		return true
	case TypeString:
		return val.Type == bson.TypeString
	case TypeNumber:
		switch val.Type {
		case bson.TypeInt32, bson.TypeInt64, bson.TypeDouble, bson.TypeDecimal128:
			return true
		}
	case TypeInt:
		switch val.Type {
		case bson.TypeInt32, bson.TypeInt64:
			return true
		case bson.TypeDouble:
			// A JSON 3.0 arrives as a double; it is still a whole number.
			f := val.Double()
			return f == math.Trunc(f) && !math.IsInf(f, 0) && math.Abs(f) < 1<<53
		}
	case TypeBool:
		return val.Type == bson.TypeBoolean
	case TypeDate:
		return val.Type == bson.TypeDateTime
	case TypeObject:
		return val.Type == bson.TypeEmbeddedDocument
	case TypeArray:
		return val.Type == bson.TypeArray
	case TypeObjectID:
		return val.Type == bson.TypeObjectID
	}
	return false
}

func typeWord(t string) string {
	switch t {
	case TypeInt:
		return "whole number"
	case TypeObject:
		return "object"
	case TypeArray:
		return "array"
	case TypeObjectID:
		return "ObjectId"
	}
	return t
}

func typeName(val bson.RawValue) string {
	switch val.Type {
	case bson.TypeString:
		return "a string"
	case bson.TypeInt32, bson.TypeInt64, bson.TypeDouble, bson.TypeDecimal128:
		return "a number"
	case bson.TypeBoolean:
		return "a boolean"
	case bson.TypeDateTime:
		return "a date"
	case bson.TypeEmbeddedDocument:
		return "an object"
	case bson.TypeArray:
		return "an array"
	case bson.TypeObjectID:
		return "an ObjectId"
	}
	return val.Type.String()
}

// sameValue compares like MongoDB's equality, but a number never equals a
// string and 1 equals 1.0, as enum users expect.
func sameValue(a, b bson.RawValue) bool {
	return mongosem.Bracket(a.Type) == mongosem.Bracket(b.Type) && mongosem.Equal(a, b)
}

func number(val bson.RawValue) (float64, bool) {
	switch val.Type {
	case bson.TypeInt32:
		return float64(val.Int32()), true
	case bson.TypeInt64:
		return float64(val.Int64()), true
	case bson.TypeDouble:
		return val.Double(), true
	case bson.TypeDecimal128:
		f, err := strconv.ParseFloat(val.Decimal128().String(), 64)
		return f, err == nil
	}
	return 0, false
}

func fmtNum(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func enumText(vals []bson.RawValue) string {
	parts := make([]string, len(vals))
	for i, e := range vals {
		parts[i] = e.String()
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func formatOK(format, s string) bool {
	switch format {
	case "email":
		a, err := mail.ParseAddress(s)
		if err != nil || a.Name != "" || a.Address != s {
			return false
		}
		at := strings.LastIndexByte(s, '@')
		return at > 0 && at < len(s)-1
	case "uri":
		u, err := url.Parse(s)
		return err == nil && u.Scheme != "" && (u.Host != "" || u.Opaque != "" || u.Path != "")
	case "date-time":
		_, err := time.Parse(time.RFC3339Nano, s)
		return err == nil
	case "date":
		_, err := time.Parse(time.DateOnly, s)
		return err == nil
	}
	return false
}

// Immutable lists the immutable fields whose value in post differs from pre
// (a field absent from pre is fixed as absent: immutable fields are set on
// create or never).
func (c *Collection) Immutable(pre, post bson.Raw) []Failure {
	var out []Failure
	c.walk(func(path string, f *Field) {
		if !f.Immutable {
			return
		}
		a, errA := pre.LookupErr(strings.Split(path, ".")...)
		b, errB := post.LookupErr(strings.Split(path, ".")...)
		if (errA == nil) != (errB == nil) || (errA == nil && (a.Type != b.Type || !mongosem.Equal(a, b))) {
			out = append(out, Failure{Path: path, Rule: RuleImmutable, Message: "is immutable and cannot be changed after create"})
		}
	})
	return out
}

// walk visits the fields outside arrays, parents first.
func (c *Collection) walk(fn func(path string, f *Field)) {
	var rec func(prefix string, o *Object)
	rec = func(prefix string, o *Object) {
		for _, f := range o.Fields {
			p := fieldpath.Join(prefix, f.Name)
			fn(p, f)
			if f.Object != nil {
				rec(p, f.Object)
			}
		}
	}
	rec("", &c.Object)
}

// Computed reports whether path writes a computed field (the field itself,
// inside it, or a parent of it), returning the computed field's path.
func (c *Collection) Computed(path string) (string, bool) {
	found := ""
	c.walk(func(p string, f *Field) {
		if found == "" && f.Computed != nil && (p == path || under(path, p) || under(p, path)) {
			found = p
		}
	})
	return found, found != ""
}

func under(p, parent string) bool {
	return len(p) > len(parent) && strings.HasPrefix(p, parent) && p[len(parent)] == '.'
}

// RefValue is one reference a document makes.
type RefValue struct {
	Path  string
	Ref   *Ref
	Value bson.RawValue
}

// RefValues lists the references doc makes. With pre non-nil, only those
// whose value differs from pre's at the same path: a reference checked when
// it was written is not checked again on unrelated updates.
func (c *Collection) RefValues(doc, pre bson.Raw) []RefValue {
	var out []RefValue
	var rec func(prefix string, o *Object, d, p bson.Raw)
	var val func(path string, f *Field, v bson.RawValue, old *bson.RawValue)
	val = func(path string, f *Field, v bson.RawValue, old *bson.RawValue) {
		if v.Type == bson.TypeNull {
			return
		}
		if f.Ref != nil && (old == nil || old.Type != v.Type || !mongosem.Equal(*old, v)) {
			out = append(out, RefValue{Path: path, Ref: f.Ref, Value: v})
		}
		if arr, ok := v.ArrayOK(); ok && f.Items != nil {
			var olds []bson.RawValue
			if old != nil {
				if oa, ok := old.ArrayOK(); ok {
					olds, _ = oa.Values()
				}
			}
			vals, _ := arr.Values()
			for i, it := range vals {
				var o *bson.RawValue
				// An element equal to any previous element was checked
				// already, wherever it sat.
				for k := range olds {
					if olds[k].Type == it.Type && mongosem.Equal(olds[k], it) {
						o = &olds[k]
						break
					}
				}
				val(path+"."+strconv.Itoa(i), f.Items, it, o)
			}
		}
		if d, ok := v.DocumentOK(); ok && f.Object != nil {
			var pd bson.Raw
			if old != nil {
				pd, _ = old.DocumentOK()
			}
			rec(path, f.Object, d, pd)
		}
	}
	rec = func(prefix string, o *Object, d, p bson.Raw) {
		for _, f := range o.Fields {
			v, err := d.LookupErr(f.Name)
			if err != nil {
				continue
			}
			var old *bson.RawValue
			if p != nil {
				if ov, err := p.LookupErr(f.Name); err == nil {
					old = &ov
				}
			}
			if pre != nil && old == nil {
				// Absent before: everything in it is new.
				val(fieldpath.Join(prefix, f.Name), f, v, nil)
				continue
			}
			val(fieldpath.Join(prefix, f.Name), f, v, old)
		}
	}
	rec("", &c.Object, doc, pre)
	return out
}
