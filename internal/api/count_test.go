package api_test

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

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
