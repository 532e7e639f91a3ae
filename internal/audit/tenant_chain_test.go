package audit_test

import (
	"context"
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
	ctx := context.Background()
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

	res := verifyAll(t, coll)
	require.True(t, res.OK, "%+v", res)
	require.Equal(t, 30, res.Checked)
	for _, tenant := range []string{"t1", "t2"} {
		res, err := audit.VerifyTenant(ctx, store.NewCollection(coll), tenant, time.Time{}, time.Time{})
		require.NoError(t, err)
		require.True(t, res.OK, "%+v", res)
		require.Equal(t, want[tenant], res.Checked, tenant)
	}
	_, err := audit.VerifyTenant(ctx, store.NewCollection(coll), "", time.Time{}, time.Time{})
	require.Error(t, err, "a tenant-scoped verification needs a tenant")

	// Remove one of t2's entries: t2's verification names the entry after
	// the gap; t1's answer is exactly what it was.
	t2 := byChain[audit.ChainOf(w.ID(), "t2")]
	_, err = coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: t2[4].ID}})
	require.NoError(t, err)
	res, err = audit.VerifyTenant(ctx, store.NewCollection(coll), "t2", time.Time{}, time.Time{})
	require.NoError(t, err)
	require.False(t, res.OK)
	require.Equal(t, t2[5].ID, res.FirstBadID)
	res, err = audit.VerifyTenant(ctx, store.NewCollection(coll), "t1", time.Time{}, time.Time{})
	require.NoError(t, err)
	require.Equal(t, audit.VerifyResult{OK: true, Checked: want["t1"]}, res)

	// Move one of t1's entries to t2 by editing its tenant: t1's chain
	// shows the gap it left, t2's the altered entry.
	t1 := byChain[audit.ChainOf(w.ID(), "t1")]
	_, err = coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: t1[2].ID}}, bson.D{{Key: "$set", Value: bson.D{{Key: "actor.tenant_id", Value: "t2"}}}})
	require.NoError(t, err)
	res, err = audit.VerifyTenant(ctx, store.NewCollection(coll), "t1", time.Time{}, time.Time{})
	require.NoError(t, err)
	require.False(t, res.OK)
	require.Equal(t, t1[3].ID, res.FirstBadID)
}

// TestVerifyTenantFlagsAnEntryFiledInAnotherChain: an entry of t1 forged
// with a recomputed hash into t2's chain is refused by t2's verification.
func TestVerifyTenantFlagsAnEntryFiledInAnotherChain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	coll := auditColl(t)
	chain := audit.ChainOf("feedfacefeedface", "t1")
	e := tenantEntry("t2", 1)
	e.Writer, e.Seq, e.TS, e.PrevHash = chain, 1, time.Now().UTC().Truncate(time.Millisecond), audit.Genesis(chain)
	e.ID = chain + "-000000000001"
	e.Hash = audit.HashOf(&e)
	_, err := coll.InsertOne(ctx, e)
	require.NoError(t, err)
	res, err := audit.VerifyTenant(ctx, store.NewCollection(coll), "t2", time.Time{}, time.Time{})
	require.NoError(t, err)
	require.False(t, res.OK)
	require.Equal(t, e.ID, res.FirstBadID)
}

// TestVerifyTenantOnAChainMixingTenants: entries written before chains were
// per tenant (one chain for all) are checked one by one for a tenant; the
// gaps left by other tenants' entries are not reported, an edited entry is.
func TestVerifyTenantOnAChainMixingTenants(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	coll := auditColl(t)
	const writer = "0123456789abcdef" // a chain name without a tenant tag
	prev := audit.Genesis(writer)
	ts := time.Now().UTC().Truncate(time.Millisecond)
	var t1 []audit.Entry
	for i := 1; i <= 9; i++ {
		e := tenantEntry([]string{"t1", "t2", "t3"}[i%3], i)
		e.Writer, e.Seq, e.TS, e.PrevHash = writer, int64(i), ts, prev
		e.ID = writer + "-00000000000" + itoa(i)
		e.Hash = audit.HashOf(&e)
		prev = e.Hash
		_, err := coll.InsertOne(ctx, e)
		require.NoError(t, err)
		if e.Actor.TenantID == "t1" {
			t1 = append(t1, e)
		}
	}
	require.True(t, verifyAll(t, coll).OK)
	res, err := audit.VerifyTenant(ctx, store.NewCollection(coll), "t1", time.Time{}, time.Time{})
	require.NoError(t, err)
	require.Equal(t, audit.VerifyResult{OK: true, Checked: 3}, res)
	_, err = coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: t1[1].ID}}, bson.D{{Key: "$set", Value: bson.D{{Key: "count", Value: 7}}}})
	require.NoError(t, err)
	res, err = audit.VerifyTenant(ctx, store.NewCollection(coll), "t1", time.Time{}, time.Time{})
	require.NoError(t, err)
	require.False(t, res.OK)
	require.Equal(t, t1[1].ID, res.FirstBadID)
}
