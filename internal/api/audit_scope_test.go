package api_test

import (
	"context"
	"fmt"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/audit"
)

// TestAuditVerifyAndSequencesScopedToTenant: what a tenant's auditor gets
// from /audit/verify and from the entries' seq, id and prev_hash does not
// move with another tenant's activity: the count is of the tenant's entries,
// the sequence has no gaps where other tenants' entries were, and a broken
// entry of another tenant is that tenant's finding only.
func TestAuditVerifyAndSequencesScopedToTenant(t *testing.T) {
	e := newAuditEnv(t)
	ann := e.user("ann", "t1", "member")
	bob := e.user("bob", "t2", "member")
	aud1 := e.user("aud1", "t1", "auditor")
	aud2 := e.user("aud2", "t2", "auditor")
	for i := range 7 {
		if i < 3 {
			expect(t, e.req("POST", "/collections/docs", ann, "", map[string]any{"_id": fmt.Sprintf("a%d", i)}), 201, "")
		}
		expect(t, e.req("POST", "/collections/docs", bob, "", map[string]any{"_id": fmt.Sprintf("b%d", i)}), 201, "")
	}
	entriesN(t, e.coll, 10)

	verify := func(key string) map[string]any {
		t.Helper()
		r := e.req("GET", "/audit/verify", key, "", nil)
		expect(t, r, 200, "")
		return r.data(t)
	}
	d := verify(aud1)
	require.Equal(t, true, d["ok"], "%v", d)
	require.EqualValues(t, 3, d["checked"], "only t1's entries are counted")

	// bob's activity does not show in t1's answer: one more entry (the
	// verification above), whatever bob did meanwhile.
	for i := range 20 {
		expect(t, e.req("GET", fmt.Sprintf("/collections/docs/b%d", i%7), bob, "", nil), 200, "")
	}
	entriesN(t, e.coll, 31)
	d = verify(aud1)
	require.Equal(t, true, d["ok"], "%v", d)
	require.EqualValues(t, 4, d["checked"])

	// t1's entries as its auditor reads them: per chain, seq 1, 2, 3, ...
	// and each prev_hash the hash of the entry before, the first one the
	// chain's genesis: nothing in between that the auditor cannot see.
	entriesN(t, e.coll, 32)
	r := e.req("GET", "/audit?limit=100", aud1, "", nil)
	expect(t, r, 200, "")
	type shown struct {
		ID, Writer, Hash, Prev string
		Seq                    int64
	}
	chains := map[string][]shown{}
	for _, x := range r.list(t) {
		m := x.(map[string]any)
		require.Equal(t, "t1", m["actor"].(map[string]any)["tenant_id"])
		s := shown{ID: m["id"].(string), Writer: m["writer"].(string), Hash: m["hash"].(string),
			Prev: m["prev_hash"].(string), Seq: int64(m["seq"].(float64))}
		chains[s.Writer] = append(chains[s.Writer], s)
	}
	require.Len(t, chains, 1, "one proxy, one chain for t1")
	for writer, es := range chains {
		sort.Slice(es, func(i, j int) bool { return es[i].Seq < es[j].Seq })
		require.Len(t, es, 5) // 3 creates, 2 verifications
		prev := audit.Genesis(writer)
		for i, s := range es {
			require.EqualValues(t, i+1, s.Seq, "a gap in t1's sequence would count other tenants' entries")
			require.Equal(t, prev, s.Prev, "t1's entry links to an entry t1 cannot see")
			prev = s.Hash
		}
	}

	// Remove one of bob's entries: t2's auditor is told, t1's is not.
	var victim audit.Entry
	require.NoError(t, e.coll.FindOne(context.Background(), bson.D{{Key: "actor.tenant_id", Value: "t2"}, {Key: "seq", Value: 5}}).Decode(&victim))
	_, err := e.coll.DeleteOne(context.Background(), bson.D{{Key: "_id", Value: victim.ID}})
	require.NoError(t, err)
	d = verify(aud2)
	require.Equal(t, false, d["ok"], "%v", d)
	require.Equal(t, fmt.Sprintf("%s-%012d", victim.Writer, 6), d["first_bad_id"])
	entriesN(t, e.coll, 33) // 33 stored, one deleted, aud2's verification
	d = verify(aud1)
	require.Equal(t, true, d["ok"], "%v", d)
	require.EqualValues(t, 6, d["checked"]) // 3 creates, 2 verifications, 1 list
	require.NotContains(t, d, "first_bad_id")
}
