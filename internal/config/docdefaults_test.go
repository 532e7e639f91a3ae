package config

import (
	"os"
	"reflect"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// docDefaultRow is a row of docs/configuration.md's key table whose default
// cell begins with a literal: | `key` | `value` ...
var docDefaultRow = regexp.MustCompile("(?m)^\\| `([a-z0-9_.\\[\\]]+)` \\| `([^`]*)`")

// scalarLeaves maps every scalar key of v (a config struct) to its value.
func scalarLeaves(v reflect.Value, prefix string, out map[string]reflect.Value) {
	for name, f := range fileKeys(v.Type()) {
		fv := v.FieldByIndex(f.Index)
		p := join(prefix, name)
		switch {
		case fv.Kind() == reflect.Struct && fv.Type() != timeType:
			scalarLeaves(fv, p, out)
		case fv.Kind() == reflect.String, fv.Kind() == reflect.Bool, fv.Kind() == reflect.Float64, fv.CanInt(), fv.CanUint():
			out[p] = fv
		}
	}
}

// sameAsDoc reports whether doc, the literal of the table, is v.
func sameAsDoc(doc string, v reflect.Value) bool {
	var err error
	same := false
	switch {
	case v.Type() == reflect.TypeFor[time.Duration]():
		var d time.Duration
		d, err = time.ParseDuration(doc)
		same = d == time.Duration(v.Int())
	case v.CanInt():
		var n int64
		n, err = strconv.ParseInt(doc, 10, 64)
		same = n == v.Int()
	case v.CanUint():
		var n uint64
		n, err = strconv.ParseUint(doc, 10, 64)
		same = n == v.Uint()
	case v.Kind() == reflect.Bool:
		var b bool
		b, err = strconv.ParseBool(doc)
		same = b == v.Bool()
	case v.Kind() == reflect.Float64:
		var f float64
		f, err = strconv.ParseFloat(doc, 64)
		same = f == v.Float()
	default:
		same = doc == v.String()
	}
	return err == nil && same
}

// The default docs/configuration.md gives a key, where it is a literal, is
// what a file that sets nothing gets: the table cannot drift from the code
// (audit.queue_size once said 10000 while the code sized the queue by
// throughput).
func TestConfigurationDocDefaults(t *testing.T) {
	for _, v := range EnvNames() {
		t.Setenv(v, "") // restored after the test
		_ = os.Unsetenv(v)
	}
	raw, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	c, err := loadText(t, "")
	if err != nil {
		t.Fatal(err)
	}
	leaves := map[string]reflect.Value{}
	scalarLeaves(reflect.ValueOf(c).Elem(), "", leaves)
	checked := map[string]bool{}
	for _, m := range docDefaultRow.FindAllStringSubmatch(string(raw), -1) {
		key, doc := m[1], m[2]
		v, ok := leaves[key]
		if !ok || key == "policies" { // loadText sets policies
			continue
		}
		checked[key] = true
		if !sameAsDoc(doc, v) {
			t.Errorf("docs/configuration.md: `%s` defaults to `%s`; the code: %v", key, doc, v)
		}
	}
	if len(checked) < 40 || !checked["audit.queue_size"] {
		t.Fatalf("only %d rows checked (audit.queue_size: %v): the table's layout changed", len(checked), checked["audit.queue_size"])
	}
}
