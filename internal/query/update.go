package query

import (
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/fieldpath"
)

// Update is a validated update document.
type Update struct {
	// Doc is the operator update to send to the server (a merge patch has
	// been turned into $set).
	Doc bson.D
	// Paths lists every field path the update writes, normalised (see
	// NormalizePath), in order of first appearance: the target of every
	// operator, both names of a $rename, and every sub-path of a document
	// or array value written by $set/$min/$max/$push/$addToSet, so a
	// callback that only knows exact denied paths still sees them.
	Paths []string
	// ReadPaths lists the paths the update reads to decide what to write:
	// conditions of $pull, the keys of $push's $sort, the sources of $rename
	// and the targets of value-dependent operators ($inc, $addToSet, ...). They leak data the
	// same way a filter does, so callers must check them with the readable
	// callback used for filters.
	ReadPaths []string
	// Targets lists the path of every operator target as the client wrote
	// it, indexes and positional segments included. NormalizePath maps
	// "f.0" and "f" to the same field, but only the first writes inside f's
	// value: checks of what a write reaches into (fieldpath.Parents) need
	// the written form.
	Targets []string
	// unsendable is a refusal that depends on nothing stored but that the
	// caller reports only after the access checks (see Unsendable).
	unsendable error
}

// Unsendable returns a 400 for an update that is well-formed but that a
// backend would answer with an internal error or a dropped connection
// instead of a client error (so it is never sent), or nil. Callers check it
// after their access checks, so that a write the policy refuses answers 403
// whatever else is wrong with it.
func (u Update) Unsendable() error { return u.unsendable }

// refusedUpdateOperators explain the operators that exist but are refused.
var refusedUpdateOperators = map[string]string{
	"$setOnInsert": "upserts are disabled, so $setOnInsert can never apply",
	// $bit is rarely needed and would be one more operand grammar to get
	// right; refusing it keeps the allowlist small.
	"$bit": "bitwise updates are not supported",
}

// ParseUpdate validates a PATCH body.
//
// A body without `$` keys is a merge patch: its top-level keys (dotted
// paths allowed) become one $set. Null values are stored as null, not
// removed; use $unset to remove a field. A body with only `$` keys is an
// operator update. Mixing both, an empty body, an unknown or refused
// operator, writing _id, or a `$`-prefixed or dotted key inside a value is
// a 400. The server-side upsert switch is not the caller's: nothing here
// produces an upsert.
func ParseUpdate(body bson.D) (Update, error) {
	if len(body) == 0 {
		return Update{}, apperr.Invalid("update is empty")
	}
	ops := 0
	for _, e := range body {
		if strings.HasPrefix(e.Key, "$") {
			ops++
		}
	}
	if ops != 0 && ops != len(body) {
		return Update{}, apperr.Invalid("update mixes operators ($set, ...) and plain fields; send either a partial document or operators")
	}
	p := &updateParser{}
	if ops == 0 {
		if err := p.fields("merge patch", body, p.set); err != nil {
			return Update{}, err
		}
		return p.result(bson.D{{Key: "$set", Value: body}}), nil
	}
	for _, e := range body {
		if err := p.operator(e.Key, e.Value); err != nil {
			return Update{}, err
		}
	}
	return p.result(body), nil
}

// ParseUpdateJSON parses and validates an update given as Extended JSON.
// A top-level array is a pipeline-style update, which is refused: its
// aggregation expressions can compute any field from any other, which field
// rules cannot follow.
func ParseUpdateJSON(data []byte) (Update, error) {
	if t := firstNonSpace(data); t == '[' {
		return Update{}, errPipelineUpdate()
	}
	d, err := ParseJSONDoc(data)
	if err != nil {
		return Update{}, err
	}
	return ParseUpdate(d)
}

// ParseUpdateValue validates an update found inside a larger body, such as
// the "update" member of a batch request.
func ParseUpdateValue(v any) (Update, error) {
	if _, ok := asArray(v); ok {
		return Update{}, errPipelineUpdate()
	}
	d, ok := asDoc(v)
	if !ok {
		return Update{}, apperr.Invalid("update must be a document, got %s", typeName(v))
	}
	return ParseUpdate(d)
}

func errPipelineUpdate() error {
	return apperr.Invalid("pipeline-style updates are not supported; send a partial document or update operators")
}

func firstNonSpace(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c
	}
	return 0
}

type updateParser struct {
	paths, reads pathSet
	targets      []string
	unsendable   error
	// raw maps each target path as written, and prefixes maps each proper
	// prefix of one, to that path: conflicts the server would reject ("a"
	// and "a.b" in one update) are found in time linear in the path length.
	raw, prefixes map[string]string
}

func (p *updateParser) result(doc bson.D) Update {
	return Update{Doc: doc, Paths: nonNil(p.paths.list), ReadPaths: nonNil(p.reads.list),
		Targets: nonNil(p.targets), unsendable: p.unsendable}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// target validates and records one written path.
func (p *updateParser) target(op, path string) error {
	if err := validatePath(path, op, styleUpdate); err != nil {
		return err
	}
	n := NormalizePath(path)
	if n == "_id" || strings.HasPrefix(n, "_id.") {
		return apperr.Invalid("%s: _id cannot be modified", op)
	}
	if err := p.conflict(op, path); err != nil {
		return err
	}
	p.paths.add(n)
	p.targets = append(p.targets, path)
	if p.unsendable == nil {
		p.unsendable = checkIndexes(path)
	}
	return nil
}

// MaxUpdateIndex is the largest array index an update path may name. A
// write at index N of a shorter array pads it with nulls up to N; MongoDB
// and DocumentDB refuse to pad more than 1,500,000 elements (DocumentDB with
// code 318767133, which is not a client-error code elsewhere) and FerretDB
// v1 answers larger indexes with InternalError. Past it the request is the
// client's mistake on every engine, so it is refused before sending.
const MaxUpdateIndex = 1_500_000

// checkIndexes refuses an index segment (after the first segment) over
// MaxUpdateIndex.
func checkIndexes(path string) error {
	segs := strings.Split(path, ".")
	for _, s := range segs[1:] {
		if !fieldpath.IsIndex(s) {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n > MaxUpdateIndex {
			return apperr.Invalid("update path %q: array index %s is over the limit of %d", path, s, MaxUpdateIndex).
				WithDetails(map[string]any{"max_index": MaxUpdateIndex})
		}
	}
	return nil
}

// conflict refuses a path equal to, inside or above one already written;
// the server would reject the update with a less helpful message.
func (p *updateParser) conflict(op, path string) error {
	if p.raw == nil {
		p.raw, p.prefixes = map[string]string{}, map[string]string{}
	}
	if q, ok := p.raw[path]; ok {
		return apperr.Invalid("%s: path %q is written twice in one update", op, q)
	}
	if q, ok := p.prefixes[path]; ok {
		return apperr.Invalid("%s: paths %q and %q conflict in one update", op, path, q)
	}
	for i := len(path) - 1; i > 0; i-- {
		if path[i] != '.' {
			continue
		}
		if q, ok := p.raw[path[:i]]; ok {
			return apperr.Invalid("%s: paths %q and %q conflict in one update", op, q, path)
		}
	}
	p.raw[path] = path
	for i := len(path) - 1; i > 0; i-- {
		if path[i] == '.' {
			p.prefixes[path[:i]] = path
		}
	}
	return nil
}

// valuePaths records every sub-path of a written document or array value.
func (p *updateParser) valuePaths(prefix string, v any, depth int) {
	if depth > maxValueDepth {
		return // checkData has already refused such values
	}
	kind, d, a := classify(v)
	switch kind {
	case kindDoc:
		for _, e := range d {
			sub := NormalizePath(prefix + "." + e.Key)
			p.paths.add(sub)
			p.valuePaths(sub, e.Value, depth+1)
		}
	case kindArray:
		for _, el := range a {
			p.valuePaths(prefix, el, depth+1)
		}
	}
}

// fields runs fn for each (path, value) of an operator's document.
func (p *updateParser) fields(op string, v any, fn func(op, path string, v any) error) error {
	d, ok := asDoc(v)
	if !ok {
		return apperr.Invalid("%s needs a document of field paths, got %s", op, typeName(v))
	}
	if len(d) == 0 {
		return apperr.Invalid("%s is empty", op)
	}
	for _, e := range d {
		if err := fn(op, e.Key, e.Value); err != nil {
			return err
		}
	}
	return nil
}

func (p *updateParser) operator(op string, v any) error {
	var handle func(op, path string, v any) error
	switch op {
	case "$set", "$min", "$max":
		handle = p.set
	case "$unset":
		handle = p.unset
	case "$inc", "$mul":
		handle = p.arith
	case "$rename":
		handle = p.rename
	case "$push", "$addToSet":
		handle = p.push
	case "$pull":
		handle = p.pull
	case "$pullAll":
		handle = p.pullAll
	case "$pop":
		handle = p.pop
	case "$currentDate":
		handle = p.currentDate
	default:
		if reason, ok := refusedUpdateOperators[op]; ok {
			return apperr.Invalid("update operator %s is not allowed: %s", op, reason)
		}
		return apperr.Invalid("unknown or unsupported update operator %s", op)
	}
	if valueDependent[op] {
		inner := handle
		handle = func(op, path string, v any) error {
			if err := inner(op, path, v); err != nil {
				return err
			}
			p.reads.add(NormalizePath(path))
			return nil
		}
	}
	return p.fields(op, v, handle)
}

// valueDependent are the operators whose result, or whose success, depends
// on the stored value of their target: $addToSet adds only what is absent,
// $inc fails on a string, $push on a non-array. Their target is read like
// a filter path, or the answer would reveal a hidden or masked value.
// $set, $unset and $currentDate write blindly.
var valueDependent = map[string]bool{
	"$min": true, "$max": true, "$inc": true, "$mul": true, "$push": true,
	"$addToSet": true, "$pull": true, "$pullAll": true, "$pop": true,
}

func (p *updateParser) data(op, path string, v any) error {
	return checkData(v, op+" "+path, dataRules{}, 0)
}

func (p *updateParser) set(op, path string, v any) error {
	if op == "merge patch" {
		// A merge patch names plain paths; positional segments need the
		// explicit operator form.
		if err := validatePath(path, op, styleField); err != nil {
			return err
		}
	}
	if err := p.target(op, path); err != nil {
		return err
	}
	if err := p.data(op, path, v); err != nil {
		return err
	}
	p.valuePaths(NormalizePath(path), v, 0)
	return nil
}

func (p *updateParser) unset(op, path string, v any) error {
	// The server ignores $unset's operand; it is still type-checked so a
	// hostile document cannot hide there.
	if err := p.data(op, path, v); err != nil {
		return err
	}
	return p.target(op, path)
}

func (p *updateParser) arith(op, path string, v any) error {
	if !isNumber(v) {
		return apperr.Invalid("%s %s needs a number, got %s", op, path, typeName(v))
	}
	return p.target(op, path)
}

func (p *updateParser) rename(op, from string, v any) error {
	to, ok := v.(string)
	if !ok {
		return apperr.Invalid("$rename %s needs the new field name as a string, got %s", from, typeName(v))
	}
	for _, s := range []string{from, to} {
		if strings.Contains(s, "$") {
			return apperr.Invalid("$rename: field name %q must not contain '$' (positional renames are not possible)", s)
		}
	}
	if from == to {
		return apperr.Invalid("$rename: %q is renamed to itself", from)
	}
	for _, s := range []string{from, to} {
		// MongoDB and DocumentDB refuse to rename array elements (BadValue)
		// and refuse a target below a scalar (PathNotViable), but FerretDB v1
		// answers both with InternalError, which cannot be told apart from a
		// real failure. An index segment is therefore refused here; the only
		// loss is renaming into a sub-document field named by digits.
		if p.unsendable == nil && NormalizePath(s) != s {
			p.unsendable = apperr.Invalid("$rename: %q addresses an array element; rename whole fields only", s).
				WithDetails(map[string]any{"field": s})
		}
	}
	if err := p.target(op, from); err != nil {
		return err
	}
	// A rename moves the value it reads: renaming a hidden or masked field to
	// a visible name would show it, so the source is read like a filter path.
	p.reads.add(NormalizePath(from))
	return p.target(op, to)
}

// pushModifiers are the keys allowed in {$each: [...], ...} for $push;
// $addToSet only takes $each.
var pushModifiers = map[string]bool{"$each": true, "$slice": true, "$sort": true, "$position": true}

func (p *updateParser) push(op, path string, v any) error {
	if err := p.target(op, path); err != nil {
		return err
	}
	d, ok := asDoc(v)
	if !ok || !isOperatorDoc(d) {
		// A single value to append.
		if err := p.data(op, path, v); err != nil {
			return err
		}
		p.valuePaths(NormalizePath(path), v, 0)
		return nil
	}
	where := op + " " + path
	var each any
	hasEach := false
	for _, e := range d {
		allowed := pushModifiers[e.Key]
		if op == "$addToSet" {
			allowed = e.Key == "$each"
		}
		if !allowed {
			if !strings.HasPrefix(e.Key, "$") {
				return apperr.Invalid("%s: cannot mix modifiers and field names (%q) in one document", where, e.Key)
			}
			return apperr.Invalid("%s: modifier %s is not allowed", where, e.Key)
		}
		switch e.Key {
		case "$each":
			if _, ok := asArray(e.Value); !ok {
				return apperr.Invalid("%s: $each needs an array, got %s", where, typeName(e.Value))
			}
			each, hasEach = e.Value, true
		case "$slice", "$position":
			if _, ok := AsInteger(e.Value); !ok {
				return apperr.Invalid("%s: %s needs an integer", where, e.Key)
			}
		case "$sort":
			if err := p.pushSort(path, where, e.Value); err != nil {
				return err
			}
		}
	}
	if !hasEach {
		return apperr.Invalid("%s: modifiers need $each", where)
	}
	if err := p.data(op, path, each); err != nil {
		return err
	}
	p.valuePaths(NormalizePath(path), each, 0)
	return nil
}

func (p *updateParser) pushSort(path, where string, v any) error {
	if n, ok := AsInteger(v); ok && (n == 1 || n == -1) {
		return nil
	}
	d, ok := asDoc(v)
	if !ok || len(d) == 0 {
		return apperr.Invalid("%s: $sort needs 1, -1 or a document of field: 1|-1", where)
	}
	for _, e := range d {
		if err := validatePath(e.Key, where+": $sort", styleStrict); err != nil {
			return err
		}
		if n, ok := AsInteger(e.Value); !ok || (n != 1 && n != -1) {
			return apperr.Invalid("%s: $sort direction for %q must be 1 or -1", where, e.Key)
		}
		p.reads.add(NormalizePath(path) + "." + NormalizePath(e.Key))
	}
	return nil
}

// pull validates the condition with the filter rules: a document is either
// an operator condition on the elements ({$gte: 6}) or a filter on element
// documents ({price: {$gt: 5}}), exactly like $elemMatch.
func (p *updateParser) pull(op, path string, v any) error {
	if err := p.target(op, path); err != nil {
		return err
	}
	base := NormalizePath(path)
	if d, ok := asDoc(v); ok {
		w := &filterWalker{lim: DefaultLimits}
		if err := checkDepth(d, 1, w.lim.MaxDepth); err != nil {
			return err
		}
		if err := w.elemMatch(base, d); err != nil {
			return err
		}
		for _, r := range w.paths.list {
			p.reads.add(r)
		}
		return nil
	}
	if err := checkData(v, op+" "+path, dataRules{filter: true, lim: DefaultLimits}, 0); err != nil {
		return err
	}
	p.reads.add(base)
	return nil
}

func (p *updateParser) pullAll(op, path string, v any) error {
	if _, ok := asArray(v); !ok {
		return apperr.Invalid("$pullAll %s needs an array, got %s", path, typeName(v))
	}
	if err := p.data(op, path, v); err != nil {
		return err
	}
	return p.target(op, path)
}

func (p *updateParser) pop(op, path string, v any) error {
	if n, ok := AsInteger(v); !ok || (n != 1 && n != -1) {
		return apperr.Invalid("$pop %s needs 1 or -1", path)
	}
	return p.target(op, path)
}

func (p *updateParser) currentDate(op, path string, v any) error {
	switch t := v.(type) {
	case bool:
	default:
		d, ok := asDoc(t)
		if !ok || len(d) != 1 || d[0].Key != "$type" || (d[0].Value != "date" && d[0].Value != "timestamp") {
			return apperr.Invalid("$currentDate %s needs true or {\"$type\": \"date\"|\"timestamp\"}", path)
		}
	}
	return p.target(op, path)
}

// CheckWritable returns a 403 naming the first path writable refuses. The
// callback must also refuse a parent of a denied field: $set of "profile"
// replaces "profile.salary" too.
func CheckWritable(paths []string, writable func(path string) bool) error {
	if writable == nil {
		return apperr.New(apperr.KindInternal, "query.CheckWritable called without a writable callback")
	}
	for _, p := range paths {
		if !writable(p) {
			return apperr.Forbidden("field %q is not writable", p).WithDetails(map[string]any{"field": p})
		}
	}
	return nil
}

// ReplacementPaths lists every intermediate and leaf path of a full
// document (for create and PUT), normalised: array elements contribute
// their fields under the array's path, without indexes. Order is first
// appearance; duplicates are removed.
func ReplacementPaths(doc bson.D) []string {
	p := &updateParser{}
	for _, e := range doc {
		k := NormalizePath(e.Key)
		p.paths.add(k)
		p.valuePaths(k, e.Value, 0)
	}
	return nonNil(p.paths.list)
}

// CheckDocument validates a full document for create or PUT: no empty,
// `$`-prefixed or dotted field names at any depth (see checkData for why),
// and only value types the checks understand. _id is allowed: the server
// keeps it on replace and the caller decides about it on create.
func CheckDocument(doc bson.D) error {
	for _, e := range doc {
		if err := checkDataKey(e.Key, "document"); err != nil {
			return err
		}
		if err := checkData(e.Value, "document field "+e.Key, dataRules{}, 1); err != nil {
			return err
		}
	}
	return nil
}
