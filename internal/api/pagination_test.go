package api_test

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/principal"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
	"github.com/stretchr/testify/require"
)

// seedMixed inserts documents whose sort field v is missing, null, or of
// many BSON types, with duplicates, so that keyset paging has to cross type
// brackets and ties.
func seedMixed(e *env) []string {
	vals := []any{
		nil, int32(3), 2.5, int64(3), "b", "a", "", true, false,
		bson.NewDateTimeFromTime(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)),
		bson.NewDateTimeFromTime(time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC)),
		bson.ObjectID{1}, D("x", 1), D("x", 0), int32(-7), "b", 3.0,
	}
	var all []string
	for i, v := range vals {
		id := fmt.Sprintf("d%02d", i)
		all = append(all, id)
		e.insert("items", D("_id", id, "v", v, "w", i%3))
	}
	for i := range 4 { // missing v
		id := fmt.Sprintf("m%02d", i)
		all = append(all, id)
		e.insert("items", D("_id", id, "w", i%3))
	}
	return all
}

// pageAll lists with the query and page size, following cursors, and
// returns the ids in the order served.
func pageAll(t *testing.T, e *env, key, q string, limit int, between func(page int)) []string {
	t.Helper()
	var out []string
	cur := ""
	for page := 0; ; page++ {
		path := fmt.Sprintf("/collections/items?%slimit=%d", q, limit)
		if cur != "" {
			path += "&cursor=" + url.QueryEscape(cur)
		}
		r := e.do("GET", path, key, nil)
		expect(t, r, 200, "")
		out = append(out, ids(t, r.list(t))...)
		p := r.json(t)["pagination"].(map[string]any)
		if p["has_more"] != true {
			if p["cursor"] != nil {
				t.Fatalf("cursor without has_more: %s", r.Body)
			}
			return out
		}
		cur = p["cursor"].(string)
		if between != nil {
			between(page)
		}
		if page > 100 {
			t.Fatal("paging does not end")
		}
	}
}

func TestPaginationMixedTypes(t *testing.T) {
	e := newEnv(t)
	all := seedMixed(e)
	key := e.user("r", "", "reader")

	for _, sort := range []string{"", "v", "-v", "w,v", "-w,-v", "v,-w", "_id", "-_id"} {
		t.Run("sort="+sort, func(t *testing.T) {
			q := ""
			if sort != "" {
				q = "sort=" + sort + "&"
			}
			// One big page is the server's order.
			want := pageAll(t, e, key, q, testMaxLimit, nil)
			if len(want) != len(all) {
				t.Fatalf("one page has %d docs, want %d", len(want), len(all))
			}
			for _, size := range []int{1, 2, 3, 7} {
				got := pageAll(t, e, key, q, size, nil)
				if !slices.Equal(got, want) {
					t.Fatalf("limit %d:\n got %v\nwant %v", size, got, want)
				}
			}
		})
	}
}

func TestPaginationWithInserts(t *testing.T) {
	e := newEnv(t)
	all := seedMixed(e)
	key := e.user("r", "", "reader")
	n := 0
	got := pageAll(t, e, key, "sort=v&", 3, func(int) {
		// Insert documents that sort before, among and after the position.
		for _, v := range []any{nil, int32(0), "zzz", int32(100)} {
			n++
			e.insert("items", D("_id", fmt.Sprintf("new%02d", n), "v", v))
		}
	})
	seen := map[string]int{}
	for _, id := range got {
		seen[id]++
		if seen[id] > 1 {
			t.Fatalf("%s served twice: %v", id, got)
		}
	}
	for _, id := range all {
		if seen[id] != 1 {
			t.Fatalf("%s not served: %v", id, got)
		}
	}
}

func TestPaginationFilterAndPolicy(t *testing.T) {
	e := newEnv(t)
	seedEmployees(e)
	// More documents in t1 than a page.
	for i := range 7 {
		e.insert("employees", D("_id", fmt.Sprintf("p%d", i), "tenant_id", "t1", "owner", "bob", "name", fmt.Sprintf("n%d", i%3), "public", i%2 == 0))
	}
	// member too, so that the "other collection" case reaches the cursor check.
	alice := e.user("alice", "t1", "employee", "member")
	hr := e.user("h1", "t1", "hr")

	var got []string
	body := map[string]any{"sort": []string{"-name"}, "limit": 2}
	for {
		r := e.do("POST", "/collections/employees/find", alice, body)
		expect(t, r, 200, "")
		got = append(got, ids(t, r.list(t))...)
		p := r.json(t)["pagination"].(map[string]any)
		if p["has_more"] != true {
			break
		}
		body["cursor"] = p["cursor"]
	}
	slices.Sort(got)
	want := []string{"e1", "e2", "p0", "p2", "p4", "p6"}
	if !slices.Equal(got, want) {
		t.Fatalf("alice paged %v, want %v", got, want)
	}

	// A cursor only works for the query and caller it was issued for.
	r := e.do("GET", "/collections/employees?limit=1&sort=name", alice, nil)
	cur := r.json(t)["pagination"].(map[string]any)["cursor"].(string)
	expect(t, e.do("GET", "/collections/employees?limit=1&sort=name&cursor="+url.QueryEscape(cur), alice, nil), 200, "")
	for name, path := range map[string]string{
		"other sort":   "/collections/employees?limit=1&sort=-name&cursor=",
		"other filter": "/collections/employees?limit=1&sort=name&filter=" + url.QueryEscape(`{"public":true}`) + "&cursor=",
		"other coll":   "/collections/notes?limit=1&sort=name&cursor=",
	} {
		t.Run(name, func(t *testing.T) {
			expect(t, e.do("GET", path+url.QueryEscape(cur), alice, nil), 400, "INVALID_CURSOR")
		})
	}
	expect(t, e.do("GET", "/collections/employees?limit=1&sort=name&cursor="+url.QueryEscape(cur), hr, nil), 400, "INVALID_CURSOR")
	// Tampering with the payload breaks the signature.
	payload, mac, _ := strings.Cut(cur, ".")
	b := []byte(payload)
	b[len(b)/2] ^= 1
	expect(t, e.do("GET", "/collections/employees?limit=1&sort=name&cursor="+url.QueryEscape(string(b)+"."+mac), alice, nil), 400, "INVALID_CURSOR")
}

// TestPaginationArrays: sort fields holding arrays (MongoDB sorts them by
// their smallest / largest element) and paths through arrays of documents.
func TestPaginationArrays(t *testing.T) {
	e := newEnv(t)
	key := e.user("r", "", "reader")
	vals := []any{
		bson.A{int32(5), int32(1)}, bson.A{"a", int32(3)}, bson.A{int32(2), int32(9)}, int32(4), bson.A{int32(4)},
		"s", bson.A{true, "b"}, int32(0), bson.A{int32(7), int32(8), int32(-1)}, 2.5,
	}
	var all []string
	for i, v := range vals {
		id := fmt.Sprintf("a%02d", i)
		all = append(all, id)
		e.insert("items", D("_id", id, "v", v, "o", bson.A{D("k", i%4), D("k", 10-i)}))
	}
	sorts := []string{"v", "-v"}
	if testenv.Backend() != testenv.BackendFerretDB {
		// FerretDB sorts a path through an array of documents as if it
		// were missing, unlike MongoDB; the keyset logic follows MongoDB.
		sorts = append(sorts, "o.k", "-o.k", "v,-o.k")
	}
	for _, sort := range sorts {
		t.Run("sort="+sort, func(t *testing.T) {
			q := "sort=" + sort + "&"
			want := pageAll(t, e, key, q, testMaxLimit, nil)
			if len(want) != len(all) {
				t.Fatalf("one page has %d docs, want %d", len(want), len(all))
			}
			for _, size := range []int{1, 2, 3} {
				got := pageAll(t, e, key, q, size, nil)
				if !slices.Equal(got, want) {
					t.Fatalf("limit %d:\n got %v\nwant %v", size, got, want)
				}
			}
		})
	}
}

// TestListCountTotal: ?count=true (and "count": true on POST .../find)
// adds pagination.total, counted with the policy filter and the client
// filter together, the same on every page; without it there is no total.
func TestListCountTotal(t *testing.T) {
	e := newEnv(t)
	ann := e.user("ann", "t1", "member")
	for i := range 7 {
		e.insert("notes", D("_id", "a"+string(rune('0'+i)), "owner", "ann", "k", i%2))
	}
	for i := range 5 {
		e.insert("notes", D("_id", "b"+string(rune('0'+i)), "owner", "bob", "k", 1))
	}
	e.insert("notes", D("_id", "s0", "owner", "bob", "shared_with", []string{"ann"}, "k", 1))

	total := func(r resp) any {
		t.Helper()
		expect(t, r, 200, "")
		pg, _ := r.json(t)["pagination"].(map[string]any)
		return pg["total"]
	}
	// ann sees her 7 notes and the one shared with her, not bob's 5.
	r := e.do("GET", "/collections/notes?count=true&limit=3", ann, nil)
	require.EqualValues(t, 8, total(r))
	require.Len(t, r.list(t), 3)
	// With a client filter: k == 1 among what ann sees: a1, a3, a5, s0.
	f := url.QueryEscape(`{"k":1}`)
	r = e.do("GET", "/collections/notes?count=true&limit=2&filter="+f, ann, nil)
	require.EqualValues(t, 4, total(r))
	next := r.json(t)["pagination"].(map[string]any)["cursor"].(string)
	r = e.do("GET", "/collections/notes?count=true&limit=2&filter="+f+"&cursor="+url.QueryEscape(next), ann, nil)
	require.EqualValues(t, 4, total(r), "the total is of the whole query, on every page")

	r = e.do("POST", "/collections/notes/find", ann, map[string]any{"filter": map[string]any{"k": 0}, "count": true})
	require.EqualValues(t, 4, total(r)) // a0, a2, a4, a6
	// bob: 5 of his own and s0.
	bob := e.user("bob", "t1", "member")
	require.EqualValues(t, 6, total(e.do("GET", "/collections/notes?count=true", bob, nil)))

	r = e.do("GET", "/collections/notes", ann, nil)
	require.NotContains(t, r.json(t)["pagination"], "total")
	require.Nil(t, total(e.do("GET", "/collections/notes?count=false", ann, nil)))
	expect(t, e.do("GET", "/collections/notes?count=yes", ann, nil), 400, "BAD_REQUEST")
	expect(t, e.do("POST", "/collections/notes/find", ann, map[string]any{"count": "true"}), 400, "BAD_REQUEST")
	// A caller without read: 403 as for the list itself.
	nobody := e.user("zed", "t1", "viewer")
	expect(t, e.do("GET", "/collections/notes?count=true", nobody, nil), 403, "FORBIDDEN")
}

// TestCursorBoundToRolesAndClaims: a cursor issued to one principal is
// refused for the same id and tenant holding other roles or other values of
// a claim the policy reads; role order and claims no rule reads do not
// matter.
func TestCursorBoundToRolesAndClaims(t *testing.T) {
	src := `version: "1"
roles:
  clerk: {}
  boss: {}
policies:
  tickets:
    clerk:
      actions: [read]
      when: "resource.tenant_id == user.tenant_id && resource.region in user.claims.regions"
    boss:
      actions: [read]
      when: "resource.tenant_id == user.tenant_id"
`
	e := newAuditEnvWith(t, writePolicy(t, src), nil)
	for i, region := range []string{"eu", "eu", "eu", "us", "us"} {
		e.insert("tickets", D("_id", "t"+string(rune('0'+i)), "tenant_id", "t1", "region", region))
	}
	key := func(roles []string, claims map[string]any) string {
		return e.keys.Add(principal.Principal{ID: "u1", TenantID: "t1", Roles: roles, Claims: claims}, nil)
	}
	eu := map[string]any{"regions": []any{"eu"}, "session": "s1"}
	issuer := key([]string{"clerk", "boss"}, eu)

	r := e.req("GET", "/collections/tickets?limit=2&sort=_id", issuer, "", nil)
	expect(t, r, 200, "")
	cur := r.json(t)["pagination"].(map[string]any)["cursor"].(string)
	next := "/collections/tickets?limit=2&sort=_id&cursor=" + url.QueryEscape(cur)

	// Same principal, roles reordered and repeated, an unread claim changed.
	same := key([]string{"boss", "clerk", "boss"}, map[string]any{"regions": []any{"eu"}, "session": "s2"})
	expect(t, e.req("GET", next, issuer, "", nil), 200, "")
	expect(t, e.req("GET", next, same, "", nil), 200, "")

	for name, k := range map[string]string{
		"fewer roles":          key([]string{"clerk"}, eu),
		"other roles":          key([]string{"boss"}, eu),
		"other claim value":    key([]string{"clerk", "boss"}, map[string]any{"regions": []any{"us"}, "session": "s1"}),
		"claim absent":         key([]string{"clerk", "boss"}, map[string]any{"session": "s1"}),
		"claim null vs absent": key([]string{"clerk", "boss"}, map[string]any{"regions": nil, "session": "s1"}),
	} {
		r := e.req("GET", next, k, "", nil)
		if r.Status != 400 || r.code(t) != "INVALID_CURSOR" {
			t.Fatalf("%s: cursor accepted under another principal: %d %s", name, r.Status, r.Body)
		}
	}
}
