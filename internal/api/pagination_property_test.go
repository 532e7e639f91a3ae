package api_test

import (
	"fmt"
	"math/rand"
	"slices"
	"sort"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestPaginationProperty: random collections (sort fields missing, null, of
// mixed types, arrays), random sorts and random page sizes; paging through
// the API returns exactly the documents the caller may see — every one
// once — in the order one big page gives.
func TestPaginationProperty(t *testing.T) {
	e := newEnv(t)
	r := rand.New(rand.NewSource(11))
	value := func() any {
		switch r.Intn(9) {
		case 0:
			return nil
		case 1:
			return int32(r.Intn(4))
		case 2:
			return float64(r.Intn(8)) / 2
		case 3:
			return []string{"a", "b", "B", ""}[r.Intn(4)]
		case 4:
			return r.Intn(2) == 0
		case 5:
			return bson.NewDateTimeFromTime(time.Date(2026, 1, 1+r.Intn(3), 0, 0, 0, 0, time.UTC))
		case 6:
			return bson.A{int32(r.Intn(4)), "x"}
		case 7:
			return bson.A{}
		}
		return bson.D{{Key: "k", Value: int32(r.Intn(2))}}
	}
	var visible []string
	for i := 0; i < 120; i++ {
		id := fmt.Sprintf("e%03d", i)
		tenant := []string{"t1", "t2"}[r.Intn(2)]
		d := bson.D{{Key: "_id", Value: id}, {Key: "tenant_id", Value: tenant}}
		for _, f := range []string{"a", "b"} {
			if r.Intn(5) != 0 {
				d = append(d, bson.E{Key: f, Value: value()})
			}
		}
		e.insert("employees", d)
		if tenant == "t1" {
			visible = append(visible, id)
		}
	}
	sort.Strings(visible)
	key := e.user("h", "t1", "hr")
	sorts := []string{"", "a", "-a", "b,a", "-b,a", "a,-b", "-_id"}
	for round := 0; round < 12; round++ {
		s := sorts[r.Intn(len(sorts))]
		q := ""
		if s != "" {
			q = "sort=" + s + "&"
		}
		all := pageAllColl(t, e, "employees", key, q, 100)
		got := slices.Clone(all)
		slices.Sort(got)
		if !slices.Equal(got, visible) {
			t.Fatalf("sort %q: one page holds %v, want the visible set %v", s, got, visible)
		}
		limit := 1 + r.Intn(13)
		paged := pageAllColl(t, e, "employees", key, q, limit)
		if !slices.Equal(paged, all) {
			t.Fatalf("sort %q limit %d:\n got %v\nwant %v", s, limit, paged, all)
		}
	}
}

// pageAllColl is pageAll for any collection.
func pageAllColl(t *testing.T, e *env, coll, key, q string, limit int) []string {
	t.Helper()
	var out []string
	cur := ""
	for page := 0; page < 500; page++ {
		path := fmt.Sprintf("/collections/%s?%slimit=%d", coll, q, limit)
		if cur != "" {
			path += "&cursor=" + cur
		}
		r := e.do("GET", path, key, nil)
		expect(t, r, 200, "")
		out = append(out, ids(t, r.list(t))...)
		p := r.json(t)["pagination"].(map[string]any)
		if p["has_more"] != true {
			return out
		}
		cur = p["cursor"].(string)
	}
	t.Fatal("paging does not end")
	return nil
}
