package httpfuzz

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand"
	"net/url"
	"slices"
	"strings"
)

// Known open findings: grammar productions that provoke failures not fixed
// yet — those issue 10 describes (another branch is fixing them) and those
// this generator found on the way (marked so). They are left out of the
// default run so the test passes today; PM_FUZZ_HTTP_KNOWN=all (or a comma list of
// these names) puts them back, and once the fix is merged the lead deletes
// the entry to make it part of every run.
const (
	// issue 10 item 1: writes below hidden, masked and deny_write fields
	// through array indexes and positional segments (secret.0, .$, .$[],
	// .$[x], $rename into secret.N, $currentDate below them).
	knownWriteBelowProtected = "write-below-protected"
	// issue 10 item 2: an invalid $regex pattern.
	knownInvalidRegex = "invalid-regex"
	// issue 10 item 2: Decimal128 values in filters, $mod divisors and
	// update operands.
	knownDecimal128 = "decimal128"
	// issue 10 item 2: an update path that crosses a scalar (name.x when
	// name is a string).
	knownPathThroughScalar = "path-through-scalar"
	// issue 10 item 2: positional operators that match nothing ($ without
	// an array in the query, $[x] without arrayFilters, $[] on a
	// non-array).
	knownPositionalNoMatch = "positional-no-match"
	// issue 10 item 3: field rules inside arrays of arrays (grid: [[{hid}]]).
	knownArraysOfArrays = "arrays-of-arrays"
	// issue 10 item 2 (client mistakes answered 500), found by this
	// generator, not in the list: aggregation expressions that fail
	// while the server evaluates them — $concat or $toString of a
	// non-string, $size of a non-array, $replaceRoot to a non-document, an
	// undefined variable ($$where).
	knownAggregateRuntimeError = "aggregate-runtime-error"
	// issue 10 item 2, found by this generator on the embedded FerretDB v1
	// only: it answers PathNotViable (28) to "items.$[].qty" although items
	// is an array, and 28 is a 500 today. The fix for paths crossing a
	// scalar (28 → 400) turns it into a 400; a 501 naming the missing
	// capability would be better.
	knownEmbeddedAllPositional = "embedded-all-positional"
	// Found by this generator, not in issue 10 (security checklist item 5,
	// strip before the client's stages): the DocumentDB engine evaluates a
	// $set/$addFields that directly follows an $unset against the document
	// as it was before the $unset. The proxy's strip stages end with $unset
	// when the target has denied fields and no top-level mask (collection
	// side here), so a $lookup sub-pipeline starting with
	// {$addFields: {x: "$$ROOT"}} shows side's hidden field. Only the
	// $lookup pipeline form into side produces it.
	knownDocDBUnsetThenSet = "docdb-unset-then-set"
	// Found by this generator on the embedded FerretDB v1 only: a stage
	// after $count (whose output has no _id; the guard also covers
	// $unset: "_id" and $project: {_id: 0}) makes FerretDB panic ("types.Document.Get: key
	// not found: _id"); the connection drops, the answer is 503, and the
	// iterator the panic leaked later panics in a finalizer, which ends
	// the whole process (the embedded server runs inside it). Reproduce:
	// POST /collections/recs/aggregate {"pipeline":[{"$count":"c"},{"$project":{"tenant_id":0}}]}
	knownEmbeddedNoID = "embedded-stage-after-no-id"
	// issue 10 item 2, found by this generator (DocumentDB): two paths of
	// one update that the proxy's conflict check lets through because one
	// has a positional segment, {"$mul": {"items.1.qty": 1.5},
	// "$max": {"items.$[].name": "alpha"}}: ConflictingUpdateOperators
	// (40), a 500 today.
	knownConflictingPositional = "conflicting-positional-paths"
)

var knownOpenFindings = []string{}

// kv and O give JSON objects a fixed key order: operator documents, sort
// specifications and $push modifiers mean something by their order.
type kv struct {
	k string
	v any
}

// O is an ordered JSON object.
type O []kv

// MarshalJSON writes the members in order.
func (o O) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, e := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(e.k)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(e.v)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func o(kvs ...any) O {
	out := make(O, 0, len(kvs)/2)
	for i := 0; i+1 < len(kvs); i += 2 {
		out = append(out, kv{kvs[i].(string), kvs[i+1]})
	}
	return out
}

// request is one generated HTTP request.
type request struct {
	kind   string // endpoint, for reports
	method string
	path   string
	body   []byte
	write  bool
	// update is the update document of a PATCH (single or batch), kept to
	// know which protected fields it names exactly (checks.go).
	update any
	put    bool // a PUT: no protected field may change at all
}

func (r request) String() string {
	if r.body == nil {
		return r.method + " " + r.path
	}
	return r.method + " " + r.path + " " + string(r.body)
}

// gen draws requests from the grammar.
type gen struct {
	r       *rand.Rand
	enabled map[string]bool // known open findings switched on
	used    map[string]bool // ... and used by the current request
	// embedded: the backend is the embedded FerretDB v1, which lacks $[]
	embedded bool
}

// take reports whether a known open finding's production may be used, and
// records that it was, so a finding can be traced to its class.
func (g *gen) take(class string) bool {
	// A class no longer listed in knownOpenFindings has been fixed: it is
	// generated in every run.
	if slices.Contains(knownOpenFindings, class) && !g.enabled[class] {
		return false
	}
	if g.used == nil {
		g.used = map[string]bool{}
	}
	g.used[class] = true
	return true
}

func (g *gen) pick(xs ...string) string { return xs[g.r.Intn(len(xs))] }

func (g *gen) chance(n int) bool { return g.r.Intn(n) == 0 }

// Paths read by filters, sorts, projections and pipelines.
var (
	readVisible = []string{"name", "n", "tags", "tags.0", "public", "locked", "nested", "nested.vis",
		"nested.lock", "items", "items.name", "items.qty", "items.0.qty", "items.1", "items.lock",
		"_id", "tenant_id", "created_at", "nope", "nope.deep"}
	readHidden = []string{"secret", "secret.x", "secret.0", "secret.0.z", "nested.hid", "nested.hid.x",
		"items.hid", "items.0.hid", "items.hid.z", "grid", "grid.hid", "grid.0.0.hid", "grid.0", "grid.name"}
	readMasked = []string{"email", "card", "nested.code", "email.0"}
	readBad    = []string{"$where", "a..b", "x.$", ".x"}
)

func (g *gen) readPath() string {
	switch g.r.Intn(10) {
	case 0, 1, 2:
		return g.pick(readHidden...)
	case 3, 4:
		return g.pick(readMasked...)
	case 5:
		if g.chance(3) {
			return g.pick(readBad...)
		}
	}
	return g.pick(readVisible...)
}

// hiddenGuesses are exact hidden values of the seeded documents: a request
// carrying one tests whether the answer depends on it. The leak check does
// not count a marker the request itself carries.
var hiddenGuesses = []string{"HIDSENT_A0_secret", "HIDSENT_B0_secret", "HIDSENT_A1_nested_hid",
	"mMASKSENT_A0@mask.example", "MASKSENT_A1_code"}

func (g *gen) value(depth int) any {
	n := 13
	if depth > 1 {
		n = 9
	}
	switch g.r.Intn(n) {
	case 0:
		return g.r.Intn(6)
	case 1:
		return float64(g.r.Intn(8)) / 2
	case 2:
		return g.pick("alpha", "beta", "a", "b", "it0", "guess", "")
	case 3:
		return g.r.Intn(2) == 0
	case 4:
		return nil
	case 5:
		return g.pick(hiddenGuesses...)
	case 6:
		return g.pick("$secret", "$$ROOT", "$name")
	case 7:
		return o("$oid", oidHex)
	case 8:
		if g.take(knownDecimal128) {
			return o("$numberDecimal", g.pick("1.5", "2", "-0"))
		}
		return o("$date", "2026-01-01T00:00:00Z")
	case 9:
		return []any{g.value(depth + 1), g.value(depth + 1)}
	case 10:
		return o(g.pick("x", "z", "name"), g.value(depth+1))
	case 11:
		return o("$numberLong", "3")
	default:
		return 7777001 // a guess at a hidden number
	}
}

func (g *gen) number() any {
	switch g.r.Intn(5) {
	case 0:
		return 1.5
	case 1:
		if g.take(knownDecimal128) {
			return o("$numberDecimal", "2.5")
		}
		return o("$numberLong", "2")
	case 2:
		return -1
	}
	return g.r.Intn(4)
}

// filter draws a filter document.
func (g *gen) filter(depth int) O {
	var f O
	for i := 0; i < 1+g.r.Intn(3); i++ {
		switch g.r.Intn(12) {
		case 0:
			if depth > 0 {
				subs := []any{}
				for j := 0; j < 1+g.r.Intn(3); j++ {
					subs = append(subs, g.filter(depth-1))
				}
				f = append(f, kv{g.pick("$and", "$or", "$nor"), subs})
				continue
			}
		case 1:
			if g.chance(3) {
				switch g.r.Intn(4) {
				case 0:
					f = append(f, kv{"$where", "this.secret == 1"})
				case 1:
					f = append(f, kv{"$expr", o("$eq", []any{"$secret", 1})})
				case 2:
					f = append(f, kv{"$text", o("$search", "x")})
				default:
					f = append(f, kv{"$comment", "x"})
				}
				continue
			}
		}
		f = append(f, kv{g.readPath(), g.condition(depth)})
	}
	return f
}

func (g *gen) condition(depth int) any {
	if g.chance(3) {
		return g.value(1)
	}
	var c O
	for i := 0; i < 1+g.r.Intn(2); i++ {
		c = append(c, g.operator(depth))
	}
	return c
}

func (g *gen) regex() string {
	if g.chance(3) && g.take(knownInvalidRegex) {
		return g.pick("(", "[a", "a{2,1}", "*x", "(?<n")
	}
	return g.pick("^a", "al", "^HID", "x|y", "MASKSENT", ".*", "^m")
}

func (g *gen) operator(depth int) kv {
	switch g.r.Intn(14) {
	case 0:
		return kv{g.pick("$eq", "$ne", "$gt", "$gte", "$lt", "$lte"), g.value(1)}
	case 1:
		return kv{g.pick("$in", "$nin"), []any{g.value(2), g.value(2)}}
	case 2:
		return kv{"$exists", g.r.Intn(2) == 0}
	case 3:
		return kv{"$type", []any{"string", "number", "object", "array", 2, 10, "bool", "bogus", 99}[g.r.Intn(9)]}
	case 4:
		return kv{"$regex", g.regex()}
	case 5:
		return kv{"$not", o("$regex", g.regex())}
	case 6:
		return kv{"$not", o(g.pick("$gt", "$eq"), g.value(2))}
	case 7:
		return kv{"$all", []any{g.value(2)}}
	case 8:
		if depth > 0 && g.chance(2) {
			return kv{"$elemMatch", g.elemFilter()}
		}
		return kv{"$elemMatch", o(g.pick("$gt", "$eq", "$regex"), g.pick("a", "1"))}
	case 9:
		return kv{"$size", []any{0, 1, 2, -1, "x", 1.5}[g.r.Intn(6)]}
	case 10:
		div := []any{2, 3, 0, -1, "a", 1.5}[g.r.Intn(6)]
		if g.chance(3) && g.take(knownDecimal128) {
			div = o("$numberDecimal", "2")
		}
		return kv{"$mod", []any{div, g.r.Intn(2)}}
	case 11:
		return kv{"$regex", g.regex()}
	case 12:
		return kv{"$options", g.pick("i", "m", "q")}
	}
	return kv{"$in", []any{g.pick(hiddenGuesses...), 7777001}}
}

// elemFilter is a filter on the elements of items (or grid's inner arrays).
func (g *gen) elemFilter() O {
	var f O
	for i := 0; i < 1+g.r.Intn(2); i++ {
		p := g.pick("name", "qty", "hid", "lock", "hid.x", "0.hid")
		f = append(f, kv{p, g.condition(0)})
	}
	return f
}

func (g *gen) sortSpec() []string {
	var s []string
	for i := 0; i < 1+g.r.Intn(3); i++ {
		p := g.readPath()
		if g.chance(2) {
			p = "-" + p
		}
		s = append(s, p)
	}
	return s
}

func (g *gen) fields() []string {
	var s []string
	for i := 0; i < 1+g.r.Intn(3); i++ {
		s = append(s, g.readPath())
	}
	return s
}

// Update target paths. writeSafe keeps every document valid for later
// requests (types preserved, arrays stay arrays, no index past the end);
// the classes of known open findings add their own paths when switched on.
func (g *gen) writePath(op string) string {
	p := g.writePathAny(op)
	if g.embedded && strings.Contains(p, "$[]") && !g.take(knownEmbeddedAllPositional) {
		p = strings.ReplaceAll(p, "$[]", "0")
	}
	return p
}

func (g *gen) writePathAny(op string) string {
	switch g.r.Intn(12) {
	case 0:
		if g.take(knownWriteBelowProtected) {
			return g.pick("secret.0", "secret.$[]", "secret.$", "secret.$[e]", "nested.hid.0",
				"items.0.hid.1", "items.$[].hid.0", "email.0", "card.$[]", "nested.code.1",
				"locked.0", "nested.lock.$[]", "items.0.lock.0", "items.$[].lock.$[]", "tenant_id.0")
		}
	case 1:
		if g.take(knownPathThroughScalar) {
			return g.pick("name.x", "n.0.y", "tags.0.x", "nested.vis.z", "public.q", "items.0.qty.z")
		}
	case 2:
		if g.take(knownPositionalNoMatch) {
			return g.pick("items.$.qty", "tags.$", "items.$[e].qty", "nope.$[].x", "name.$[]", "tags.$[]")
		}
	case 3:
		// exactly a protected field, or below it by a name: blind writes of
		// the field itself are allowed, names below it are refused (403).
		return g.pick("secret", "nested.hid", "items.$[].hid", "items.0.hid", "email", "card",
			"nested.code", "secret.x", "nested.hid.y", "email.x")
	case 4:
		return g.pick("locked", "nested.lock", "items.0.lock", "items.$[].lock", "tenant_id", "nested", "items")
	case 5:
		return g.pick("_id", "created_at", "updated_by", "$bad", "a..b", "")
	}
	if op == "arith" {
		return g.pick("n", "nested.vis", "items.0.qty", "items.1.qty", "items.$[].qty", "newnum")
	}
	if op == "array" {
		return g.pick("tags", "newarr")
	}
	return g.pick("name", "n", "tags", "public", "nested.vis", "items.0.name", "items.$[].name",
		"newfield", "nested.newsub")
}

// safeValue keeps the type the path had in the seeded documents, so that a
// later request does not cross a scalar where an object was (which would
// provoke a known open finding instead of testing something new).
func (g *gen) safeValue(path string) any {
	if g.chance(2) && g.take(knownPathThroughScalar) {
		return g.plainValue(1)
	}
	switch path {
	case "name", "items.0.name", "items.$[].name":
		return g.pick("alpha", "beta", "zeta")
	case "n", "nested.vis", "items.0.qty", "items.1.qty", "items.$[].qty", "newnum":
		return g.r.Intn(9)
	case "tags", "newarr":
		return []any{g.pick("a", "b", "d")}
	case "public":
		return g.r.Intn(2) == 0
	}
	return g.plainValue(1)
}

// plainValue is a value to store: no marker of hidden data in it, or a
// later answer showing it would be a false leak.
func (g *gen) plainValue(depth int) any {
	switch g.r.Intn(7) {
	case 0:
		return g.r.Intn(6)
	case 1:
		return g.pick("alpha", "x", "")
	case 2:
		return nil
	case 3:
		return g.r.Intn(2) == 0
	case 4:
		if depth < 3 {
			return []any{g.plainValue(depth + 1)}
		}
	case 5:
		if depth < 3 {
			return o("x", g.plainValue(depth+1))
		}
	}
	return 2.5
}

func (g *gen) update() any {
	if g.chance(12) {
		// pipeline-style update: refused
		return []any{o("$set", o("name", "$secret"))}
	}
	if g.chance(6) {
		// merge patch
		var m O
		for i := 0; i < 1+g.r.Intn(2); i++ {
			p := g.writePath("set")
			m = append(m, kv{p, g.safeValue(p)})
		}
		return m
	}
	var u O
	used := map[string]bool{}
	for i := 0; i < 1+g.r.Intn(2); i++ {
		op := g.pick("$set", "$unset", "$inc", "$mul", "$min", "$max", "$rename", "$push",
			"$addToSet", "$pull", "$pullAll", "$pop", "$currentDate", "$setOnInsert", "$bit")
		if used[op] {
			continue
		}
		used[op] = true
		operand := g.operand(op)
		if conflictsPositional(u, operand) && !g.take(knownConflictingPositional) {
			continue
		}
		u = append(u, kv{op, operand})
	}
	return u
}

// conflictsPositional: a path of operand and one already in u lie in the
// same top-level field and one of them has a positional segment
// (items.1.qty with items.$[].name); the server refuses the pair.
func conflictsPositional(u O, operand O) bool {
	for _, op := range u {
		prev, _ := op.v.(O)
		for _, a := range prev {
			for _, b := range operand {
				ta, _, _ := strings.Cut(a.k, ".")
				tb, _, _ := strings.Cut(b.k, ".")
				if ta == tb && (strings.Contains(a.k, "$") || strings.Contains(b.k, "$")) {
					return true
				}
			}
		}
	}
	return false
}

func (g *gen) operand(op string) O {
	switch op {
	case "$set", "$min", "$max", "$setOnInsert":
		p := g.writePath("set")
		return o(p, g.safeValue(p))
	case "$unset":
		return o(g.writePath("set"), "")
	case "$inc", "$mul":
		return o(g.writePath("arith"), g.number())
	case "$bit":
		return o("n", o("and", 1))
	case "$rename":
		from := g.pick("name", "n", "newfield", "secret", "email", "locked", "nested.newsub", "nested.hid", "tags")
		to := g.pick("renamed", "nested.moved", "secret", "email", "locked", "nested.hid", "name")
		if g.chance(3) && g.take(knownWriteBelowProtected) {
			to = g.pick("secret.1", "nested.hid.0", "email.2", "locked.0")
		}
		return o(from, to)
	case "$push", "$addToSet":
		p := g.writePath("array")
		if g.chance(2) {
			return o(p, g.pick("a", "b", "x"))
		}
		mods := O{{"$each", []any{g.pick("a", "b"), g.pick("c", "d")}}}
		if op == "$push" {
			if g.chance(2) {
				mods = append(mods, kv{"$slice", g.r.Intn(5) - 2})
			}
			if g.chance(2) {
				mods = append(mods, kv{"$sort", []any{1, -1, o("qty", 1), o("hid", 1)}[g.r.Intn(4)]})
			}
			if g.chance(3) {
				mods = append(mods, kv{"$position", g.r.Intn(3)})
			}
		}
		return o(p, mods)
	case "$pull":
		p := g.writePath("array")
		switch g.r.Intn(3) {
		case 0:
			return o(p, g.pick("a", "b"))
		case 1:
			return o(p, o("$in", []any{"a", "c"}))
		}
		return o(g.pick("items", "tags", "secret"), o("hid", o("$exists", true)))
	case "$pullAll":
		return o(g.writePath("array"), []any{"a", "b"})
	case "$pop":
		return o(g.writePath("array"), []any{1, -1}[g.r.Intn(2)])
	default: // $currentDate
		p := g.pick("newdate", "secret", "locked", "nested.hid", "email")
		if g.chance(2) && g.take(knownWriteBelowProtected) {
			p = g.pick("secret.0", "nested.hid.$[]", "items.0.hid.0", "locked.1")
		}
		if g.chance(2) {
			return o(p, true)
		}
		return o(p, o("$type", g.pick("date", "timestamp")))
	}
}

// expr draws an aggregation expression.
func (g *gen) expr() any {
	p := g.exprPath()
	switch g.r.Intn(12) {
	case 0:
		return p
	case 1:
		return g.pick("$$ROOT", "$$CURRENT", "$$CURRENT.secret", "$$ROOT.email")
	case 2:
		return o("$getField", g.pick("secret", "email", "name"))
	case 3:
		return o("$objectToArray", "$$ROOT")
	case 4:
		if g.chance(2) && g.take(knownAggregateRuntimeError) {
			return o("$concat", []any{"$name", "-", p})
		}
		return o("$concat", []any{"$name", "-", o("$literal", "$secret")})
	case 5:
		return o("$literal", "$secret")
	case 6:
		return o("$type", p)
	case 7:
		return o("$ifNull", []any{p, "none"})
	case 8:
		return o("$arrayElemAt", []any{"$items", 0})
	case 9:
		return o("$function", o("body", "function(){return 1}", "args", []any{}, "lang", "js"))
	case 10:
		if g.chance(2) && g.take(knownAggregateRuntimeError) {
			return o("$toString", p)
		}
		return o("$toString", g.pick("$n", "$name", "$secret", "$email")) // not $_id: after $group or $sortByCount it may be an array
	}
	if g.chance(2) && g.take(knownAggregateRuntimeError) {
		return o("$size", o("$ifNull", []any{p, []any{}}))
	}
	return o("$size", o("$ifNull", []any{g.pick("$items", "$grid", "$items.hid", "$secret"), []any{}}))
}

// exprPath is a field path expression. A malformed path ($$where, "$a..b")
// is an undefined variable or a server-side error that issue 10 item 2 is
// about.
func (g *gen) exprPath() string {
	p := g.readPath()
	if strings.HasPrefix(p, "$") || strings.Contains(p, "..") || strings.HasPrefix(p, ".") || strings.HasSuffix(p, "$") {
		if !g.take(knownAggregateRuntimeError) {
			p = "name"
		}
	}
	return "$" + p
}

func (g *gen) stage(depth int) O {
	switch g.r.Intn(20) {
	case 0, 1:
		return o("$match", g.filter(1))
	case 2:
		var s O
		for _, p := range g.sortSpec() {
			dir := 1
			if strings.HasPrefix(p, "-") {
				p, dir = p[1:], -1
			}
			s = append(s, kv{p, dir})
		}
		return o("$sort", s)
	case 3:
		switch g.r.Intn(3) {
		case 0:
			return o("$project", o(g.readPath(), 1))
		case 1:
			return o("$project", o(g.readPath(), 0))
		}
		return o("$project", o("x", g.expr()))
	case 4:
		return o(g.pick("$addFields", "$set"), o("x", g.expr()))
	case 5:
		return o("$unset", g.readPath())
	case 6:
		return o("$unwind", "$"+g.pick("items", "tags", "secret", "grid", "items.hid"))
	case 7:
		return o("$group", o("_id", g.exprPath(), "c", o("$sum", 1), "v", o(g.pick("$push", "$first", "$max", "$avg", "$addToSet"), g.expr())))
	case 8:
		return o("$count", "c")
	case 9:
		return o(g.pick("$limit", "$skip"), 1+g.r.Intn(3))
	case 10:
		return o("$lookup", o("from", g.pick("side", "recs"), "localField", g.readPath(), "foreignField", g.pick("k", "secret", "name"), "as", "j"))
	case 11:
		if depth > 0 {
			from := "recs"
			if g.chance(2) && g.take(knownDocDBUnsetThenSet) {
				from = "side"
			}
			return o("$lookup", o("from", from, "pipeline", []any{g.stage(depth - 1)}, "as", "j"))
		}
	case 12:
		return o("$unionWith", o("coll", g.pick("side", "recs"), "pipeline", []any{o("$match", g.filter(0))}))
	case 13:
		if depth > 0 {
			return o("$facet", o("a", []any{g.stage(depth - 1)}, "b", []any{g.stage(depth - 1)}))
		}
	case 14:
		if g.take(knownAggregateRuntimeError) {
			return o("$replaceRoot", o("newRoot", g.pick("$nested", "$$ROOT", "$secret", "$items")))
		}
		if g.chance(2) {
			return o("$replaceRoot", o("newRoot", "$$ROOT"))
		}
		return o("$replaceRoot", o("newRoot", o("$ifNull", []any{"$nested", o()})))
	case 15:
		return o("$sortByCount", g.exprPath())
	case 16:
		return o(g.pick("$out", "$merge", "$collStats", "$indexStats", "$currentOp"), "x")
	case 17:
		return o("$graphLookup", o("from", "side", "startWith", "$name", "connectFromField", "k", "connectToField", "k", "as", "g"))
	}
	return o("$match", g.filter(0))
}

func (g *gen) pipeline() []any {
	var p []any
	for i := 0; i < 1+g.r.Intn(4); i++ {
		st := g.stage(1)
		p = append(p, st)
		if g.embedded && dropsID(st) && !g.take(knownEmbeddedNoID) {
			break
		}
	}
	return p
}

// dropsID: the stage's output documents have no _id.
func dropsID(st O) bool {
	switch st[0].k {
	case "$count":
		return true
	case "$unset":
		return st[0].v == "_id"
	case "$project":
		spec, _ := st[0].v.(O)
		return len(spec) == 1 && spec[0].k == "_id" && spec[0].v == 0
	}
	return false
}

func (g *gen) id() string {
	return []string{"d0", "d1", "d2", "d3", oidHex, "o0", "zz"}[g.r.Intn(7)]
}

func (g *gen) ids() []string {
	var s []string
	for i := 0; i < 1+g.r.Intn(4); i++ {
		s = append(s, g.id())
	}
	return s
}

// newDoc is a document for create: some fields the caller may write, some
// it may not, some it cannot read.
func (g *gen) newDoc() any {
	d := O{{"name", g.pick("alpha", "new")}}
	if g.chance(2) {
		d = append(d, kv{"_id", fmt.Sprintf("c%d", g.r.Intn(4))})
	}
	if g.chance(2) {
		d = append(d, kv{"secret", "HIDSENT_client"})
	}
	if g.chance(3) {
		d = append(d, kv{"email", "cMASKSENT_client@mask.example"})
	}
	if g.chance(4) {
		d = append(d, kv{g.pick("locked", "tenant_id", "created_at"), g.pick("t1", "t2", "x")})
	}
	if g.chance(3) {
		d = append(d, kv{"nested", o("vis", 1, "hid", "HIDSENT_client2")})
	}
	if g.chance(3) {
		d = append(d, kv{"items", []any{o("name", "x", "qty", 1, "hid", "HIDSENT_client3")}})
	}
	if g.chance(8) {
		d = append(d, kv{"$bad", 1})
	}
	return d
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func (g *gen) findQuery() string {
	q := url.Values{}
	if !g.chance(4) {
		q.Set("filter", string(mustJSON(g.filter(2))))
	}
	if g.chance(2) {
		q.Set("sort", strings.Join(g.sortSpec(), ","))
	}
	if g.chance(3) {
		q.Set("fields", strings.Join(g.fields(), ","))
	}
	if g.chance(3) {
		q.Set("limit", fmt.Sprint(1+g.r.Intn(4)))
	}
	return q.Encode()
}

// request draws one request.
func (g *gen) request() request {
	const c = "/collections/recs"
	switch g.r.Intn(16) {
	case 0, 1:
		return request{kind: "list", method: "GET", path: c + "?" + g.findQuery()}
	case 2, 3:
		b := o("filter", g.filter(2))
		if g.chance(2) {
			b = append(b, kv{"sort", g.sortSpec()})
		}
		if g.chance(2) {
			b = append(b, kv{"fields", g.fields()})
		}
		return request{kind: "find", method: "POST", path: c + "/find", body: mustJSON(b)}
	case 4:
		return request{kind: "count", method: "POST", path: c + "/count", body: mustJSON(o("filter", g.filter(2)))}
	case 5:
		p := c + "/" + g.id()
		if g.chance(2) {
			p += "?fields=" + url.QueryEscape(strings.Join(g.fields(), ","))
		}
		return request{kind: "get", method: "GET", path: p}
	case 6, 7:
		return request{kind: "aggregate", method: "POST", path: c + "/aggregate", body: mustJSON(o("pipeline", g.pipeline()))}
	case 8, 9, 10:
		u := g.update()
		return request{kind: "patch", method: "PATCH", path: c + "/" + g.id(), body: mustJSON(u), write: true, update: u}
	case 11, 12:
		u := g.update()
		var b O
		if g.chance(2) {
			b = o("ids", g.ids())
		} else {
			b = o("filter", g.filter(1))
		}
		b = append(b, kv{"update", u})
		return request{kind: "patch-batch", method: "PATCH", path: c + "/batch", body: mustJSON(b), write: true, update: u}
	case 13:
		d := g.newDoc().(O)
		d = append(d, kv{"n", g.r.Intn(3)}, kv{"tags", []any{"a"}})
		return request{kind: "put", method: "PUT", path: c + "/" + g.id(), body: mustJSON(d), write: true, put: true}
	case 14:
		if g.chance(2) {
			return request{kind: "create", method: "POST", path: c, body: mustJSON(g.newDoc()), write: true}
		}
		docs := []any{g.newDoc(), g.newDoc()}
		return request{kind: "create-batch", method: "POST", path: c + "/batch", body: mustJSON(o("documents", docs)), write: true}
	}
	if g.chance(2) {
		return request{kind: "delete", method: "DELETE", path: c + "/" + g.id(), write: true}
	}
	var b O
	if g.chance(2) {
		b = o("ids", g.ids())
	} else {
		b = o("filter", g.filter(1))
	}
	return request{kind: "delete-batch", method: "POST", path: c + "/batch/delete", body: mustJSON(b), write: true}
}
