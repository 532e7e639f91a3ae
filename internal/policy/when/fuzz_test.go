package when

import (
	"math/rand"
	"regexp"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/mongosem"
)

// evalFilter is an independent interpreter of the filters the compiler emits
// ($and $or $eq $ne $in $nin $lt $lte $gt $gte $not $regex), written from
// MongoDB's documented semantics. Fuzzing compares it with the compiled
// in-memory check: the two paths share only mongosem's value primitives.
func evalFilter(t testing.TB, f bson.Raw, doc bson.Raw) bool {
	t.Helper()
	elems, err := f.Elements()
	if err != nil {
		t.Fatalf("invalid filter: %v", err)
	}
	for _, e := range elems {
		switch e.Key() {
		case "$and", "$or":
			vals, _ := e.Value().Array().Values()
			any, all := false, true
			for _, v := range vals {
				if evalFilter(t, v.Document(), doc) {
					any = true
				} else {
					all = false
				}
			}
			if (e.Key() == "$and" && !all) || (e.Key() == "$or" && !any) {
				return false
			}
		default:
			path := strings.Split(e.Key(), ".")
			ops, _ := e.Value().Document().Elements()
			for _, op := range ops {
				if !evalOp(t, path, op.Key(), op.Value(), doc) {
					return false
				}
			}
		}
	}
	return true
}

func evalOp(t testing.TB, path []string, op string, arg bson.RawValue, doc bson.Raw) bool {
	t.Helper()
	switch op {
	case "$eq":
		return mongosem.MatchPath(doc, path, mongosem.EqPred(arg), mongosem.IsNullish(arg))
	case "$ne":
		return !evalOp(t, path, "$eq", arg, doc)
	case "$in":
		vals, _ := arg.Array().Values()
		for _, v := range vals {
			if evalOp(t, path, "$eq", v, doc) {
				return true
			}
		}
		return false
	case "$nin":
		return !evalOp(t, path, "$in", arg, doc)
	case "$lt", "$lte", "$gt", "$gte":
		return mongosem.MatchPath(doc, path, mongosem.CmpPred(op[1:], arg), false)
	case "$not":
		inner, _ := arg.Document().Elements()
		for _, in := range inner {
			if !evalOp(t, path, in.Key(), in.Value(), doc) {
				return true
			}
		}
		return false
	case "$regex":
		re := regexp.MustCompile(arg.StringValue())
		return mongosem.MatchPath(doc, path, func(v bson.RawValue) bool {
			s, ok := v.StringValueOK()
			return ok && re.MatchString(s)
		}, false)
	}
	t.Fatalf("the compiler emitted an operator the interpreter does not know: %s", op)
	return false
}

func FuzzCompile(f *testing.F) {
	for _, s := range diffExprs {
		f.Add(s)
	}
	f.Add(`resource.a.b == user.claims.x.y || !(resource.c in [1, "2", nil])`)
	f.Add(`(((resource.a > 1)))`)
	r := rand.New(rand.NewSource(1))
	docs := genDocs(r, 60)
	raws := make([]bson.Raw, len(docs))
	for i, d := range docs {
		raws[i], _ = bson.Marshal(d)
	}
	f.Fuzz(func(t *testing.T, src string) {
		if len(src) > 400 {
			return
		}
		sc := NewScope()
		x, err := Compile(src, sc)
		if err != nil {
			return
		}
		for _, c := range diffCallers {
			env := NewEnv(sc, c.vars, diffNow)
			st := x.State(env)
			var filter bson.Raw
			if st == Conditional {
				filter = bson.Raw(x.AppendFilter(nil, env))
				if err := filter.Validate(); err != nil {
					t.Fatalf("%q: invalid filter BSON: %v", src, err)
				}
			}
			for _, doc := range raws {
				mem := x.Match(doc, env)
				var want bool
				switch st {
				case Always:
					want = true
				case Never:
					want = false
				default:
					want = evalFilter(t, filter, doc)
				}
				if mem != want {
					t.Fatalf("%q caller %s: in-memory %v, filter %v (state %s, filter %s) on %s", src, c.name, mem, want, st, filter, doc)
				}
			}
		}
	})
}
