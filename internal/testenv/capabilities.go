package testenv

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/permission-mongo/permission-mongo/internal/store"
)

// Capability names a test can require. The first four are the server's
// (store.Probe, what the proxy itself switches on); the rest matter only to
// tests and are probed here by running the feature once in a scratch database.
const (
	CapLookup         = store.CapLookup
	CapUserManagement = store.CapUserManagement
	CapCustomRoles    = store.CapCustomRoles
	CapTransactions   = store.CapTransactions
	// CapGraphLookup .. CapReplaceRoot: the aggregation stage runs.
	CapGraphLookup    = "graph_lookup"
	CapUnionWith      = "union_with"
	CapFacet          = "facet"
	CapReplaceRoot    = "replace_root"
	CapGroupAvg       = "group_avg"  // $group with $avg
	CapGroupPush      = "group_push" // $group with $push
	CapPipelineUpdate = "pipeline_update"
	// CapTTLIndex: createIndexes accepts expireAfterSeconds.
	CapTTLIndex = "ttl_index"
)

// allCapabilities is every name RequireCapability accepts, in report order.
var allCapabilities = []string{
	CapLookup, CapGraphLookup, CapUnionWith, CapFacet, CapReplaceRoot, CapGroupAvg, CapGroupPush,
	CapPipelineUpdate, CapTTLIndex, CapUserManagement, CapCustomRoles, CapTransactions,
}

// declaredGaps is what each engine this project is tested on lacks, as
// measured. It is data, not a guess: TestDeclaredGaps fails when an engine
// gains a capability declared missing here (remove the line and let the
// skipped tests run) and when it lacks one not declared (a regression, or a
// probe that broke). On any other server (a user's MongoDB) a missing
// capability skips without that check, since topology decides some of them.
var declaredGaps = map[string][]string{
	store.BackendFerretDB: {
		CapLookup, CapGraphLookup, CapUnionWith, CapFacet, CapReplaceRoot, CapGroupAvg, CapGroupPush,
		CapPipelineUpdate, CapTTLIndex, CapUserManagement, CapCustomRoles, CapTransactions,
	},
	store.BackendDocumentDB: {CapCustomRoles, CapTransactions},
}

// DeclaredGaps returns the capabilities declared missing for backend, sorted.
func DeclaredGaps(backend string) []string {
	g := slices.Clone(declaredGaps[backend])
	sort.Strings(g)
	return g
}

// HasDeclaredGaps reports whether backend is one whose gaps are declared.
func HasDeclaredGaps(backend string) bool {
	_, ok := declaredGaps[backend]
	return ok
}

// Has reports whether the test server has the named capability.
func Has(t testing.TB, name string) bool {
	t.Helper()
	checkName(t, name)
	if err := setup(); err != nil {
		t.Fatalf("testenv: MongoDB test server: %v", err)
	}
	return extra[name]
}

// Missing returns the capabilities the test server lacks, sorted.
func Missing(t testing.TB) []string {
	t.Helper()
	if err := setup(); err != nil {
		t.Fatalf("testenv: MongoDB test server: %v", err)
	}
	var out []string
	for _, n := range allCapabilities {
		if !extra[n] {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// RequireCapability skips the test, naming the capability, when the test
// server lacks it and that gap is declared for its engine. A gap that is not
// declared for an engine whose gaps are known fails the test instead: a
// capability that disappears must be seen, not skipped. A name it does not
// know fails the test: a typo must not silently skip.
func RequireCapability(t testing.TB, name string) {
	t.Helper()
	if Has(t, name) {
		return
	}
	b := Backend()
	if HasDeclaredGaps(b) && !slices.Contains(declaredGaps[b], name) {
		t.Fatalf("testenv: capability %s missing on backend %s, which is declared to have it", name, b)
	}
	t.Skipf("capability %s missing on backend %s", name, b)
}

// RequireMissing is for tests of how the proxy behaves without a capability
// (a 501 naming it, say): it skips, naming the capability, where the server
// has it.
func RequireMissing(t testing.TB, name string) {
	t.Helper()
	if Has(t, name) {
		t.Skipf("capability %s present on backend %s: this test covers servers without it", name, Backend())
	}
}

func checkName(t testing.TB, name string) {
	t.Helper()
	if !slices.Contains(allCapabilities, name) {
		t.Fatalf("testenv: unknown capability %q (known: %s)", name, strings.Join(allCapabilities, ", "))
	}
}

// probeExtra runs each test-only capability once in a scratch database that
// it drops afterwards. Any answer other than success counts as missing: a
// server that rejects a probe in its own way must not break the suite.
// Only an unreachable server is an error.
func probeExtra(ctx context.Context, c *mongo.Client, caps store.Capabilities) (map[string]bool, error) {
	db := c.Database(UniqueName("pmtest_probe_"))
	defer func() { _ = db.Drop(context.WithoutCancel(ctx)) }()
	coll := db.Collection("c")
	if _, err := coll.InsertMany(ctx, []any{
		bson.D{{Key: "_id", Value: 1}, {Key: "p", Value: nil}, {Key: "n", Value: 2}, {Key: "u", Value: "a"}},
		bson.D{{Key: "_id", Value: 2}, {Key: "p", Value: 1}, {Key: "n", Value: 4}, {Key: "u", Value: "b"}},
	}); err != nil {
		return nil, fmt.Errorf("probe test server: %w", err)
	}
	agg := func(stage bson.D) error {
		cur, err := coll.Aggregate(ctx, mongo.Pipeline{stage})
		if err != nil {
			return err
		}
		var out []bson.M
		return cur.All(ctx, &out)
	}
	probes := map[string]func() error{
		CapGraphLookup: func() error {
			return agg(bson.D{{Key: "$graphLookup", Value: bson.D{{Key: "from", Value: "c"},
				{Key: "startWith", Value: "$p"}, {Key: "connectFromField", Value: "p"},
				{Key: "connectToField", Value: "_id"}, {Key: "as", Value: "g"}}}})
		},
		CapUnionWith: func() error { return agg(bson.D{{Key: "$unionWith", Value: "c"}}) },
		CapFacet: func() error {
			return agg(bson.D{{Key: "$facet", Value: bson.D{{Key: "a", Value: bson.A{bson.D{{Key: "$limit", Value: 1}}}}}}})
		},
		CapReplaceRoot: func() error {
			return agg(bson.D{{Key: "$replaceRoot", Value: bson.D{{Key: "newRoot", Value: bson.D{{Key: "x", Value: "$n"}}}}}})
		},
		CapGroupAvg: func() error {
			return agg(bson.D{{Key: "$group", Value: bson.D{{Key: "_id", Value: nil}, {Key: "a", Value: bson.D{{Key: "$avg", Value: "$n"}}}}}})
		},
		CapGroupPush: func() error {
			return agg(bson.D{{Key: "$group", Value: bson.D{{Key: "_id", Value: nil}, {Key: "a", Value: bson.D{{Key: "$push", Value: "$n"}}}}}})
		},
		CapPipelineUpdate: func() error {
			_, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}},
				mongo.Pipeline{{{Key: "$set", Value: bson.D{{Key: "m", Value: "$n"}}}}})
			return err
		},
		CapTTLIndex: func() error {
			_, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "t", Value: 1}},
				Options: options.Index().SetExpireAfterSeconds(3600)})
			return err
		},
	}
	got := map[string]bool{
		CapLookup:         caps.Lookup,
		CapUserManagement: caps.UserManagement,
		CapCustomRoles:    caps.CustomRoles,
		CapTransactions:   caps.Transactions,
	}
	for name, probe := range probes {
		err := probe()
		if err != nil && store.IsUnreachable(err) {
			return nil, fmt.Errorf("probe test server (%s): %w", name, err)
		}
		got[name] = err == nil
	}
	return got, nil
}
