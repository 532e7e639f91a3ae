package policy

import (
	"strings"
	"testing"
	"time"
)

func TestHierarchySection(t *testing.T) {
	set, err := Parse(map[string][]byte{"p.yml": []byte(`
roles: {staff: {}}
policies:
  people:
    staff: {actions: [read], when: "resource.owner in user.$subordinates || resource.owner in user.$ancestors"}
hierarchy: {collection: people, id_field: user_id, manager_field: boss.id, cache_ttl: 5s}
`)})
	if err != nil {
		t.Fatal(err)
	}
	h := set.Hierarchy
	if h == nil || h.Collection != "people" || h.ManagerField != "boss.id" || h.MaxDepth != DefaultHierarchyDepth || h.CacheTTL != 5*time.Second {
		t.Fatalf("hierarchy %+v", h)
	}
	_, err = Parse(map[string][]byte{"p.yml": []byte(`
roles: {staff: {}}
policies:
  people:
    staff: {actions: [read], when: "resource.owner in user.$directReports"}
hierarchy:
  collection: pm_api_keys
  manager_field: $x
  max_depth: 0
  cache_ttl: soon
  colour: blue
`)})
	if err == nil {
		t.Fatal("bad hierarchy loaded")
	}
	for _, want := range []string{
		`p.yml:7:3: hierarchy.id_field is required`,
		`p.yml:7:15: hierarchy.collection "pm_api_keys" is not a document collection`,
		`p.yml:8:18: hierarchy.manager_field: invalid field path "$x"`,
		`p.yml:9:14: hierarchy.max_depth must be a whole number from 1 to 1000`,
		`p.yml:10:14: hierarchy.cache_ttl must be a duration`,
		`p.yml:11:3: unknown key "colour" in hierarchy`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}
