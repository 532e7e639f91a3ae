package pipeline

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/principal"
	"github.com/permission-mongo/permission-mongo/internal/query"
)

// FuzzRewrite feeds arbitrary Extended JSON pipelines to Rewrite. It must
// never panic; every error is a classified 400/403/413; every success starts
// with the policy $match of the collection, and every sub-pipeline that
// reads a collection starts with that collection's policy $match.
//
//	go test ./internal/pipeline -run '^$' -fuzz FuzzRewrite -fuzztime 60s
func FuzzRewrite(f *testing.F) {
	for _, tc := range goldenCases {
		f.Add(tc.pipeline)
	}
	for _, tc := range hostile {
		f.Add(tc.pipeline)
	}
	for _, tc := range harmless {
		f.Add(tc.pipeline)
	}
	set := loadPolicy(f)
	f.Fuzz(func(t *testing.T, js string) {
		d, err := query.ParseJSONDoc([]byte(`{"p": ` + js + `}`))
		if err != nil || len(d) != 1 {
			return
		}
		p, ok := d[0].Value.(bson.A)
		if !ok {
			return
		}
		acc := &policyAccess{set: set, caller: &principal.Principal{ID: "u1", TenantID: "t1", Roles: []string{"member"}}}
		out, err := Rewrite("people", p, acc, Limits{MaxLimit: 50})
		_ = StagesUsed(p)
		if err != nil {
			switch apperr.KindOf(err) {
			case apperr.KindInvalid, apperr.KindForbidden, apperr.KindTooLarge:
			default:
				t.Fatalf("unexpected error kind %v: %v", apperr.KindOf(err), err)
			}
			require.Nil(t, out)
			return
		}
		checkInvariants(t, out)
		tgt, _ := acc.For("people")
		require.Equal(t, policyMatch(tgt), out[0])
		last := out[len(out)-1].(bson.D)
		if last[0].Key == "$limit" {
			n, _ := query.AsInteger(last[0].Value)
			require.LessOrEqual(t, n, int64(50))
		} else {
			require.Equal(t, "$count", last[0].Key)
		}
		// The output is valid BSON and stable.
		_, err = bson.Marshal(bson.D{{Key: "pipeline", Value: out}})
		require.NoError(t, err)
		again, err := Rewrite("people", p, acc, Limits{MaxLimit: 50})
		require.NoError(t, err)
		require.Equal(t, out, again)
	})
}
