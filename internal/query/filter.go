package query

import (
	"cmp"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/fieldpath"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Limits bounds the cost of a client filter. A zero or negative field means
// "use the value from DefaultLimits", never "unlimited": a forgotten setting
// must not switch a limit off.
type Limits struct {
	// MaxDepth is the deepest nesting of documents and arrays in the
	// filter; the filter document itself is level 1, so {a: {$in: [1]}}
	// has depth 3. Over it → 400.
	MaxDepth int
	// MaxRegexLength is the longest regular expression pattern, in bytes.
	// Over it → 413.
	MaxRegexLength int
	// MaxInItems is the longest $in, $nin or $all array. Over it → 413.
	MaxInItems int
}

// DefaultLimits are used for every Limits field left at zero. Treat it as
// read-only: it is shared by every caller of FilterPaths and ParseUpdate.
var DefaultLimits = Limits{MaxDepth: 32, MaxRegexLength: 512, MaxInItems: 1000}

func (l Limits) withDefaults() Limits {
	// max(x, 0) turns a negative setting into zero, and cmp.Or turns zero
	// into the default: a limit is never off.
	l.MaxDepth = cmp.Or(max(l.MaxDepth, 0), DefaultLimits.MaxDepth)
	l.MaxRegexLength = cmp.Or(max(l.MaxRegexLength, 0), DefaultLimits.MaxRegexLength)
	l.MaxInItems = cmp.Or(max(l.MaxInItems, 0), DefaultLimits.MaxInItems)
	return l
}

// refusedOperators name operators that exist on the server but are refused,
// with the reason given to the client. Anything neither allowed nor listed
// here is refused as unknown; the list only makes messages better.
var refusedOperators = map[string]string{
	"$where":         "server-side JavaScript is not allowed",
	"$function":      "server-side JavaScript is not allowed",
	"$accumulator":   "server-side JavaScript is not allowed",
	"$expr":          "aggregation expressions are not allowed in filters",
	"$text":          "text search is not supported",
	"$jsonSchema":    "schema queries are not supported",
	"$comment":       "comments are not allowed",
	"$near":          "geospatial queries are not supported",
	"$nearSphere":    "geospatial queries are not supported",
	"$geoWithin":     "geospatial queries are not supported",
	"$geoIntersects": "geospatial queries are not supported",
	"$within":        "geospatial queries are not supported",
	"$geometry":      "geospatial queries are not supported",
	"$box":           "geospatial queries are not supported",
	"$center":        "geospatial queries are not supported",
	"$centerSphere":  "geospatial queries are not supported",
	"$polygon":       "geospatial queries are not supported",
	"$maxDistance":   "geospatial queries are not supported",
	"$minDistance":   "geospatial queries are not supported",
	"$bitsAllSet":    "bitwise queries are not supported",
	"$bitsAnySet":    "bitwise queries are not supported",
	"$bitsAllClear":  "bitwise queries are not supported",
	"$bitsAnyClear":  "bitwise queries are not supported",
	"$sampleRate":    "sampling is not supported",
	"$alwaysTrue":    "internal operators are not allowed",
	"$alwaysFalse":   "internal operators are not allowed",
}

// fieldOperators are the operators allowed in an operator document applied
// to a field.
var fieldOperators = map[string]bool{
	"$eq": true, "$ne": true, "$gt": true, "$gte": true, "$lt": true, "$lte": true,
	"$in": true, "$nin": true, "$exists": true, "$type": true,
	"$regex": true, "$options": true, "$not": true,
	"$all": true, "$elemMatch": true, "$size": true, "$mod": true,
}

// logicalOperators are the only operators allowed where a filter document
// is expected (top level, inside $and/$or/$nor, query-form $elemMatch).
var logicalOperators = map[string]bool{"$and": true, "$or": true, "$nor": true}

// bsonTypeAliases are the names $type accepts.
var bsonTypeAliases = map[string]bool{
	"double": true, "string": true, "object": true, "array": true, "binData": true,
	"undefined": true, "objectId": true, "bool": true, "date": true, "null": true,
	"regex": true, "dbPointer": true, "javascript": true, "symbol": true,
	"javascriptWithScope": true, "int": true, "timestamp": true, "long": true,
	"decimal": true, "minKey": true, "maxKey": true, "number": true,
}

func operatorError(op, context string) error {
	if reason, ok := refusedOperators[op]; ok {
		return apperr.Invalid("query operator %s is not allowed: %s", op, reason)
	}
	if fieldOperators[op] && context == "filter" {
		return apperr.Invalid("query operator %s must be applied to a field, e.g. {\"field\": {%q: ...}}", op, op)
	}
	if logicalOperators[op] && context != "filter" {
		return apperr.Invalid("query operator %s is only allowed where a filter document is expected, not on a field", op)
	}
	return apperr.Invalid("unknown or unsupported query operator %s", op)
}

// CheckFilter validates a client filter and checks that every field path it
// uses is readable. readable receives each distinct path once, normalised by
// NormalizePath and made absolute (paths inside $elemMatch are prefixed with
// the array field). It must refuse a parent of a hidden field too: equality
// on "address" reveals "address.ssn".
//
// Errors: 400 for bad syntax, a refused or unknown operator, a bad operand
// type or a filter nested deeper than lim.MaxDepth; 413 for a regex or an
// $in/$nin/$all list over its limit; 403 naming the first unreadable field.
func CheckFilter(filter bson.D, lim Limits, readable func(path string) bool) error {
	if readable == nil {
		return apperr.New(apperr.KindInternal, "query.CheckFilter called without a readable callback")
	}
	_, err := walkFilter(filter, lim, readable)
	return err
}

// FilterPaths validates filter under DefaultLimits and returns every
// distinct field path it uses, normalised as CheckFilter passes them to its
// callback, in order of first use. It is for callers that need the list
// itself (audit, explain); access checks belong in CheckFilter.
func FilterPaths(filter bson.D) ([]string, error) {
	return walkFilter(filter, DefaultLimits, nil)
}

func walkFilter(filter bson.D, lim Limits, readable func(string) bool) ([]string, error) {
	w := &filterWalker{lim: lim.withDefaults(), readable: readable}
	// The depth check runs first and stops descending at the limit, so the
	// semantic walk below recurses at most MaxDepth levels.
	if err := checkDepth(filter, 1, w.lim.MaxDepth); err != nil {
		return nil, err
	}
	if err := w.filterDoc(filter, ""); err != nil {
		return nil, err
	}
	if w.paths.list == nil {
		return []string{}, nil
	}
	return w.paths.list, nil
}

func checkDepth(v any, depth, max int) error {
	kind, d, a := classify(v)
	if kind != kindDoc && kind != kindArray {
		return nil
	}
	if depth > max {
		return apperr.Invalid("filter is nested deeper than %d levels", max)
	}
	for _, e := range d {
		if err := checkDepth(e.Value, depth+1, max); err != nil {
			return err
		}
	}
	for _, el := range a {
		if err := checkDepth(el, depth+1, max); err != nil {
			return err
		}
	}
	return nil
}

type filterWalker struct {
	lim      Limits
	readable func(string) bool
	paths    pathSet
}

// use records a field path and asks the policy about it.
func (w *filterWalker) use(path string) error {
	n := NormalizePath(path)
	if !w.paths.add(n) {
		return nil
	}
	if w.readable != nil && !w.readable(n) {
		return apperr.Forbidden("filter uses field %q, which you are not allowed to read", n).
			WithDetails(map[string]any{"field": n})
	}
	return nil
}

func (w *filterWalker) data(v any, where string) error {
	return checkData(v, where, dataRules{filter: true, lim: w.lim}, 0)
}

// filterDoc checks a document in filter position: keys are field paths
// (relative to prefix) or logical operators.
func (w *filterWalker) filterDoc(d bson.D, prefix string) error {
	for _, e := range d {
		if len(e.Key) > 0 && e.Key[0] == '$' {
			if !logicalOperators[e.Key] {
				return operatorError(e.Key, "filter")
			}
			if err := w.logical(e.Key, e.Value, prefix); err != nil {
				return err
			}
			continue
		}
		if err := validatePath(e.Key, "filter", styleField); err != nil {
			return err
		}
		if err := w.fieldCondition(fieldpath.Join(prefix, e.Key), e.Value); err != nil {
			return err
		}
	}
	return nil
}

func (w *filterWalker) logical(op string, v any, prefix string) error {
	arr, ok := asArray(v)
	if !ok {
		return apperr.Invalid("%s must be an array of filter documents, got %s", op, typeName(v))
	}
	if len(arr) == 0 {
		return apperr.Invalid("%s must be a non-empty array of filter documents", op)
	}
	for i, el := range arr {
		d, ok := asDoc(el)
		if !ok {
			return apperr.Invalid("%s element %d must be a filter document, got %s", op, i, typeName(el))
		}
		if err := w.filterDoc(d, prefix); err != nil {
			return err
		}
	}
	return nil
}

// fieldCondition checks the value given for a field path: an operator
// document or a value to compare with.
func (w *filterWalker) fieldCondition(path string, v any) error {
	where := "filter on " + path
	if d, ok := asDoc(v); ok && isOperatorDoc(d) {
		return w.operatorDoc(path, d)
	}
	// Equality (or regex match) with a value. Nested `$` keys are refused
	// by data(), which also catches {a: {x: 1, $gt: 2}} (mixed keys).
	if d, ok := asDoc(v); ok {
		for _, e := range d {
			if len(e.Key) > 0 && e.Key[0] == '$' {
				return apperr.Invalid("%s: cannot mix operators (%s) and field names in one document", where, e.Key)
			}
		}
	}
	if err := w.data(v, where); err != nil {
		return err
	}
	return w.use(path)
}

// operatorDoc checks {op: operand, ...} applied to path.
func (w *filterWalker) operatorDoc(path string, d bson.D) error {
	where := "filter on " + path
	var regex, options any
	hasRegex, hasOptions := false, false
	for _, e := range d {
		op := e.Key
		if len(op) == 0 || op[0] != '$' {
			return apperr.Invalid("%s: cannot mix operators and field names (%q) in one document", where, op)
		}
		if !fieldOperators[op] {
			return operatorError(op, "field")
		}
		opWhere := where + ": " + op
		var err error
		switch op {
		case "$eq", "$ne", "$gt", "$gte", "$lt", "$lte":
			if err = w.data(e.Value, opWhere); err == nil {
				err = w.use(path)
			}
		case "$in", "$nin":
			err = w.inList(path, op, e.Value)
		case "$exists":
			switch e.Value.(type) {
			case bool, int32, int64, int, float64:
				err = w.use(path)
			default:
				err = apperr.Invalid("%s needs true or false, got %s", opWhere, typeName(e.Value))
			}
		case "$type":
			if err = checkTypeOperand(e.Value, opWhere); err == nil {
				err = w.use(path)
			}
		case "$regex":
			hasRegex, regex = true, e.Value
		case "$options":
			hasOptions, options = true, e.Value
		case "$not":
			err = w.not(path, e.Value)
		case "$all":
			err = w.all(path, e.Value)
		case "$elemMatch":
			err = w.elemMatch(path, e.Value)
		case "$size":
			if n, ok := AsInteger(e.Value); !ok || n < 0 {
				err = apperr.Invalid("%s needs a non-negative integer", opWhere)
			} else {
				err = w.use(path)
			}
		case "$mod":
			if err = checkModOperand(e.Value, opWhere); err == nil {
				err = w.use(path)
			}
		}
		if err != nil {
			return err
		}
	}
	if hasOptions && !hasRegex {
		return apperr.Invalid("%s: $options needs $regex", where)
	}
	if hasRegex {
		return w.regexOperator(path, regex, options, hasOptions)
	}
	return nil
}

func (w *filterWalker) regexOperator(path string, regex, options any, hasOptions bool) error {
	where := "filter on " + path + ": $regex"
	var pattern, opts string
	switch r := regex.(type) {
	case string:
		pattern = r
	case bson.Regex:
		pattern, opts = r.Pattern, r.Options
		if hasOptions && opts != "" {
			return apperr.Invalid("%s: options given both in the regular expression and in $options", where)
		}
	default:
		return apperr.Invalid("%s needs a string, got %s", where, typeName(regex))
	}
	if hasOptions {
		s, ok := options.(string)
		if !ok {
			return apperr.Invalid("%s: $options needs a string, got %s", where, typeName(options))
		}
		opts = s
	}
	if err := checkRegex(pattern, opts, where, w.lim); err != nil {
		return err
	}
	return w.use(path)
}

func (w *filterWalker) inList(path, op string, v any) error {
	where := "filter on " + path + ": " + op
	arr, ok := asArray(v)
	if !ok {
		return apperr.Invalid("%s needs an array, got %s", where, typeName(v))
	}
	if len(arr) > w.lim.MaxInItems {
		return apperr.New(apperr.KindTooLarge, "%s has %d items, over the limit of %d", where, len(arr), w.lim.MaxInItems)
	}
	for _, el := range arr {
		if err := w.data(el, where); err != nil {
			return err
		}
	}
	return w.use(path)
}

// not accepts what the server accepts: an operator document or a regex.
func (w *filterWalker) not(path string, v any) error {
	where := "filter on " + path + ": $not"
	switch t := v.(type) {
	case bson.Regex:
		if err := checkRegex(t.Pattern, t.Options, where, w.lim); err != nil {
			return err
		}
		return w.use(path)
	}
	d, ok := asDoc(v)
	if !ok || len(d) == 0 {
		return apperr.Invalid("%s needs a non-empty operator document or a regular expression", where)
	}
	if !isOperatorDoc(d) {
		return apperr.Invalid("%s needs an operator document such as {\"$gt\": 1}, not field %q", where, d[0].Key)
	}
	return w.operatorDoc(path, d)
}

func (w *filterWalker) all(path string, v any) error {
	where := "filter on " + path + ": $all"
	arr, ok := asArray(v)
	if !ok {
		return apperr.Invalid("%s needs an array, got %s", where, typeName(v))
	}
	if len(arr) > w.lim.MaxInItems {
		return apperr.New(apperr.KindTooLarge, "%s has %d items, over the limit of %d", where, len(arr), w.lim.MaxInItems)
	}
	plain := len(arr) == 0
	for _, el := range arr {
		if d, ok := asDoc(el); ok && isOperatorDoc(d) {
			if len(d) != 1 || d[0].Key != "$elemMatch" {
				return apperr.Invalid("%s: array elements may be values or {\"$elemMatch\": ...} documents only", where)
			}
			if err := w.elemMatch(path, d[0].Value); err != nil {
				return err
			}
			continue
		}
		plain = true
		if err := w.data(el, where); err != nil {
			return err
		}
	}
	if plain {
		return w.use(path)
	}
	return nil
}

// elemMatch follows the server's reading: a document whose first key is a
// non-logical operator applies to the array elements themselves
// ({$gte: 80}); anything else is a filter on the element documents, whose
// paths are relative to the array field. In the second form the array field
// itself is not compared, so only the inner paths are checked: a hidden
// items.secret must not block a query on items.sku.
func (w *filterWalker) elemMatch(path string, v any) error {
	d, ok := asDoc(v)
	if !ok {
		return apperr.Invalid("filter on %s: $elemMatch needs a document, got %s", path, typeName(v))
	}
	if len(d) == 0 {
		return w.use(path)
	}
	if isOperatorDoc(d) && !logicalOperators[d[0].Key] {
		if _, refused := refusedOperators[d[0].Key]; !refused {
			return w.operatorDoc(path, d)
		}
	}
	return w.filterDoc(d, path)
}

func checkTypeOperand(v any, where string) error {
	if arr, ok := asArray(v); ok {
		if len(arr) == 0 {
			return apperr.Invalid("%s needs at least one type", where)
		}
		for _, el := range arr {
			if _, isArr := asArray(el); isArr {
				return apperr.Invalid("%s: nested arrays are not allowed", where)
			}
			if err := checkTypeOperand(el, where); err != nil {
				return err
			}
		}
		return nil
	}
	if s, ok := v.(string); ok {
		if !bsonTypeAliases[s] {
			return apperr.Invalid("%s: unknown type name %q", where, s)
		}
		return nil
	}
	if n, ok := AsInteger(v); ok {
		if (n >= 1 && n <= 19) || n == -1 || n == 127 {
			return nil
		}
		return apperr.Invalid("%s: unknown type number %d", where, n)
	}
	return apperr.Invalid("%s needs a type name or number, got %s", where, typeName(v))
}

func checkModOperand(v any, where string) error {
	arr, ok := asArray(v)
	if !ok || len(arr) != 2 {
		return apperr.Invalid("%s needs an array [divisor, remainder]", where)
	}
	for _, el := range arr {
		if !isFiniteNumber(el) {
			return apperr.Invalid("%s needs finite numbers, got %s", where, typeName(el))
		}
	}
	if n, ok := AsInteger(arr[0]); ok && n == 0 {
		return apperr.Invalid("%s: divisor must not be 0", where)
	}
	return nil
}

// typeName names a value's type in client terms.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int, int32, int64, float32, float64, bson.Decimal128:
		return "a number"
	case bson.Regex:
		return "a regular expression"
	}
	switch kind, _, _ := classify(v); kind {
	case kindDoc:
		return "a document"
	case kindArray:
		return "an array"
	case kindUnsupported:
		return "an unsupported value"
	}
	return "a scalar value"
}
