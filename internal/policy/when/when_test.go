package when

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
)

type vars map[string]any

func (v vars) Lookup(p string) (any, bool) { x, ok := v[p]; return x, ok }

func filterJSON(t *testing.T, src string, caller vars) (State, string) {
	t.Helper()
	sc := NewScope()
	x, err := Compile(src, sc)
	require.NoError(t, err, src)
	env := NewEnv(sc, caller, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	st := x.State(env)
	if st != Conditional {
		return st, ""
	}
	raw := bson.Raw(x.AppendFilter(nil, env))
	require.NoError(t, raw.Validate())
	return st, raw.String()
}

func TestSmoke(t *testing.T) {
	st, f := filterJSON(t, `resource.tenant_id == user.tenant_id && (resource.owner == user.id || resource.public == true)`, vars{"tenant_id": "t1", "id": "u1"})
	t.Log(st, f)
	st, f = filterJSON(t, `"admin" in user.roles || resource.owner == user.id`, vars{"roles": []any{"admin"}, "id": "u1"})
	t.Log(st, f)
	st, f = filterJSON(t, `!(resource.a startsWith "x.") && resource.b not in [1, 2] && resource.c < now - duration("1h")`, vars{})
	t.Log(st, f)
}
