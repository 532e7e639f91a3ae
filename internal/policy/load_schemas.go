package policy

import (
	"fmt"

	"github.com/permission-mongo/permission-mongo/internal/schema"
)

// buildSchemas loads the `schemas:` sections (internal/schema) and checks
// what only the whole policy set can tell: a schema or a ref naming a
// collection no policy covers is useless (every write to it, or every ref
// check, would be refused), so it is reported like a misspelt name.
func (l *loader) buildSchemas(srcs []schema.Source) {
	set, probs := schema.Parse(srcs)
	for _, p := range probs {
		l.probs = append(l.probs, Problem{Pos{File: p.Pos.File, Line: p.Pos.Line, Col: p.Pos.Col}, p.Msg})
	}
	l.set.Schemas = set
	covered := func(coll string) bool {
		_, ok := l.set.Collections[coll]
		return ok || !l.set.Defaults.DenyUnlistedCollections
	}
	for name, c := range set.Collections {
		if !covered(name) {
			l.probs = append(l.probs, Problem{Pos{File: c.Pos.File, Line: c.Pos.Line, Col: c.Pos.Col},
				fmt.Sprintf("schema for collection %q, which has no policy", name)})
		}
		for _, rv := range refsOf(c) {
			if !covered(rv.Ref.Collection) {
				l.probs = append(l.probs, Problem{Pos{File: rv.Pos.File, Line: rv.Pos.Line, Col: rv.Pos.Col},
					fmt.Sprintf("%s: ref names collection %q, which has no policy", rv.Path, rv.Ref.Collection)})
			}
		}
	}
}

func refsOf(c *schema.Collection) []*schema.Field {
	var out []*schema.Field
	var rec func(fs []*schema.Field)
	var one func(f *schema.Field)
	one = func(f *schema.Field) {
		if f.Ref != nil {
			out = append(out, f)
		}
		if f.Items != nil {
			one(f.Items)
		}
		if f.Object != nil {
			rec(f.Object.Fields)
		}
	}
	rec = func(fs []*schema.Field) {
		for _, f := range fs {
			one(f)
		}
	}
	rec(c.Fields)
	return out
}
