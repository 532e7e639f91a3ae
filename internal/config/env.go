package config

import (
	"reflect"
	"strconv"
	"strings"
	"time"
)

// EnvPrefix starts every variable that overrides the file.
const EnvPrefix = "PM_"

// envAliases are extra names for a path; see the package comment.
var envAliases = map[string]string{
	"auth.jwt.secret": "PM_JWT_SECRET",
}

var durationType = reflect.TypeOf(time.Duration(0))

// EnvName returns the variable that overrides the key at path, e.g.
// "limits.query_timeout" → "PM_LIMITS_QUERY_TIMEOUT".
func EnvName(path string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

// EnvNames lists every variable Load reads, for documentation and --help.
func EnvNames() []string {
	var out []string
	walkLeaves(reflect.ValueOf(Default()).Elem(), "", func(path string, _ reflect.Value) {
		out = append(out, EnvName(path))
		if a, ok := envAliases[path]; ok {
			out = append(out, a)
		}
	})
	return out
}

// applyEnv sets every leaf for which lookup finds a variable.
func (c *Config) applyEnv(lookup func(string) (string, bool), probs *Problems) {
	walkLeaves(reflect.ValueOf(c).Elem(), "", func(path string, v reflect.Value) {
		name := EnvName(path)
		raw, ok := lookup(name)
		if alias, has := envAliases[path]; has {
			if araw, aok := lookup(alias); aok {
				if ok && araw != raw {
					probs.add("%s and %s are both set, to different values; set one", name, alias)
					return
				}
				name, raw, ok = alias, araw, true
			}
		}
		if !ok {
			return
		}
		if err := setFromString(v, raw); err != "" {
			// The value is not echoed: it may be a secret.
			probs.add("env %s: %s", name, err)
			return
		}
		c.setOrigin(path, "env "+name)
	})
}

// walkLeaves calls fn for every field that a variable can set: strings,
// numbers, booleans, durations and lists of strings. Lists of objects,
// maps and times have no single-string form and are left to the file.
func walkLeaves(v reflect.Value, path string, fn func(string, reflect.Value)) {
	for name, f := range fileKeys(v.Type()) {
		p := join(path, name)
		fv := v.FieldByIndex(f.Index)
		switch {
		case f.Type.Kind() == reflect.Struct:
			walkLeaves(fv, p, fn)
		case f.Type == durationType, f.Type.Kind() == reflect.String, f.Type.Kind() == reflect.Bool,
			f.Type.Kind() == reflect.Int, f.Type.Kind() == reflect.Int64,
			f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.String:
			fn(p, fv)
		}
	}
}

// setFromString parses raw into v; it returns a message, not an error, so
// that the caller decides how to name the source.
func setFromString(v reflect.Value, raw string) string {
	switch {
	case v.Type() == durationType:
		d, err := time.ParseDuration(strings.TrimSpace(raw))
		if err != nil {
			return "not a duration (use units, e.g. 10s, 500ms)"
		}
		v.SetInt(int64(d))
	case v.Kind() == reflect.String:
		v.SetString(raw)
	case v.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(raw))
		if err != nil {
			return "not a boolean (true or false)"
		}
		v.SetBool(b)
	case v.Kind() == reflect.Int, v.Kind() == reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
		if err != nil || v.OverflowInt(n) {
			return "not an integer"
		}
		v.SetInt(n)
	case v.Kind() == reflect.Slice:
		var items []string
		for _, s := range strings.Split(raw, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, s)
			}
		}
		v.Set(reflect.ValueOf(items))
	}
	return ""
}
