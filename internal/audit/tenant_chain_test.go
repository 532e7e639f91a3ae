package audit_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/audit"
	"github.com/permission-mongo/permission-mongo/internal/store"
)

func tenantEntry(tenant string, i int) audit.Entry {
	e := entry("find", "c", i)
	e.Actor.TenantID = tenant
	return e
}

// TestChainsPerTenant: interleaved entries of two tenants and of no tenant
// go into three chains, each numbered from 1 without gaps and linked only to
// its own entries; a tenant's verification counts only its entries and does
// not change when another tenant's chain is broken.
func TestChainsPerTenant(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	coll := auditColl(t)
	w := newWriter(t, coll, audit.Options{})
	want := map[string]int{}
	for i := range 30 {
		tenant := []string{"t1", "t2", "t2", ""}[i%4]
		require.NoError(t, w.Record(ctx, tenantEntry(tenant, i)))
		want[tenant]++
	}
	closeWriter(t, w)

	byChain := map[string][]audit.Entry{}
	for _, e := range stored(t, coll) {
		byChain[e.Writer] = append(byChain[e.Writer], e)
	}
	require.Len(t, byChain, 3)
	for tenant, n := range want {
		chain := audit.ChainOf(w.ID(), tenant)
		es := byChain[chain]
		require.Len(t, es, n, "chain of %q", tenant)
		prev := audit.Genesis(chain)
		for i, e := range es {
			require.Equal(t, tenant, e.Actor.TenantID)
			require.EqualValues(t, i+1, e.Seq, "no gaps: the chain holds no other tenant's entries")
			require.Equal(t, prev, e.PrevHash)
			prev = e.Hash
		}
	}
	require.Equal(t, w.ID(), audit.ChainOf(w.ID(), ""))
	heads := w.Heads()
	require.Len(t, heads, 3)
	require.Equal(t, w.ID(), heads[0].Chain)
	require.EqualValues(t, want[""], heads[0].Seq)

	requireIntact(t, coll, 30)
	for _, tenant := range []string{"t1", "t2"} {
		res := verifyTenant(t, coll, tenant)
		require.True(t, res.OK, "%+v", res)
		require.Equal(t, want[tenant], res.Checked, tenant)
	}
	_, err := audit.VerifyTenant(ctx, store.NewCollection(coll), "", time.Time{}, time.Time{})
	require.Error(t, err, "a tenant-scoped verification needs a tenant")

	// Remove one of t2's entries: t2's verification names the entry after
	// the gap; t1's answer is exactly what it was.
	t2 := byChain[audit.ChainOf(w.ID(), "t2")]
	tamperDelete(t, coll, t2[4].ID)
	res := verifyTenant(t, coll, "t2")
	requireBrokenAt(t, res, t2[5].ID)
	res = verifyTenant(t, coll, "t1")
	require.Equal(t, audit.VerifyResult{OK: true, Checked: want["t1"]}, res)

	// Move one of t1's entries to t2 by editing its tenant: t1's chain
	// shows the gap it left, t2's the altered entry.
	t1 := byChain[audit.ChainOf(w.ID(), "t1")]
	tamperSet(t, coll, t1[2].ID, bson.D{{Key: "actor.tenant_id", Value: "t2"}})
	res = verifyTenant(t, coll, "t1")
	requireBrokenAt(t, res, t1[3].ID)
}

// TestVerifyTenantFlagsAnEntryFiledInAnotherChain: an entry of t1 forged
// with a recomputed hash into t2's chain is refused by t2's verification.
func TestVerifyTenantFlagsAnEntryFiledInAnotherChain(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	coll := auditColl(t)
	chain := audit.ChainOf("feedfacefeedface", "t1")
	e := tenantEntry("t2", 1)
	e.Writer, e.Seq, e.TS, e.PrevHash = chain, 1, time.Now().UTC().Truncate(time.Millisecond), audit.Genesis(chain)
	e.ID = chain + "-000000000001"
	e.Hash = audit.HashOf(&e)
	_, err := coll.InsertOne(ctx, e)
	require.NoError(t, err)
	res := verifyTenant(t, coll, "t2")
	requireBrokenAt(t, res, e.ID)
}

// TestVerifyTenantOnAChainMixingTenants: entries written before chains were
// per tenant (one chain for all) are checked one by one for a tenant; the
// gaps left by other tenants' entries are not reported, an edited entry is.
func TestVerifyTenantOnAChainMixingTenants(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	coll := auditColl(t)
	const writer = "0123456789abcdef" // a chain name without a tenant tag
	prev := audit.Genesis(writer)
	ts := time.Now().UTC().Truncate(time.Millisecond)
	var t1 []audit.Entry
	for i := 1; i <= 9; i++ {
		e := tenantEntry([]string{"t1", "t2", "t3"}[i%3], i)
		e.Writer, e.Seq, e.TS, e.PrevHash = writer, int64(i), ts, prev
		e.ID = writer + "-00000000000" + strconv.Itoa(i)
		e.Hash = audit.HashOf(&e)
		prev = e.Hash
		_, err := coll.InsertOne(ctx, e)
		require.NoError(t, err)
		if e.Actor.TenantID == "t1" {
			t1 = append(t1, e)
		}
	}
	require.True(t, verifyAll(t, coll).OK)
	res := verifyTenant(t, coll, "t1")
	require.Equal(t, audit.VerifyResult{OK: true, Checked: 3}, res)
	tamperSet(t, coll, t1[1].ID, bson.D{{Key: "count", Value: 7}})
	res = verifyTenant(t, coll, "t1")
	requireBrokenAt(t, res, t1[1].ID)
}
