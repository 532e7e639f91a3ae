package hierarchy_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/hierarchy"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestBoundsAndCache(t *testing.T) {
	db := testenv.Store(t)
	ctx := t.Context()
	docs := []any{bson.D{{Key: "uid", Value: "boss"}}}
	for _, id := range []string{"a", "b", "c", "d"} {
		docs = append(docs, bson.D{{Key: "uid", Value: id}, {Key: "mgr", Value: "boss"}})
	}
	// a non-string id is ignored, not an error
	docs = append(docs, bson.D{{Key: "uid", Value: 7}, {Key: "mgr", Value: "boss"}})
	if err := db.Collection("org").InsertMany(ctx, docs, true); err != nil {
		t.Fatal(err)
	}
	r := hierarchy.New(db)
	cfg := hierarchy.Config{Collection: "org", IDField: "uid", ManagerField: "mgr", MaxDepth: 5, MaxNodes: 10, CacheTTL: time.Hour}
	v, err := r.Get(ctx, cfg, "boss")
	if err != nil {
		t.Fatal(err)
	}
	got := make([]string, 0, len(v.Subordinates))
	for _, s := range v.Subordinates {
		got = append(got, s.(string))
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"a", "b", "c", "d"}) || len(v.DirectReports) != 4 || len(v.Ancestors) != 0 {
		t.Fatalf("values %+v", v)
	}
	if a, _ := r.Get(ctx, cfg, "a"); len(a.Ancestors) != 1 || a.Ancestors[0] != "boss" || len(a.Subordinates) != 0 {
		t.Fatalf("a: %+v", a)
	}
	// More people than max_nodes: no value at all, never a truncated list.
	small := cfg
	small.MaxNodes = 3
	if _, err := r.Get(ctx, small, "boss"); !errors.Is(err, hierarchy.ErrTooLarge) {
		t.Fatalf("err = %v", err)
	}
	// Cached until invalidated.
	n := r.Lookups()
	if _, err := r.Get(ctx, cfg, "boss"); err != nil || r.Lookups() != n {
		t.Fatalf("not cached: %v %d -> %d", err, n, r.Lookups())
	}
	r.Invalidate()
	if _, err := r.Get(ctx, cfg, "boss"); err != nil || r.Lookups() != n+1 {
		t.Fatalf("not walked again after Invalidate: %v", err)
	}
}
