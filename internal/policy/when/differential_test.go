package when

import (
	"flag"
	"fmt"
	"math/rand"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/store"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

var diffSeed = flag.Int64("diff.seed", 20261123, "seed of the differential test")

// The differential test is the proof that the two outputs of the compiler
// agree: for thousands of generated documents with missing, null, array and
// mixed-type fields, the _ids the injected filter returns from a real server
// equal the _ids the in-memory check accepts, for every (expression, caller).

var diffNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func genValue(r *rand.Rand, kind string, depth int) any {
	strs := []string{"t1", "t2", "u1", "u2", "alpha", "Alpha", "beta", "a.b", "a*b", "x\nend", "", "zeta", "al", "admin"}
	switch r.Intn(14) {
	case 0:
		return nil
	case 1:
		return int32(r.Intn(7) - 2)
	case 2:
		return int64(r.Intn(7) - 2)
	case 3:
		return float64(r.Intn(12)-4) / 2
	case 4, 5, 6:
		return strs[r.Intn(len(strs))]
	case 7:
		return r.Intn(2) == 0
	case 8:
		return bson.NewDateTimeFromTime(diffNow.Add(time.Duration(r.Intn(96)-48) * time.Hour))
	case 9, 10:
		// FerretDB refuses nested arrays, so arrays hold only scalars and documents.
		if depth >= 1 {
			return "deep"
		}
		n := r.Intn(4)
		a := bson.A{}
		for i := 0; i < n; i++ {
			a = append(a, genValue(r, kind, depth+1))
		}
		return a
	case 11:
		if depth > 1 {
			return int32(1)
		}
		return bson.D{{Key: "x", Value: genValue(r, kind, depth+1)}}
	case 12:
		if depth >= 1 {
			return "x"
		}
		return bson.A{bson.D{{Key: "x", Value: genValue(r, kind, depth+1)}}, bson.D{{Key: "y", Value: int32(1)}}}
	}
	return "u1"
}

var diffFields = []string{"tenant_id", "owner", "n", "s", "tags", "flag", "d", "sub", "shared_with"}

func genDocs(r *rand.Rand, n int) []any {
	docs := make([]any, n)
	for i := range docs {
		d := bson.D{{Key: "_id", Value: int32(i)}}
		for _, f := range diffFields {
			if r.Intn(6) == 0 {
				continue // missing
			}
			d = append(d, bson.E{Key: f, Value: genValue(r, f, 0)})
		}
		docs[i] = d
	}
	return docs
}

// Hand-written expressions covering every construct of the language.
var diffExprs = []string{
	`resource.tenant_id == user.tenant_id`,
	`resource.tenant_id == user.tenant_id && (resource.owner == user.id || resource.flag == true)`,
	`resource.owner != user.id`,
	`!(resource.owner == user.id)`,
	`resource.n > 1`, `resource.n >= 1`, `resource.n < 0.5`, `resource.n <= -1`,
	`!(resource.n > 1)`, `1 < resource.n`,
	`resource.s > "al"`, `resource.s <= "beta"`,
	`resource.d > now`, `resource.d <= now - duration("24h")`, `resource.d >= date("2026-06-01")`,
	`resource.n == nil`, `resource.n != nil`, `resource.sub.x == nil`, `resource.sub.x != nil`,
	`resource.s in ["alpha", "beta", nil]`, `resource.s not in ["alpha", "beta"]`,
	`resource.n in [1, 2.0, "t1"]`,
	`user.id in resource.shared_with`, `user.id not in resource.shared_with`, `"u1" in resource.tags`,
	`resource.tenant_id in user.claims.tenants`,
	`resource.owner in [user.id, "u2"]`,
	`resource.s startsWith "al"`, `resource.s endsWith "end"`, `resource.s contains "."`, `resource.s contains "*"`,
	`resource.s matches "^[Aa]l"`, `!(resource.s startsWith "a")`, `resource.s startsWith user.tenant_id`,
	`resource.sub.x == 1`, `resource.sub.x > 0`, `resource.sub.x == user.id`, `resource.sub.y == 1`,
	`resource.flag`, `!resource.flag`, `resource.flag == false`,
	`resource.tags == ["u1", "u2"]`, `resource.tags == []`,
	`"admin" in user.roles || resource.owner == user.id`,
	`"admin" in user.roles && resource.tenant_id == user.tenant_id`,
	`user.claims.level >= 3 || resource.flag == true`,
	`resource.n == user.claims.level`, `resource.n < user.claims.level`,
	`user.tenant_id == nil || resource.tenant_id == user.tenant_id`,
	`resource.s == "x\nend"`, `resource.s endsWith "x"`,
	`(resource.n > 0 || resource.s == "alpha") && !(resource.tags == nil)`,
	`not (resource.n > 0 and resource.owner == "u1") or resource.s in ["beta"]`,
	// hierarchy values: lists of user ids, resolved per caller
	`resource.owner in user.$subordinates`, `resource.owner in user.$directReports || resource.owner == user.id`,
	`resource.owner not in user.$ancestors`, `resource.s in user.$ancestors && resource.tenant_id == user.tenant_id`,
	`user.id in resource.shared_with || resource.owner in user.$subordinates`,
}

type diffCaller struct {
	name string
	vars vars
}

var diffCallers = []diffCaller{
	{"full", vars{"id": "u1", "tenant_id": "t1", "roles": []any{"staff"}, "claims.tenants": []any{"t1", "t2"}, "claims.level": float64(3),
		"$subordinates": []any{"u2", "alpha", ""}, "$directReports": []any{"u2"}, "$ancestors": []any{"zeta", "al"}}},
	{"admin", vars{"id": "u2", "tenant_id": "t2", "roles": []any{"admin"}, "claims.tenants": []any{"t2"}, "claims.level": int64(1),
		"$subordinates": []any{}, "$directReports": []any{}, "$ancestors": []any{"u1"}}},
	{"no-tenant", vars{"id": "u1", "roles": []any{}}},
	{"null-id", vars{"id": nil, "tenant_id": "t1", "roles": []any{"admin"}}},
	{"empty", vars{}},
}

// genExpr builds a random expression from leaves of the language.
func genExpr(r *rand.Rand, depth int) string {
	if depth > 0 && r.Intn(3) == 0 {
		return genLeaf(r)
	}
	switch r.Intn(4) {
	case 0:
		return "(" + genExpr(r, depth+1) + " && " + genExpr(r, depth+1) + ")"
	case 1:
		return "(" + genExpr(r, depth+1) + " || " + genExpr(r, depth+1) + ")"
	case 2:
		return "!(" + genExpr(r, depth+1) + ")"
	}
	return genLeaf(r)
}

func genLeaf(r *rand.Rand) string {
	fields := []string{"resource.tenant_id", "resource.owner", "resource.n", "resource.s", "resource.tags", "resource.flag", "resource.sub.x", "resource.shared_with"}
	vals := []string{`"t1"`, `"u1"`, `"alpha"`, `1`, `-1`, `2.5`, `true`, `false`, `user.id`, `user.tenant_id`, `user.claims.level`}
	if r.Intn(8) == 0 {
		return fields[r.Intn(len(fields))] + " in user." + HierarchyVars[r.Intn(len(HierarchyVars))]
	}
	f := fields[r.Intn(len(fields))]
	v := vals[r.Intn(len(vals))]
	switch r.Intn(9) {
	case 0:
		return f + " == " + v
	case 1:
		return f + " != " + v
	case 2:
		if v == "true" || v == "false" {
			v = "0"
		}
		return f + []string{" < ", " <= ", " > ", " >= "}[r.Intn(4)] + v
	case 3:
		return f + " == nil"
	case 4:
		return f + " in [" + v + ", " + vals[r.Intn(len(vals))] + "]"
	case 5:
		return v + " in " + f
	case 6:
		return f + " startsWith " + []string{`"a"`, `"t"`, `user.id`}[r.Intn(3)]
	case 7:
		return `"admin" in user.roles`
	}
	return f + " != nil"
}

func TestDifferentialFilterVsInMemory(t *testing.T) {
	ctx := t.Context()
	r := rand.New(rand.NewSource(*diffSeed))
	ndocs := 1000
	if testing.Short() || raceEnabled {
		ndocs = 200
	}
	docs := genDocs(r, ndocs)
	coll := testenv.Store(t).Collection("diff")
	for i := 0; i < len(docs); i += 500 {
		end := min(i+500, len(docs))
		require.NoError(t, coll.InsertMany(ctx, docs[i:end], true))
	}
	raws := make([]bson.Raw, len(docs))
	for i, d := range docs {
		raws[i] = testenv.Raw(t, d)
	}

	exprs := append([]string{}, diffExprs...)
	nrandom := 100
	if testing.Short() || raceEnabled {
		nrandom = 20
	}
	for i := 0; i < nrandom; i++ {
		exprs = append(exprs, genExpr(r, 0))
	}
	t.Logf("seed %d: %d documents, %d expressions, %d callers, backend %s", *diffSeed, len(docs), len(exprs), len(diffCallers), testenv.Backend())

	checked := 0
	for _, src := range exprs {
		sc := NewScope()
		x, err := Compile(src, sc)
		if err != nil {
			// Random expressions may be rejected at load (e.g. constants of
			// different types); the hand-written ones must all compile.
			require.False(t, slices.Contains(diffExprs, src), "%s: %v", src, err)
			continue
		}
		for _, c := range diffCallers {
			env := NewEnv(sc, c.vars, diffNow)
			st := x.State(env)
			var memIDs []int
			for i, raw := range raws {
				if x.Match(raw, env) {
					memIDs = append(memIDs, i)
				}
			}
			excluded := map[int]bool{}
			if gap := nullGaps[testenv.Backend()]; gap != nil {
				for _, path := range nullPaths(x.root) {
					for i, raw := range raws {
						if gap(raw, path) {
							excluded[i] = true
						}
					}
				}
			}
			var dbIDs []int
			switch st {
			case Always:
				for i := range raws {
					dbIDs = append(dbIDs, i)
				}
			case Never:
			default:
				filter := bson.Raw(x.AppendFilter(nil, env))
				require.NoError(t, filter.Validate(), "%s for %s: %x", src, c.name, []byte(filter))
				dbIDs = findIDs(t, coll, filter)
			}
			dbIDs, memIDs = without(dbIDs, excluded), without(memIDs, excluded)
			if diff := compareIDs(dbIDs, memIDs); diff != "" {
				f := ""
				if st == Conditional {
					f = bson.Raw(x.AppendFilter(nil, env)).String()
				}
				t.Errorf("%s\ncaller %s, state %s, filter %s\n%s", src, c.name, st, f, diff)
				for _, id := range firstDiff(dbIDs, memIDs, 3) {
					t.Logf("  doc %s", raws[id])
				}
			}
			checked++
		}
	}
	t.Logf("%d (expression, caller) pairs agree", checked)
}

// nullPaths lists the dotted paths the expression compares with null.
func nullPaths(n *node) [][]string {
	var out [][]string
	if n.kind == nLeaf && n.field != nil && len(n.field) > 1 {
		if n.op == opEq && n.arg.kind == oConst && n.arg.val.Type == bson.TypeNull {
			out = append(out, n.field)
		}
	}
	for _, k := range n.kids {
		out = append(out, nullPaths(k)...)
	}
	return out
}

// arrayAt returns the elements of doc's top-level field when it is an array:
// both engines' null gaps are about a dotted path that crosses one.
func arrayAt(doc bson.Raw, field string) ([]bson.RawValue, bool) {
	v, err := doc.LookupErr(field)
	if err != nil || v.Type != bson.TypeArray {
		return nil, false
	}
	vals, _ := v.Array().Values()
	return vals, true
}

// ferretDBNullGap reports a document on which FerretDB v1.24 disagrees with
// MongoDB: {"a.b": null} must match when a is an array holding a document
// without b (FerretDB issue #2967, "Allow dotted path equality to match
// missing field with null"); FerretDB does not match it. The in-memory check
// keeps MongoDB's answer; a run against real MongoDB (PM_TEST_MONGODB_URI)
// compares these documents too.
func ferretDBNullGap(doc bson.Raw, path []string) bool {
	vals, ok := arrayAt(doc, path[0])
	if !ok {
		return false
	}
	for _, e := range vals {
		if e.Type == bson.TypeEmbeddedDocument {
			if _, err := e.Document().LookupErr(path[1:]...); err != nil {
				return true
			}
		}
	}
	return false
}

// documentDBNullGap reports a document on which FerretDB v2 on DocumentDB
// disagrees with MongoDB (measured with this test): {"a.b": null} must match
// when a is an array with an element that has no b — a scalar, a document
// without b — or an empty array; DocumentDB does not match any of them.
func documentDBNullGap(doc bson.Raw, path []string) bool {
	vals, ok := arrayAt(doc, path[0])
	if !ok {
		return false
	}
	if len(vals) == 0 {
		return true
	}
	for _, e := range vals {
		if e.Type != bson.TypeEmbeddedDocument {
			return true
		}
		if _, err := e.Document().LookupErr(path[1:]...); err != nil {
			return true
		}
	}
	return false
}

// nullGaps are the documented null-matching differences from MongoDB, per
// engine: the documents they concern are left out of the comparison on that
// engine only, and compared everywhere else.
var nullGaps = map[string]func(bson.Raw, []string) bool{
	testenv.BackendFerretDB:   ferretDBNullGap,
	testenv.BackendDocumentDB: documentDBNullGap,
}

func without(ids []int, excluded map[int]bool) []int {
	out := ids[:0:0]
	for _, id := range ids {
		if !excluded[id] {
			out = append(out, id)
		}
	}
	return out
}

func findIDs(t *testing.T, coll *store.Collection, filter bson.Raw) []int {
	t.Helper()
	var out []int
	err := coll.Each(t.Context(), filter, store.Find{Projection: bson.D{{Key: "_id", Value: 1}}}, func(d bson.Raw) error {
		out = append(out, int(d.Lookup("_id").Int32()))
		return nil
	})
	require.NoError(t, err, filter.String())
	sort.Ints(out)
	return out
}

func compareIDs(db, mem []int) string {
	a, b := map[int]bool{}, map[int]bool{}
	for _, x := range db {
		a[x] = true
	}
	for _, x := range mem {
		b[x] = true
	}
	var onlyDB, onlyMem []string
	for _, x := range db {
		if !b[x] {
			onlyDB = append(onlyDB, fmt.Sprint(x))
		}
	}
	for _, x := range mem {
		if !a[x] {
			onlyMem = append(onlyMem, fmt.Sprint(x))
		}
	}
	if len(onlyDB) == 0 && len(onlyMem) == 0 {
		return ""
	}
	return fmt.Sprintf("only the server returned %d: [%s]\nonly the in-memory check accepted %d: [%s]",
		len(onlyDB), trunc(onlyDB), len(onlyMem), trunc(onlyMem))
}

func firstDiff(db, mem []int, n int) []int {
	a, b := map[int]bool{}, map[int]bool{}
	for _, x := range db {
		a[x] = true
	}
	for _, x := range mem {
		b[x] = true
	}
	var out []int
	for x := range a {
		if !b[x] && len(out) < n {
			out = append(out, x)
		}
	}
	for x := range b {
		if !a[x] && len(out) < 2*n {
			out = append(out, x)
		}
	}
	return out
}

func trunc(s []string) string {
	if len(s) > 15 {
		return strings.Join(s[:15], " ") + " ..."
	}
	return strings.Join(s, " ")
}
