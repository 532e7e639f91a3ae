package schema

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/fieldpath"
)

// Complete returns doc with the server's part written: defaults for absent
// fields (outside arrays, where their parent object exists), then computed
// fields evaluated in declaration order over the document so far (a computed
// field may use an earlier one). paths lists the fields written; a computed
// expression that fails is a failure, not a silent null.
func (c *Collection) Complete(doc bson.D, now time.Time) (out bson.D, paths []string, fails []Failure) {
	out = doc
	out = applyDefaults(out, &c.Object, "", &paths)
	out, fails = c.computeAll(out, now, func(name string, _ any) { paths = append(paths, name) })
	return out, paths, fails
}

// computeAll evaluates the computed fields in declaration order over d, each
// seeing the ones written before it, and returns d with them written;
// written hears each field set. A failing expression is a failure and leaves
// that field as it was.
func (c *Collection) computeAll(d bson.D, now time.Time, written func(name string, v any)) (bson.D, []Failure) {
	var fails []Failure
	for _, f := range c.Fields {
		if f.Computed == nil {
			continue
		}
		v, err := c.eval(f, d, now)
		if err != nil {
			fails = append(fails, Failure{Path: f.Name, Rule: RuleComputed, Message: "cannot be computed: " + err.Error()})
			continue
		}
		d = setTop(d, f.Name, v)
		written(f.Name, v)
	}
	return d, fails
}

func applyDefaults(d bson.D, o *Object, prefix string, paths *[]string) bson.D {
	for _, f := range o.Fields {
		i := index(d, f.Name)
		if i < 0 {
			if f.HasDefault {
				d = append(d, bson.E{Key: f.Name, Value: f.Default})
				*paths = append(*paths, fieldpath.Join(prefix, f.Name))
			}
			continue
		}
		if f.Object != nil {
			if sub, ok := d[i].Value.(bson.D); ok {
				d[i].Value = applyDefaults(append(bson.D(nil), sub...), f.Object, fieldpath.Join(prefix, f.Name), paths)
			}
		}
	}
	return d
}

func index(d bson.D, key string) int {
	for i, e := range d {
		if e.Key == key {
			return i
		}
	}
	return -1
}

func setTop(d bson.D, key string, v any) bson.D {
	if i := index(d, key); i >= 0 {
		d = append(bson.D(nil), d...)
		d[i].Value = v
		return d
	}
	return append(d, bson.E{Key: key, Value: v})
}

// ComputeRaw evaluates the computed fields over a stored document and
// returns those whose value differs from the stored one, as a $set body
// (nil when nothing changes).
func (c *Collection) ComputeRaw(doc bson.Raw, now time.Time) (bson.D, []Failure) {
	d, err := rawToD(doc)
	if err != nil {
		return nil, []Failure{{Path: "", Rule: RuleType, Message: "is not a valid document"}}
	}
	var set bson.D
	_, fails := c.computeAll(d, now, func(name string, v any) {
		old, err := doc.LookupErr(name)
		t, b, merr := bson.MarshalValue(v)
		if merr == nil && err == nil && old.Type == t && string(old.Value) == string(b) {
			return
		}
		set = append(set, bson.E{Key: name, Value: v})
	})
	return set, fails
}

func rawToD(raw bson.Raw) (bson.D, error) {
	var d bson.D
	err := bson.Unmarshal(raw, &d)
	return d, err
}

// eval runs a computed field's expression with resource (alias doc) bound
// to the document as plain values and now to the request time.
func (c *Collection) eval(f *Field, doc bson.D, now time.Time) (any, error) {
	m := plainDoc(doc)
	out, err := expr.Run(f.Computed, map[string]any{"resource": m, "doc": m, "now": now})
	if err != nil {
		return nil, shortErr(err)
	}
	return toBSON(out)
}

// shortErr keeps the first line of an expr runtime error: the rest is a
// caret diagram of the source, which the operator wrote and the client
// does not need.
func shortErr(err error) error {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return fmt.Errorf("%s", s)
}

// plainDoc converts a document to the Go values expressions work on:
// documents become maps, numbers int or float64, dates time.Time and
// ObjectIds their hex string.
func plainDoc(d bson.D) map[string]any {
	m := make(map[string]any, len(d))
	for _, e := range d {
		m[e.Key] = plain(e.Value)
	}
	return m
}

func plain(v any) any {
	switch x := v.(type) {
	case bson.D:
		return plainDoc(x)
	case bson.M:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = plain(e)
		}
		return out
	case bson.A:
		return plain([]any(x)) // the same list under the driver's name
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = plain(e)
		}
		return out
	case int32:
		return int(x)
	case int64:
		return int(x)
	case bson.DateTime:
		return x.Time().UTC()
	case bson.ObjectID:
		return x.Hex()
	case bson.Decimal128:
		return x.String()
	case bson.Raw:
		d, err := rawToD(x)
		if err != nil {
			return nil
		}
		return plainDoc(d)
	}
	return v
}

// toBSON turns an expression result into a value to store; results that
// have no stored form (functions, NaN) are errors.
func toBSON(v any) (any, error) {
	switch x := v.(type) {
	case nil, string, bool, int, int64, int32:
		return x, nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("result is not a finite number")
		}
		return x, nil
	case time.Time:
		return bson.NewDateTimeFromTime(x), nil
	case []any:
		out := make(bson.A, len(x))
		for i, e := range x {
			b, err := toBSON(e)
			if err != nil {
				return nil, err
			}
			out[i] = b
		}
		return out, nil
	case map[string]any:
		keys := slices.Sorted(maps.Keys(x)) // a stable order, so equal results are stored equal
		out := make(bson.D, 0, len(x))
		for _, k := range keys {
			e := x[k]
			b, err := toBSON(e)
			if err != nil {
				return nil, err
			}
			out = append(out, bson.E{Key: k, Value: b})
		}
		return out, nil
	}
	if _, _, err := bson.MarshalValue(v); err != nil {
		return nil, fmt.Errorf("result of type %T cannot be stored", v)
	}
	return v, nil
}
