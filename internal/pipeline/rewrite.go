package pipeline

import (
	"errors"
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/fieldpath"
	"github.com/permission-mongo/permission-mongo/internal/query"
)

// walker rewrites one request's pipeline tree.
type walker struct {
	acc     Access
	lim     Limits
	targets map[string]*Target
	stages  int
}

// Rewrite returns the pipeline to run on collection coll for a caller whose
// read access acc describes: the policy $match and field stripping of coll,
// then the client's stages, with the same injected at the start of every
// sub-pipeline that reads another collection (see the package comment).
// The input is not modified. The first stage of the result is always the
// policy $match.
func Rewrite(coll string, pipeline bson.A, acc Access, lim Limits) (bson.A, error) {
	if acc == nil {
		return nil, apperr.New(apperr.KindInternal, "pipeline.Rewrite called without Access")
	}
	lim = lim.withDefaults()
	stages, err := normalize(pipeline)
	if err != nil {
		return nil, err
	}
	w := &walker{acc: acc, lim: lim, targets: map[string]*Target{}}
	t, err := w.target(coll, "pipeline")
	if err != nil {
		return nil, err
	}
	client, err := w.pipeline(stages, newScope(t), 0, "pipeline")
	if err != nil {
		return nil, err
	}
	out := append(bson.A(prefix(t)), client...)
	return w.capLimit(out, len(client) > 0), nil
}

// normalize copies the pipeline through BSON, so that every document is a
// bson.D and every array a bson.A whatever Go types the caller used, the
// caller's values are never aliased by the result, and anything the driver
// could not encode is refused here as a 400 rather than later as a 500.
func normalize(p bson.A) (bson.A, error) {
	if p == nil {
		p = bson.A{}
	}
	raw, err := bson.Marshal(bson.D{{Key: "p", Value: p}})
	if err != nil {
		return nil, apperr.Wrap(apperr.KindInvalid, err, "pipeline is not a valid BSON array of stages")
	}
	var d bson.D
	if err := bson.Unmarshal(raw, &d); err != nil || len(d) != 1 {
		return nil, apperr.Wrap(apperr.KindInvalid, err, "pipeline is not a valid BSON array of stages")
	}
	a, ok := d[0].Value.(bson.A)
	if !ok {
		return nil, apperr.Invalid("pipeline must be an array of stages")
	}
	return a, nil
}

// capLimit makes sure the result holds at most MaxLimit documents. A final
// $count returns one document; a final $limit is lowered when above the cap;
// otherwise a $limit is appended (a redundant one costs nothing).
func (w *walker) capLimit(out bson.A, hasClient bool) bson.A {
	if hasClient {
		last := out[len(out)-1].(bson.D)
		switch last[0].Key {
		case "$count":
			return out
		case "$limit":
			if n, _ := query.AsInteger(last[0].Value); n <= w.lim.MaxLimit {
				return out
			}
			out[len(out)-1] = bson.D{{Key: "$limit", Value: w.lim.MaxLimit}}
			return out
		}
	}
	return append(out, bson.D{{Key: "$limit", Value: w.lim.MaxLimit}})
}

// target asks Access about a collection once per request.
func (w *walker) target(coll any, where string) (*Target, error) {
	name, ok := coll.(string)
	if !ok {
		return nil, apperr.Invalid("%s: collection name must be a string", where)
	}
	if name == "" || strings.HasPrefix(name, "$") || strings.ContainsRune(name, 0) {
		return nil, apperr.Invalid("%s: %q is not a valid collection name", where, name)
	}
	if t, ok := w.targets[name]; ok {
		return t, nil
	}
	t, err := w.acc.For(name)
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, apperr.New(apperr.KindInternal, "pipeline: Access returned no target for %q", name)
	}
	w.targets[name] = t
	return t, nil
}

// pipeline checks and rewrites a list of client stages in scope sc.
func (w *walker) pipeline(stages bson.A, sc *scope, depth int, where string) (bson.A, error) {
	out := make(bson.A, 0, len(stages))
	for i, st := range stages {
		loc := fmt.Sprintf("%s[%d]", where, i)
		w.stages++
		if w.stages > w.lim.MaxStages {
			return nil, apperr.New(apperr.KindTooLarge, "pipeline has more than %d stages (sub-pipelines included)", w.lim.MaxStages).
				WithDetails(map[string]any{"limit": w.lim.MaxStages})
		}
		d, ok := st.(bson.D)
		if !ok || len(d) != 1 {
			return nil, apperr.Invalid("%s: a stage must be a document with exactly one key", loc)
		}
		name := d[0].Key
		loc += " " + name
		ns, err := w.stage(name, d[0].Value, sc, depth, loc)
		if err != nil {
			return nil, err
		}
		out = append(out, ns)
	}
	return out, nil
}

func stageError(name, loc string) error {
	if reason := stageByName[name].refused; reason != "" {
		return apperr.Invalid("%s: stage %s is not allowed: %s", loc, name, reason).
			WithDetails(map[string]any{"stage": name})
	}
	return apperr.Invalid("%s: unknown or unsupported stage %s", loc, name).
		WithDetails(map[string]any{"stage": name})
}

// stage checks one stage and returns it as it is to be sent: rebuilt when
// it reads another collection, unchanged otherwise (see stageTable).
func (w *walker) stage(name string, arg any, sc *scope, depth int, loc string) (bson.D, error) {
	def := stageByName[name]
	if def.check == nil {
		return nil, stageError(name, loc)
	}
	return def.check(w, stageCall{name: name, arg: arg, sc: sc, depth: depth, loc: loc})
}

// isRoot: replacing the document with itself changes nothing, so it must
// not switch path checks off.
func isRoot(v any) bool { return v == "$$ROOT" || v == "$$CURRENT" }

// spec returns a stage argument that must be a document with only the
// given keys: a key the server knows but this package does not check could
// change what the stage reads.
func spec(arg any, loc string, keys ...string) (bson.D, error) {
	d, ok := arg.(bson.D)
	if !ok {
		return nil, apperr.Invalid("%s: the stage argument must be a document", loc)
	}
	seen := map[string]bool{}
	for _, e := range d {
		known := false
		for _, k := range keys {
			known = known || e.Key == k
		}
		if !known {
			return nil, apperr.Invalid("%s: unknown argument %q", loc, e.Key)
		}
		if seen[e.Key] {
			return nil, apperr.Invalid("%s: duplicate argument %q", loc, e.Key)
		}
		seen[e.Key] = true
	}
	return d, nil
}

func get(d bson.D, key string) (any, bool) {
	for _, e := range d {
		if e.Key == key {
			return e.Value, true
		}
	}
	return nil, false
}

func checkCount(v any, min int64, loc string) error {
	n, ok := query.AsInteger(v)
	if !ok || n < min {
		return apperr.Invalid("%s: expected an integer of at least %d", loc, min)
	}
	return nil
}

func (w *walker) sample(arg any, loc string) error {
	d, err := spec(arg, loc, "size")
	if err != nil {
		return err
	}
	v, _ := get(d, "size")
	return checkCount(v, 1, loc+" size")
}

// match checks a $match filter: a top-level $expr is an aggregation
// expression (checked here), the rest a query filter (query.CheckFilter,
// which refuses $expr, $where and friends anywhere inside).
func (w *walker) match(arg any, sc *scope, loc string) error {
	d, ok := arg.(bson.D)
	if !ok {
		return apperr.Invalid("%s: $match takes a filter document", loc)
	}
	rest := make(bson.D, 0, len(d))
	for _, e := range d {
		if e.Key == "$expr" {
			if err := w.expr(e.Value, sc, loc+" $expr", 1); err != nil {
				return err
			}
			continue
		}
		rest = append(rest, e)
	}
	return w.filter(rest, sc, loc)
}

// filter runs query.CheckFilter with the scope's readable callback.
func (w *walker) filter(f bson.D, sc *scope, loc string) error {
	err := query.CheckFilter(f, w.lim.Filter, sc.ok)
	if err != nil {
		var ae *apperr.Error
		if errors.As(err, &ae) {
			// Keep the kind and details; say where in the pipeline.
			return &apperr.Error{Kind: ae.Kind, Message: loc + ": " + ae.Message, Details: ae.Details, Cause: ae.Cause}
		}
	}
	return err
}

// truthy reads a projection flag: true/false or a number.
func projectionFlag(v any) (include, isFlag bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case int32:
		return x != 0, true
	case int64:
		return x != 0, true
	case float64:
		return x != 0, true
	}
	return false, false
}

// project checks a $project. Inclusions are paths the client reads;
// computed fields are expressions; exclusions only remove data. Anything
// but a pure exclusion builds new documents.
func (w *walker) project(arg any, sc *scope, loc string) error {
	d, ok := arg.(bson.D)
	if !ok || len(d) == 0 {
		return apperr.Invalid("%s: $project takes a non-empty document", loc)
	}
	builds, err := w.projection(d, "", sc, loc, 1)
	if err != nil {
		return err
	}
	if builds {
		sc.reshape()
	}
	return nil
}

func (w *walker) projection(d bson.D, prefix string, sc *scope, loc string, depth int) (builds bool, err error) {
	if depth > w.lim.MaxExprDepth {
		return false, tooDeep(w.lim.MaxExprDepth)
	}
	for _, e := range d {
		if err := checkPath(e.Key, loc); err != nil {
			return false, err
		}
		p := fieldpath.Join(prefix, e.Key)
		if inc, isFlag := projectionFlag(e.Value); isFlag {
			if inc {
				builds = true
				if err := sc.use(p, loc); err != nil {
					return false, err
				}
			}
			continue
		}
		builds = true
		if sub, ok := e.Value.(bson.D); ok && len(sub) > 0 && !strings.HasPrefix(sub[0].Key, "$") {
			if _, err := w.projection(sub, p, sc, loc, depth+1); err != nil {
				return false, err
			}
			continue
		}
		if err := w.expr(e.Value, sc, loc, depth+1); err != nil {
			return false, err
		}
	}
	return builds, nil
}

// addFields checks $addFields/$set: values are expressions; the new paths
// are the client's own afterwards.
func (w *walker) addFields(arg any, sc *scope, loc string) error {
	d, ok := arg.(bson.D)
	if !ok {
		return apperr.Invalid("%s: the stage takes a document of fields", loc)
	}
	for _, e := range d {
		if err := checkPath(e.Key, loc); err != nil {
			return err
		}
		if err := w.expr(e.Value, sc, loc, 1); err != nil {
			return err
		}
	}
	for _, e := range d {
		sc.define(e.Key)
	}
	return nil
}

// unsetSpec checks $unset: removing a field reveals nothing, so its paths
// are only validated.
func unsetSpec(arg any, loc string) error {
	switch x := arg.(type) {
	case string:
		return checkPath(x, loc)
	case bson.A:
		if len(x) == 0 {
			return apperr.Invalid("%s: $unset needs at least one field", loc)
		}
		for _, el := range x {
			s, ok := el.(string)
			if !ok {
				return apperr.Invalid("%s: $unset takes field names", loc)
			}
			if err := checkPath(s, loc); err != nil {
				return err
			}
		}
		return nil
	}
	return apperr.Invalid("%s: $unset takes a field name or an array of field names", loc)
}

func (w *walker) sort(arg any, sc *scope, loc string) error {
	d, ok := arg.(bson.D)
	if !ok || len(d) == 0 {
		return apperr.Invalid("%s: $sort takes a non-empty document", loc)
	}
	if len(d) > query.MaxSortKeys {
		return apperr.Invalid("%s: $sort has more than %d keys", loc, query.MaxSortKeys)
	}
	for _, e := range d {
		if n, ok := query.AsInteger(e.Value); !ok || (n != 1 && n != -1) {
			if sub, isDoc := e.Value.(bson.D); isDoc && len(sub) > 0 {
				return operatorError(sub[0].Key, loc)
			}
			return apperr.Invalid("%s: sort direction of %q must be 1 or -1", loc, e.Key)
		}
		if err := sc.use(e.Key, loc); err != nil {
			return err
		}
	}
	return nil
}

// group checks $group: _id is an expression, every other field one
// accumulator.
func (w *walker) group(arg any, sc *scope, loc string) error {
	d, ok := arg.(bson.D)
	if !ok {
		return apperr.Invalid("%s: $group takes a document", loc)
	}
	id, has := get(d, "_id")
	if !has {
		return apperr.Invalid("%s: $group requires an _id", loc)
	}
	if err := w.expr(id, sc, loc+" _id", 1); err != nil {
		return err
	}
	for _, e := range d {
		if e.Key == "_id" {
			continue
		}
		if err := w.accumulator(e, sc, loc); err != nil {
			return err
		}
	}
	sc.reshape()
	return nil
}

// accumulator checks one output field of $group/$bucket/$bucketAuto.
func (w *walker) accumulator(e bson.E, sc *scope, loc string) error {
	if err := checkFieldName(e.Key, loc); err != nil {
		return err
	}
	acc, ok := e.Value.(bson.D)
	if !ok || len(acc) != 1 || !strings.HasPrefix(acc[0].Key, "$") {
		return apperr.Invalid("%s: field %q must be an accumulator object such as {\"$sum\": 1}", loc, e.Key)
	}
	op := acc[0].Key
	if !accumulators[op] {
		if _, refused := refusedOperators[op]; refused {
			return operatorError(op, loc)
		}
		return apperr.Invalid("%s: unknown or unsupported accumulator %s", loc, op).
			WithDetails(map[string]any{"operator": op})
	}
	if op == "$count" {
		if d, ok := acc[0].Value.(bson.D); !ok || len(d) != 0 {
			return apperr.Invalid("%s: $count accumulator takes {}", loc)
		}
		return nil
	}
	return w.expr(acc[0].Value, sc, loc+" "+e.Key, 2)
}

func (w *walker) unwind(arg any, sc *scope, loc string) error {
	path := arg
	if d, ok := arg.(bson.D); ok {
		if _, err := spec(d, loc, "path", "includeArrayIndex", "preserveNullAndEmptyArrays"); err != nil {
			return err
		}
		path, _ = get(d, "path")
		if v, has := get(d, "preserveNullAndEmptyArrays"); has {
			if _, ok := v.(bool); !ok {
				return apperr.Invalid("%s: preserveNullAndEmptyArrays must be a boolean", loc)
			}
		}
		if v, has := get(d, "includeArrayIndex"); has {
			s, ok := v.(string)
			if !ok {
				return apperr.Invalid("%s: includeArrayIndex must be a field name", loc)
			}
			if err := checkPath(s, loc); err != nil {
				return err
			}
			defer sc.define(s)
		}
	}
	s, ok := path.(string)
	if !ok || !strings.HasPrefix(s, "$") || strings.HasPrefix(s, "$$") {
		return apperr.Invalid("%s: $unwind path must be a field path such as \"$items\"", loc)
	}
	return sc.use(s[1:], loc)
}

func (w *walker) bucket(name string, arg any, sc *scope, loc string) error {
	keys := []string{"groupBy", "boundaries", "default", "output"}
	if name == "$bucketAuto" {
		keys = []string{"groupBy", "buckets", "output", "granularity"}
	}
	d, err := spec(arg, loc, keys...)
	if err != nil {
		return err
	}
	gb, has := get(d, "groupBy")
	if !has {
		return apperr.Invalid("%s: %s requires groupBy", loc, name)
	}
	if err := w.expr(gb, sc, loc+" groupBy", 1); err != nil {
		return err
	}
	for _, k := range []string{"boundaries", "default"} {
		if v, has := get(d, k); has {
			if err := w.expr(v, sc, loc+" "+k, 1); err != nil {
				return err
			}
		}
	}
	if name == "$bucketAuto" {
		v, _ := get(d, "buckets")
		if err := checkCount(v, 1, loc+" buckets"); err != nil {
			return err
		}
		if g, has := get(d, "granularity"); has {
			if _, ok := g.(string); !ok {
				return apperr.Invalid("%s: granularity must be a string", loc)
			}
		}
	}
	if out, has := get(d, "output"); has {
		od, ok := out.(bson.D)
		if !ok {
			return apperr.Invalid("%s: output must be a document of accumulators", loc)
		}
		for _, e := range od {
			if err := w.accumulator(e, sc, loc+" output"); err != nil {
				return err
			}
		}
	}
	sc.reshape()
	return nil
}

// nest checks the sub-pipeline depth limit.
func (w *walker) nest(depth int) error {
	if depth+1 > w.lim.MaxDepth {
		return apperr.New(apperr.KindTooLarge, "sub-pipelines are nested deeper than %d levels", w.lim.MaxDepth).
			WithDetails(map[string]any{"limit": w.lim.MaxDepth})
	}
	return nil
}

// facet checks each sub-pipeline against the current documents, which are
// already filtered and stripped: nothing is injected. The output is one new
// document.
func (w *walker) facet(arg any, sc *scope, depth int, loc string) (bson.D, error) {
	if sc.inFacet {
		return nil, apperr.Invalid("%s: $facet cannot be used inside $facet", loc)
	}
	d, ok := arg.(bson.D)
	if !ok || len(d) == 0 {
		return nil, apperr.Invalid("%s: $facet takes a document of named sub-pipelines", loc)
	}
	if err := w.nest(depth); err != nil {
		return nil, err
	}
	out := bson.D{}
	for _, e := range d {
		if err := checkFieldName(e.Key, loc); err != nil {
			return nil, err
		}
		arr, ok := e.Value.(bson.A)
		if !ok {
			return nil, apperr.Invalid("%s: facet %q must be an array of stages", loc, e.Key)
		}
		sub := sc.clone()
		sub.inFacet = true
		p, err := w.pipeline(arr, sub, depth+1, loc+"."+e.Key)
		if err != nil {
			return nil, err
		}
		out = append(out, bson.E{Key: e.Key, Value: p})
	}
	sc.reshape()
	return bson.D{{Key: "$facet", Value: out}}, nil
}

// subPipeline rewrites a pipeline that reads target t: its own policy
// $match and stripping first. It returns the scope at its end.
func (w *walker) subPipeline(t *Target, stages any, depth int, loc string) (bson.A, *scope, error) {
	sc := newScope(t)
	var arr bson.A
	if stages != nil {
		var ok bool
		if arr, ok = stages.(bson.A); !ok {
			return nil, nil, apperr.Invalid("%s: pipeline must be an array of stages", loc)
		}
	}
	p, err := w.pipeline(arr, sc, depth+1, loc)
	if err != nil {
		return nil, nil, err
	}
	return append(bson.A(prefix(t)), p...), sc, nil
}

// lookup rewrites $lookup. Both forms get a pipeline starting with the
// target's policy; localField/foreignField are kept alongside it (MongoDB
// 5.0+), because turning them into $expr would change how arrays match.
func (w *walker) lookup(arg any, sc *scope, depth int, loc string) (bson.D, error) {
	d, err := spec(arg, loc, "from", "localField", "foreignField", "let", "pipeline", "as")
	if err != nil {
		return nil, err
	}
	from, _ := get(d, "from")
	as, hasAs := get(d, "as")
	local, hasLocal := get(d, "localField")
	foreign, hasForeign := get(d, "foreignField")
	let, hasLet := get(d, "let")
	pipe, hasPipe := get(d, "pipeline")
	asName, ok := as.(string)
	if !hasAs || !ok {
		return nil, apperr.Invalid("%s: $lookup requires as (a field name)", loc)
	}
	if err := checkPath(asName, loc+" as"); err != nil {
		return nil, err
	}
	if hasLocal != hasForeign {
		return nil, apperr.Invalid("%s: $lookup needs both localField and foreignField, or neither", loc)
	}
	if !hasLocal && !hasPipe {
		return nil, apperr.Invalid("%s: $lookup needs localField/foreignField or a pipeline", loc)
	}
	if hasLet && !hasPipe {
		return nil, apperr.Invalid("%s: $lookup let requires a pipeline", loc)
	}
	if err := w.nest(depth); err != nil {
		return nil, err
	}
	t, err := w.target(from, loc+" from")
	if err != nil {
		return nil, err
	}
	out := bson.D{{Key: "from", Value: from}}
	if hasLocal {
		ls, ok1 := local.(string)
		fs, ok2 := foreign.(string)
		if !ok1 || !ok2 {
			return nil, apperr.Invalid("%s: localField and foreignField must be field names", loc)
		}
		if err := sc.use(ls, loc+" localField"); err != nil {
			return nil, err
		}
		// The equality join runs on the target's documents before any
		// pipeline stage: foreignField is a filter on that collection.
		if err := newScope(t).use(fs, loc+" foreignField"); err != nil {
			return nil, err
		}
		out = append(out, bson.E{Key: "localField", Value: ls}, bson.E{Key: "foreignField", Value: fs})
	}
	if hasLet {
		ld, ok := let.(bson.D)
		if !ok {
			return nil, apperr.Invalid("%s: let must be a document of variables", loc)
		}
		for _, e := range ld {
			if err := checkVarName(e.Key, loc); err != nil {
				return nil, err
			}
			if err := w.expr(e.Value, sc, loc+" let", 1); err != nil {
				return nil, err
			}
		}
		out = append(out, bson.E{Key: "let", Value: ld})
	}
	p, _, err := w.subPipeline(t, pipe, depth, loc+".pipeline")
	if err != nil {
		return nil, err
	}
	out = append(out, bson.E{Key: "pipeline", Value: p}, bson.E{Key: "as", Value: asName})
	sc.define(asName)
	return bson.D{{Key: "$lookup", Value: out}}, nil
}

// checkVarName: user variables start with a lower-case letter (the
// server's rule), so a client cannot shadow $$ROOT or $$CURRENT.
func checkVarName(n, loc string) error {
	if n == "" || n[0] < 'a' || n[0] > 'z' || strings.ContainsAny(n, ".$\x00") {
		return apperr.Invalid("%s: %q is not a valid variable name", loc, n)
	}
	return nil
}

// graphLookup rewrites $graphLookup. It cannot run a pipeline on what it
// collects, so the target's policy filter is ANDed into
// restrictSearchWithMatch, and a target with field rules is refused: the
// collected documents would come back unstripped.
func (w *walker) graphLookup(arg any, sc *scope, depth int, loc string) (bson.D, error) {
	d, err := spec(arg, loc, "from", "startWith", "connectFromField", "connectToField",
		"as", "maxDepth", "depthField", "restrictSearchWithMatch")
	if err != nil {
		return nil, err
	}
	for _, k := range []string{"from", "startWith", "connectFromField", "connectToField", "as"} {
		if _, has := get(d, k); !has {
			return nil, apperr.Invalid("%s: $graphLookup requires %s", loc, k)
		}
	}
	if err := w.nest(depth); err != nil {
		return nil, err
	}
	from, _ := get(d, "from")
	t, err := w.target(from, loc+" from")
	if err != nil {
		return nil, err
	}
	if t.hasFieldRules() {
		return nil, apperr.Forbidden("%s: $graphLookup cannot be used on collection %q: you may not read all of its fields, and $graphLookup cannot hide them", loc, from).
			WithDetails(map[string]any{"collection": from})
	}
	ts := newScope(t)
	out := bson.D{}
	for _, e := range d {
		switch e.Key {
		case "startWith":
			err = w.expr(e.Value, sc, loc+" startWith", 1)
		case "connectFromField", "connectToField":
			s, ok := e.Value.(string)
			if !ok {
				err = apperr.Invalid("%s: %s must be a field name", loc, e.Key)
			} else {
				err = ts.use(s, loc+" "+e.Key)
			}
		case "as", "depthField":
			s, ok := e.Value.(string)
			if !ok {
				err = apperr.Invalid("%s: %s must be a field name", loc, e.Key)
			} else {
				err = checkPath(s, loc+" "+e.Key)
			}
		case "maxDepth":
			err = checkCount(e.Value, 0, loc+" maxDepth")
		case "restrictSearchWithMatch":
			f, ok := e.Value.(bson.D)
			if !ok {
				err = apperr.Invalid("%s: restrictSearchWithMatch must be a filter document", loc)
			} else {
				err = w.filter(f, ts, loc+" restrictSearchWithMatch")
			}
			if err != nil {
				return nil, err
			}
			continue // re-added below, combined with the policy
		}
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	client, hasClient := get(d, "restrictSearchWithMatch")
	if hasClient && len(client.(bson.D)) == 0 {
		hasClient = false
	}
	var restrict any
	switch pf := policyFilter(t); {
	case pf != nil && hasClient:
		restrict = bson.D{{Key: "$and", Value: bson.A{pf, client}}}
	case pf != nil:
		restrict = pf
	case hasClient:
		restrict = client
	}
	if restrict != nil {
		out = append(out, bson.E{Key: "restrictSearchWithMatch", Value: restrict})
	}
	as, _ := get(d, "as")
	sc.define(as.(string))
	return bson.D{{Key: "$graphLookup", Value: out}}, nil
}

// unionWith rewrites $unionWith (string or {coll, pipeline}). The documents
// after it come from two collections, so later paths must pass both.
func (w *walker) unionWith(arg any, sc *scope, depth int, loc string) (bson.D, error) {
	var coll, pipe any
	if s, ok := arg.(string); ok {
		coll = s
	} else {
		d, err := spec(arg, loc, "coll", "pipeline")
		if err != nil {
			return nil, err
		}
		var has bool
		if coll, has = get(d, "coll"); !has {
			return nil, apperr.Invalid("%s: $unionWith requires coll", loc)
		}
		pipe, _ = get(d, "pipeline")
	}
	if err := w.nest(depth); err != nil {
		return nil, err
	}
	t, err := w.target(coll, loc+" coll")
	if err != nil {
		return nil, err
	}
	p, sub, err := w.subPipeline(t, pipe, depth, loc+".pipeline")
	if err != nil {
		return nil, err
	}
	sc.branches = append(sc.branches, sub.branches...)
	return bson.D{{Key: "$unionWith", Value: bson.D{{Key: "coll", Value: coll}, {Key: "pipeline", Value: p}}}}, nil
}
