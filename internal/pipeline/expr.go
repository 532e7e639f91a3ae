package pipeline

import (
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/fieldpath"
	"github.com/permission-mongo/permission-mongo/internal/query"
)

// refusedOperators exist on the server but are refused, with the reason
// given to the client. Anything neither allowed nor listed is refused as
// unknown; this list only makes the messages better.
var refusedOperators = map[string]string{
	"$function":    "server-side JavaScript is not allowed",
	"$accumulator": "server-side JavaScript is not allowed",
	"$where":       "server-side JavaScript is not allowed",
	"$meta":        "text search metadata is not supported",
}

// exprOperators are the aggregation expression operators a client may use.
// Every one of them only computes from its arguments: none reads another
// collection, runs code or reveals server state.
var exprOperators = setOf(
	// arithmetic
	"$abs", "$add", "$ceil", "$divide", "$exp", "$floor", "$ln", "$log", "$log10",
	"$mod", "$multiply", "$pow", "$round", "$sqrt", "$subtract", "$trunc",
	// trigonometry
	"$sin", "$cos", "$tan", "$asin", "$acos", "$atan", "$atan2", "$asinh", "$acosh",
	"$atanh", "$sinh", "$cosh", "$tanh", "$degreesToRadians", "$radiansToDegrees",
	// comparison and boolean
	"$cmp", "$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$and", "$or", "$not",
	// conditional
	"$cond", "$ifNull", "$switch",
	// string
	"$concat", "$indexOfBytes", "$indexOfCP", "$ltrim", "$rtrim", "$trim", "$split",
	"$strLenBytes", "$strLenCP", "$strcasecmp", "$substr", "$substrBytes", "$substrCP",
	"$toLower", "$toUpper", "$regexFind", "$regexFindAll", "$regexMatch",
	"$replaceOne", "$replaceAll",
	// array
	"$arrayElemAt", "$arrayToObject", "$concatArrays", "$filter", "$first", "$last",
	"$in", "$indexOfArray", "$isArray", "$map", "$objectToArray", "$range", "$reduce",
	"$reverseArray", "$size", "$slice", "$zip", "$sortArray",
	// sets
	"$setDifference", "$setEquals", "$setIntersection", "$setIsSubset", "$setUnion",
	"$allElementsTrue", "$anyElementTrue",
	// dates
	"$dateAdd", "$dateDiff", "$dateFromParts", "$dateFromString", "$dateSubtract",
	"$dateToParts", "$dateToString", "$dateTrunc", "$dayOfMonth", "$dayOfWeek",
	"$dayOfYear", "$hour", "$isoDayOfWeek", "$isoWeek", "$isoWeekYear", "$millisecond",
	"$minute", "$month", "$second", "$week", "$year",
	// types
	"$convert", "$isNumber", "$toBool", "$toDate", "$toDecimal", "$toDouble", "$toInt",
	"$toLong", "$toObjectId", "$toString", "$type",
	// objects and variables
	"$getField", "$setField", "$unsetField", "$mergeObjects", "$let", "$literal",
	// accumulators usable as expressions (on arrays)
	"$sum", "$avg", "$min", "$max", "$stdDevPop", "$stdDevSamp",
)

// accumulators are the operators allowed as a $group (or $bucket output)
// field's value.
var accumulators = setOf(
	"$sum", "$avg", "$min", "$max", "$first", "$last", "$push", "$addToSet",
	"$count", "$mergeObjects", "$stdDevPop", "$stdDevSamp",
)

// systemVariables a client may reference. $$ROOT and $$CURRENT are the
// (stripped) document; the others carry no data. Anything else upper-case
// ($$USER_ROLES: the proxy's own database roles, $$SEARCH_META, ...) is
// refused; lower-case names are the client's own variables ($let, $map,
// $filter, $reduce, $lookup let), which only hold checked values.
var systemVariables = setOf("ROOT", "CURRENT", "REMOVE", "NOW", "CLUSTER_TIME")

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

func operatorError(op, where string) error {
	if reason, ok := refusedOperators[op]; ok {
		return apperr.Invalid("%s: operator %s is not allowed: %s", where, op, reason).
			WithDetails(map[string]any{"operator": op})
	}
	return apperr.Invalid("%s: unknown or unsupported operator %s", where, op).
		WithDetails(map[string]any{"operator": op})
}

// expr checks an aggregation expression: operators against the allowlist,
// every field path against sc, at any depth.
func (w *walker) expr(v any, sc *scope, where string, depth int) error {
	if depth > w.lim.MaxExprDepth {
		return tooDeep(w.lim.MaxExprDepth)
	}
	switch x := v.(type) {
	case string:
		return w.stringExpr(x, sc, where)
	case bson.D:
		if len(x) == 0 {
			return nil
		}
		if strings.HasPrefix(x[0].Key, "$") {
			if len(x) != 1 {
				return apperr.Invalid("%s: an expression object with operator %s must have exactly one key", where, x[0].Key)
			}
			return w.operator(x[0].Key, x[0].Value, sc, where, depth)
		}
		// An object literal: keys are new field names, values expressions.
		for _, e := range x {
			if err := checkFieldName(e.Key, where); err != nil {
				return err
			}
			if err := w.expr(e.Value, sc, where, depth+1); err != nil {
				return err
			}
		}
		return nil
	case bson.A:
		for _, el := range x {
			if err := w.expr(el, sc, where, depth+1); err != nil {
				return err
			}
		}
		return nil
	case bson.JavaScript, bson.CodeWithScope:
		return apperr.Invalid("%s: JavaScript values are not allowed", where)
	}
	return nil // any other scalar is a constant
}

// stringExpr: "$a.b" is a field path, "$$v.a" a variable, anything else a
// constant.
func (w *walker) stringExpr(s string, sc *scope, where string) error {
	if !strings.HasPrefix(s, "$") {
		return nil
	}
	if strings.HasPrefix(s, "$$") {
		name, rest, _ := strings.Cut(s[2:], ".")
		if name == "" {
			return apperr.Invalid("%s: empty variable name in %q", where, s)
		}
		if c := name[0]; c >= 'A' && c <= 'Z' || c == '_' {
			if !systemVariables[name] {
				return apperr.Invalid("%s: system variable $$%s is not allowed", where, name).
					WithDetails(map[string]any{"variable": "$$" + name})
			}
		}
		if (name == "ROOT" || name == "CURRENT") && rest != "" {
			return sc.use(rest, where)
		}
		if rest != "" {
			return checkPath(rest, where)
		}
		return nil
	}
	return sc.use(s[1:], where)
}

func (w *walker) operator(op string, arg any, sc *scope, where string, depth int) error {
	if !exprOperators[op] {
		return operatorError(op, where)
	}
	switch op {
	case "$literal":
		// A constant, whatever it contains: {$literal: "$ssn"} is the
		// string "$ssn", {$literal: {$function: ...}} a document. Nothing
		// inside is evaluated, so nothing inside is checked.
		return nil
	case "$getField":
		return w.getField(arg, sc, where, depth)
	case "$regexMatch", "$regexFind", "$regexFindAll":
		if err := w.regexLength(arg, where); err != nil {
			return err
		}
	}
	return w.expr(arg, sc, where, depth+1)
}

// regexLength bounds a constant pattern of the regex operators the same way
// query filters are bounded: a long pattern costs the server, not us.
func (w *walker) regexLength(arg any, where string) error {
	d, ok := arg.(bson.D)
	if !ok {
		return nil
	}
	re, _ := get(d, "regex")
	n := 0
	switch x := re.(type) {
	case string:
		n = len(x)
	case bson.Regex:
		n = len(x.Pattern)
	}
	max := w.lim.Filter.MaxRegexLength
	if max <= 0 {
		max = query.DefaultLimits.MaxRegexLength
	}
	if n > max {
		return apperr.New(apperr.KindTooLarge, "%s: regular expression is %d bytes, over the limit of %d", where, n, max)
	}
	return nil
}

// getField checks $getField: a literal field name read from the current
// document is a path like any other. A computed name cannot be checked, and
// need not be: the strip stage has already removed or masked everything the
// caller may not read.
func (w *walker) getField(arg any, sc *scope, where string, depth int) error {
	var field, input any
	hasInput := false
	if d, ok := arg.(bson.D); ok && len(d) > 0 && !strings.HasPrefix(d[0].Key, "$") {
		for _, e := range d {
			switch e.Key {
			case "field":
				field = e.Value
			case "input":
				input, hasInput = e.Value, true
			default:
				return apperr.Invalid("%s: $getField: unknown argument %q", where, e.Key)
			}
		}
		if field == nil {
			return apperr.Invalid("%s: $getField requires a field", where)
		}
	} else {
		field = arg
	}
	name, literal := literalName(field)
	if !literal {
		if err := w.expr(field, sc, where, depth+1); err != nil {
			return err
		}
	}
	if hasInput {
		if err := w.expr(input, sc, where, depth+1); err != nil {
			return err
		}
	}
	if !literal {
		return nil
	}
	base := ""
	if hasInput {
		s, ok := input.(string)
		switch {
		case ok && (s == "$$ROOT" || s == "$$CURRENT"):
		case ok && strings.HasPrefix(s, "$$ROOT."):
			base = s[len("$$ROOT."):]
		case ok && strings.HasPrefix(s, "$$CURRENT."):
			base = s[len("$$CURRENT."):]
		case ok && strings.HasPrefix(s, "$") && !strings.HasPrefix(s, "$$"):
			base = s[1:]
		default:
			return nil // a computed document: its values were checked above
		}
	}
	if base != "" {
		name = base + "." + name
	}
	return sc.useName(name, where)
}

// literalName returns the field name of a $getField when it is a constant.
func literalName(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		if !strings.HasPrefix(x, "$") {
			return x, true
		}
	case bson.D:
		if len(x) == 1 && x[0].Key == "$literal" {
			s, ok := x[0].Value.(string)
			return s, ok
		}
	}
	return "", false
}

// checkPath validates a field path as written after '$'.
func checkPath(p, where string) error {
	if p == "" {
		return apperr.Invalid("%s: empty field path", where)
	}
	if len(p) > 1024 {
		return apperr.Invalid("%s: field path is longer than 1024 bytes", where)
	}
	for _, seg := range strings.Split(p, ".") {
		if seg == "" {
			return apperr.Invalid("%s: field path %q has an empty segment", where, p)
		}
		if strings.HasPrefix(seg, "$") {
			return apperr.Invalid("%s: field path %q has a segment starting with '$'", where, p)
		}
		if strings.ContainsRune(seg, 0) {
			return apperr.Invalid("%s: field path contains a NUL byte", where)
		}
	}
	return nil
}

// checkFieldName validates a new top-level field name (an object literal
// key, a $group output, $count's name): no '$' start, no dot, no NUL.
func checkFieldName(k, where string) error {
	if k == "" || strings.HasPrefix(k, "$") || strings.ContainsAny(k, ".\x00") {
		return apperr.Invalid("%s: %q is not a valid field name", where, k)
	}
	return nil
}

func tooDeep(max int) error {
	return apperr.New(apperr.KindTooLarge, "pipeline stage is nested deeper than %d levels", max)
}

// scope is what a pipeline position knows about the documents flowing
// through it: one branch per source of documents (the collection itself,
// and one more per $unionWith). A path must be acceptable in every branch.
type scope struct {
	branches []*branch
	// inFacet: directly inside a $facet sub-pipeline, where the server
	// refuses another $facet.
	inFacet bool
}

// branch is the state of the documents coming from one collection.
type branch struct {
	// readable is the collection's policy callback.
	readable func(string) bool
	// reshaped: documents were rebuilt by a checked stage; paths are free.
	reshaped bool
	// defined are (normalised) paths created by earlier client stages.
	defined []string
}

func newScope(t *Target) *scope { return &scope{branches: []*branch{{readable: t.readable}}} }

func (s *scope) clone() *scope {
	c := &scope{inFacet: s.inFacet}
	for _, b := range s.branches {
		nb := *b
		nb.defined = append([]string(nil), b.defined...)
		c.branches = append(c.branches, &nb)
	}
	return c
}

// define records a path created by a client stage in every branch.
func (s *scope) define(p string) {
	if p == "" {
		return
	}
	n := fieldpath.Normalize(p)
	for _, b := range s.branches {
		b.defined = append(b.defined, n)
	}
}

// reshape records that every document was rebuilt.
func (s *scope) reshape() {
	for _, b := range s.branches {
		b.reshaped, b.defined = true, nil
	}
}

// ok is the readable callback for paths already normalised.
func (s *scope) ok(p string) bool {
	for _, b := range s.branches {
		if b.reshaped || coveredByAny(b.defined, p) {
			continue
		}
		if !b.readable(p) {
			return false
		}
	}
	return true
}

// use validates and checks a field path.
func (s *scope) use(p, where string) error {
	if err := checkPath(p, where); err != nil {
		return err
	}
	return s.useName(p, where)
}

// useName checks a path without syntax checks ($getField names may contain
// anything).
func (s *scope) useName(p, where string) error {
	n := fieldpath.Normalize(p)
	if !s.ok(n) {
		return apperr.Forbidden("%s uses field %q, which you are not allowed to read", where, n).
			WithDetails(map[string]any{"field": n})
	}
	return nil
}
