package api_test

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/api"
	"github.com/permission-mongo/permission-mongo/internal/auth"
	"github.com/permission-mongo/permission-mongo/internal/cursor"
	"github.com/permission-mongo/permission-mongo/internal/hierarchy"
	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/query"
	"github.com/permission-mongo/permission-mongo/internal/service"
	"github.com/permission-mongo/permission-mongo/internal/store"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

const hierarchyPolicy = `
version: "1"
roles:
  staff: {}
policies:
  people:
    staff:
      actions: [read, update]
      when: "resource.user_id == user.id || resource.user_id in user.$subordinates"
  reviews:
    staff:
      actions: [read]
      when: "resource.owner in user.$directReports"
  notices:
    staff:
      actions: [read]
      when: "resource.owner in user.$ancestors"
hierarchy:
  collection: people
  id_field: user_id
  manager_field: manager_id
  max_depth: 3
`

// newHierarchyEnv is newEnvWithPolicy with a hierarchy resolver.
func newHierarchyEnv(t *testing.T) (*env, *hierarchy.Resolver) {
	t.Helper()
	pf := filepath.Join(t.TempDir(), "policy.yml")
	if err := os.WriteFile(pf, []byte(hierarchyPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	set, err := policy.Load(pf)
	if err != nil {
		t.Fatalf("policy: %v", err)
	}
	_, db := testenv.Mongo(t)
	res := hierarchy.New(store.NewDatabase(db))
	codec := cursor.NewCodec([]byte(strings.Repeat("k", 32)))
	codec.Order = cursor.OrderOf(testenv.Backend())
	svc := service.New(service.Params{
		Store: store.NewDocuments(db, 10*time.Second), Policies: set, Cursors: codec, Hierarchy: res,
		Limits: service.Limits{DefaultLimit: 50, MaxLimit: testMaxLimit, MaxBatch: testMaxBatch, Filter: query.Limits{MaxDepth: 16, MaxRegexLength: 128, MaxInItems: 100}},
	})
	keys := &memKeys{recs: map[string]*auth.KeyRecord{}}
	srv := httptest.NewServer(api.New(api.Params{Service: svc, Auth: &auth.Authenticator{Keys: keys}, MaxBodyBytes: testMaxBody}))
	t.Cleanup(srv.Close)
	e := &env{t: t, srv: srv, db: db, keys: keys, svc: svc}
	// boss <- m1 <- {e1, e2}; x alone; c1 <-> c2 a cycle; d0 <- d1 <- d2 <- d3 <- d4 deeper than max_depth.
	for _, p := range [][2]string{{"boss", ""}, {"m1", "boss"}, {"e1", "m1"}, {"e2", "m1"}, {"x", ""},
		{"c1", "c2"}, {"c2", "c1"}, {"d0", ""}, {"d1", "d0"}, {"d2", "d1"}, {"d3", "d2"}, {"d4", "d3"}} {
		d := D("_id", p[0], "user_id", p[0])
		if p[1] != "" {
			d = append(d, bson.E{Key: "manager_id", Value: p[1]})
		}
		e.insert("people", d)
	}
	for _, o := range []string{"boss", "m1", "e1", "x"} {
		e.insert("reviews", D("_id", "r-"+o, "owner", o))
		e.insert("notices", D("_id", "n-"+o, "owner", o))
	}
	return e, res
}

func (e *env) listIDs(coll, key string) []string {
	e.t.Helper()
	r := e.do("GET", "/collections/"+coll+"?limit=50", key, nil)
	expect(e.t, r, 200, "")
	got := ids(e.t, r.list(e.t))
	sort.Strings(got)
	return got
}

func TestHierarchyVariables(t *testing.T) {
	e, res := newHierarchyEnv(t)
	key := map[string]string{}
	for _, u := range []string{"boss", "m1", "e1", "x", "c1", "d0", "nobody"} {
		key[u] = e.user(u, "t1", "staff")
	}
	for _, tc := range []struct {
		user, coll string
		want       []string
	}{
		{"boss", "people", []string{"boss", "e1", "e2", "m1"}},
		{"m1", "people", []string{"e1", "e2", "m1"}},
		{"e1", "people", []string{"e1"}},
		{"x", "people", []string{"x"}},
		{"nobody", "people", nil},
		// a cycle terminates, and nobody is their own subordinate twice
		{"c1", "people", []string{"c1", "c2"}},
		// max_depth: 3 levels down
		{"d0", "people", []string{"d0", "d1", "d2", "d3"}},
		{"boss", "reviews", []string{"r-m1"}},
		{"m1", "reviews", []string{"r-e1"}},
		{"e1", "notices", []string{"n-boss", "n-m1"}},
		{"boss", "notices", nil},
	} {
		if got := e.listIDs(tc.coll, key[tc.user]); !slices.Equal(got, tc.want) {
			t.Errorf("%s lists %s: got %v, want %v", tc.user, tc.coll, got, tc.want)
		}
	}
	// Single reads agree with lists: a document outside the hierarchy is a 404.
	expect(t, e.do("GET", "/collections/people/e1", key["boss"], nil), 200, "")
	expect(t, e.do("GET", "/collections/people/x", key["boss"], nil), 404, "NOT_FOUND")

	// Cached: listing again does not walk again.
	before := res.Lookups()
	e.listIDs("people", key["boss"])
	if res.Lookups() != before {
		t.Fatalf("hierarchy walked again within cache_ttl (%d -> %d)", before, res.Lookups())
	}
	// A change through the proxy invalidates at once: boss moves e2 under x.
	expect(t, e.do("PATCH", "/collections/people/e2", key["boss"], `{"$set": {"manager_id": "x"}}`), 200, "")
	if got := e.listIDs("people", key["boss"]); !slices.Equal(got, []string{"boss", "e1", "m1"}) {
		t.Fatalf("after the move boss lists %v", got)
	}
	if got := e.listIDs("people", key["x"]); !slices.Equal(got, []string{"e2", "x"}) {
		t.Fatalf("after the move x lists %v", got)
	}
	// A change made outside the proxy shows once the cache is dropped.
	if _, err := e.db.Collection("people").UpdateOne(t.Context(), D("_id", "e1"), D("$set", D("manager_id", "x"))); err != nil {
		t.Fatal(err)
	}
	res.Invalidate()
	if got := e.listIDs("people", key["x"]); !slices.Equal(got, []string{"e1", "e2", "x"}) {
		t.Fatalf("after invalidation x lists %v", got)
	}
}

// Without a hierarchy section, the variables are a load error; a claim
// named like one cannot stand in for it.
func TestHierarchyNeedsSection(t *testing.T) {
	_, err := policy.Parse(map[string][]byte{"p.yml": []byte(`
roles: {staff: {}}
policies:
  people:
    staff: {actions: [read], when: "resource.owner in user.$subordinates"}
`)})
	if err == nil || !strings.Contains(err.Error(), "p.yml:5:") || !strings.Contains(err.Error(), "need a hierarchy: section") {
		t.Fatalf("err = %v", err)
	}
	e, _ := newHierarchyEnv(t)
	k := e.keys.add(principalFor("e1", "t1", "staff"), func(r *keyRecord) {
		r.Principal.Claims = map[string]any{"$subordinates": []any{"x", "boss"}}
	})
	if got := e.listIDs("people", k); !slices.Equal(got, []string{"e1"}) {
		t.Fatalf("a claim widened the hierarchy: %v", got)
	}
}
