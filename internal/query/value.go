package query

import (
	"maps"
	"math"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
)

// valueKind is how the checks see a Go value: as a document, an array or an
// opaque scalar. Anything else is refused, because a Go type the checks do
// not understand could still be encoded by the driver as a document full of
// operators (a struct, a map type we did not list) and slip past them.
type valueKind int

const (
	kindScalar valueKind = iota
	kindDoc
	kindArray
	kindUnsupported
)

// maxValueDepth bounds recursion over values whose depth no Limits covers
// (update values, replacement documents built in code). ParseJSONDoc already
// caps parsed input at MaxJSONDepth.
const maxValueDepth = 256

// classify returns the kind of v and, for documents and arrays, its
// elements in a canonical representation.
func classify(v any) (valueKind, bson.D, []any) {
	switch t := v.(type) {
	case bson.D:
		return kindDoc, t, nil
	case bson.M:
		return kindDoc, sortedDoc(t), nil
	case map[string]any:
		return kindDoc, sortedDoc(t), nil
	case bson.Raw:
		var d bson.D
		if err := bson.Unmarshal(t, &d); err != nil {
			return kindUnsupported, nil, nil
		}
		return kindDoc, d, nil
	case bson.A:
		return kindArray, nil, t
	case []any:
		return kindArray, nil, t
	case []bson.D:
		a := make([]any, len(t))
		for i := range t {
			a[i] = t[i]
		}
		return kindArray, nil, a
	case nil, string, bool, int, int32, int64, float64, float32,
		bson.ObjectID, bson.DateTime, bson.Decimal128, bson.Binary, bson.Regex,
		bson.Timestamp, bson.MinKey, bson.MaxKey, bson.Undefined, bson.Null,
		bson.Symbol, bson.DBPointer, bson.JavaScript, bson.CodeWithScope:
		return kindScalar, nil, nil
	}
	return kindUnsupported, nil, nil
}

// sortedDoc gives maps a deterministic order so checks and error messages do
// not depend on Go's map iteration.
func sortedDoc[M ~map[string]any](m M) bson.D {
	keys := slices.Sorted(maps.Keys(m))
	d := make(bson.D, 0, len(keys))
	for _, k := range keys {
		d = append(d, bson.E{Key: k, Value: m[k]})
	}
	return d
}

func asDoc(v any) (bson.D, bool) {
	k, d, _ := classify(v)
	return d, k == kindDoc
}

func asArray(v any) ([]any, bool) {
	k, _, a := classify(v)
	return a, k == kindArray
}

// isOperatorDoc reports whether a value document is an operator document.
// The server decides on the first key alone; we follow it and separately
// refuse documents that mix operator and field keys, so the two readings can
// never differ.
func isOperatorDoc(d bson.D) bool {
	return len(d) > 0 && strings.HasPrefix(d[0].Key, "$")
}

// AsInteger returns v as an int64 when it is a number with an integral value
// (a float64 of one included, as JSON clients send them) within int64.
func AsInteger(v any) (int64, bool) {
	switch n := v.(type) {
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case int:
		return int64(n), true
	case float64:
		if n != math.Trunc(n) || n >= math.MaxInt64 || n < math.MinInt64 {
			return 0, false
		}
		return int64(n), true
	case float32:
		return AsInteger(float64(n))
	}
	return 0, false
}

func isNumber(v any) bool {
	switch v.(type) {
	case int32, int64, int, float64, float32, bson.Decimal128:
		return true
	}
	return false
}

// isFiniteNumber is isNumber without NaN and infinities, for operands the
// server would reject with an error we would otherwise surface as a 500.
func isFiniteNumber(v any) bool {
	switch n := v.(type) {
	case float64:
		return !math.IsNaN(n) && !math.IsInf(n, 0)
	case float32:
		return isFiniteNumber(float64(n))
	case bson.Decimal128:
		return !n.IsNaN() && n.IsInf() == 0
	}
	return isNumber(v)
}

// dataRules says what checkData accepts inside a client value.
type dataRules struct {
	// filter: the value is compared by a query, so regexes are patterns
	// (length-limited) and JavaScript values are refused outright.
	filter bool
	lim    Limits
}

// checkData validates a value supplied as data (an equality operand, a $set
// value, ...). Keys starting with `$` are refused at any depth: they are how
// operator injection works on servers and drivers that re-interpret stored
// values, and they would break the "first key decides" rule above. Dotted and
// empty keys are refused because field permissions are expressed as dotted
// paths: a key literally named "address.ssn" would make one path mean two
// things.
func checkData(v any, where string, r dataRules, depth int) error {
	if depth > maxValueDepth {
		return apperr.Invalid("%s: value nested deeper than %d levels", where, maxValueDepth)
	}
	kind, d, a := classify(v)
	switch kind {
	case kindUnsupported:
		return apperr.Invalid("%s: unsupported value type %T", where, v)
	case kindDoc:
		for _, e := range d {
			if err := checkDataKey(e.Key, where); err != nil {
				return err
			}
			if err := checkData(e.Value, where, r, depth+1); err != nil {
				return err
			}
		}
	case kindArray:
		for _, el := range a {
			if err := checkData(el, where, r, depth+1); err != nil {
				return err
			}
		}
	case kindScalar:
		if r.filter {
			return checkFilterScalar(v, where, r.lim)
		}
	}
	return nil
}

func checkDataKey(k, where string) error {
	switch {
	case strings.HasPrefix(k, "$"):
		return apperr.Invalid("%s: field name %q inside a value must not start with '$'", where, k)
	case k == "":
		return apperr.Invalid("%s: empty field name inside a value", where)
	case strings.Contains(k, "."):
		return apperr.Invalid("%s: field name %q inside a value must not contain '.'", where, k)
	case strings.ContainsRune(k, 0):
		return apperr.Invalid("%s: field name inside a value contains a NUL byte", where)
	}
	return nil
}

// checkFilterScalar applies the filter-only rules to a scalar value.
func checkFilterScalar(v any, where string, lim Limits) error {
	switch t := v.(type) {
	case bson.Regex:
		return checkRegex(t.Pattern, t.Options, where, lim)
	case bson.JavaScript, bson.CodeWithScope:
		// Comparing against code is never needed by a client and keeps the
		// "no server-side JavaScript" rule free of exceptions.
		return apperr.Invalid("%s: JavaScript values are not allowed in filters", where)
	}
	return nil
}

// checkRegex enforces the regex length limit (long patterns are the cheap
// way to burn server CPU) and the option allowlist.
func checkRegex(pattern, options, where string, lim Limits) error {
	if len(pattern) > lim.MaxRegexLength {
		return apperr.New(apperr.KindTooLarge, "%s: regular expression is %d bytes, over the limit of %d", where, len(pattern), lim.MaxRegexLength)
	}
	if strings.ContainsRune(pattern, 0) {
		return apperr.Invalid("%s: regular expression contains a NUL byte", where)
	}
	return checkRegexOptions(options, where)
}

func checkRegexOptions(options, where string) error {
	for _, c := range options {
		if !strings.ContainsRune("imsx", c) {
			return apperr.Invalid("%s: regex option %q is not allowed (allowed: i, m, s, x)", where, string(c))
		}
	}
	return nil
}
