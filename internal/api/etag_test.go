package api_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// withIfMatch sends a JSON request with an If-Match header ("" for none).
func (e *env) withIfMatch(method, path, key, ifMatch string, body any) resp {
	e.t.Helper()
	return e.request(method, path, key, body, header("If-Match", ifMatch))
}

// TestETagIfMatchOnEveryWrite: GET gives a strong ETag; a write with the
// current tag succeeds and answers the new one; a stale, weak or
// mismatching tag is a 412 that writes nothing; a malformed If-Match is a
// 400; no If-Match keeps writes unconditional.
func TestETagIfMatchOnEveryWrite(t *testing.T) {
	e := newEnv(t)
	ann := e.user("ann", "t1", "member")
	r := e.do("POST", "/collections/notes", ann, map[string]any{"_id": "n1", "title": "a", "n": 0})
	expect(t, r, 201, "")
	created := r.Header.Get("ETag")

	get := func() string {
		t.Helper()
		r := e.do("GET", "/collections/notes/n1", ann, nil)
		expect(t, r, 200, "")
		tag := r.Header.Get("ETag")
		require.Regexp(t, `^"[A-Za-z0-9_-]+"$`, tag, "a strong, quoted ETag")
		return tag
	}
	t0 := get()
	require.Equal(t, t0, created, "create answers the tag GET gives")
	require.Equal(t, t0, get(), "the tag is stable while the document is")

	// PATCH with the current tag: 200, and the answer carries the new tag.
	r = e.withIfMatch("PATCH", "/collections/notes/n1", ann, t0, map[string]any{"title": "b"})
	expect(t, r, 200, "")
	t1 := r.Header.Get("ETag")
	require.NotEmpty(t, t1)
	require.NotEqual(t, t0, t1, "a write changes the tag")
	require.Equal(t, t1, get(), "the tag a write answers is the one GET gives")

	// Stale tag: 412 on PATCH, PUT and DELETE, and nothing written.
	for _, m := range []string{"PATCH", "PUT", "DELETE"} {
		var body any
		if m != "DELETE" {
			body = map[string]any{"title": "stale-" + m}
		}
		r = e.withIfMatch(m, "/collections/notes/n1", ann, t0, body)
		expect(t, r, http.StatusPreconditionFailed, "PRECONDITION_FAILED")
		require.Equal(t, "b", e.raw("notes", "n1")["title"], "%s with a stale tag wrote", m)
	}
	// A weak tag never passes the strong comparison If-Match requires;
	// one tag in a list that matches does.
	expect(t, e.withIfMatch("PATCH", "/collections/notes/n1", ann, "W/"+t1, map[string]any{"title": "w"}), 412, "PRECONDITION_FAILED")
	r = e.withIfMatch("PUT", "/collections/notes/n1", ann, `"nope", `+t1, map[string]any{"title": "c", "owner": "ann"})
	expect(t, r, 200, "")
	require.Equal(t, "c", e.raw("notes", "n1")["title"])
	t2 := r.Header.Get("ETag")
	require.Equal(t, t2, get())

	for _, bad := range []string{"abc", `"un"closed"`, ","} {
		expect(t, e.withIfMatch("PATCH", "/collections/notes/n1", ann, bad, map[string]any{"title": "x"}), 400, "BAD_REQUEST")
	}
	require.Equal(t, "c", e.raw("notes", "n1")["title"])

	// "*" matches any current document; no If-Match is unconditional.
	expect(t, e.withIfMatch("PATCH", "/collections/notes/n1", ann, "*", map[string]any{"title": "d"}), 200, "")
	expect(t, e.withIfMatch("PATCH", "/collections/notes/n1", ann, "", map[string]any{"title": "e"}), 200, "")

	// Someone else's note: 404 whatever the tag, never 412 (which would
	// reveal that it exists).
	bob := e.user("bob", "t1", "member")
	expect(t, e.withIfMatch("PATCH", "/collections/notes/n1", bob, `"x"`, map[string]any{"title": "b"}), 404, "NOT_FOUND")
	expect(t, e.withIfMatch("DELETE", "/collections/notes/n1", bob, get(), nil), 404, "NOT_FOUND")

	// DELETE with the current tag (a collection without versions).
	expect(t, e.withIfMatch("DELETE", "/collections/notes/n1", ann, get(), nil), 200, "")
	expect(t, e.do("GET", "/collections/notes/n1", ann, nil), 404, "NOT_FOUND")
}

// TestIfMatchIsAtomicWithTheWrite: many writers holding the same tag race;
// exactly one wins. A check done apart from the write would let several
// through.
func TestIfMatchIsAtomicWithTheWrite(t *testing.T) {
	e := newEnv(t)
	ann := e.user("ann", "t1", "member")
	expect(t, e.do("POST", "/collections/notes", ann, map[string]any{"_id": "race", "n": 0}), 201, "")
	tag := e.do("GET", "/collections/notes/race", ann, nil).Header.Get("ETag")
	const writers = 8
	var wg sync.WaitGroup
	statuses := make(chan int, writers)
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := e.newRequest("PATCH", "/collections/notes/race", ann, map[string]any{"$inc": map[string]any{"n": 1}}, map[string]string{"If-Match": tag})
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				statuses <- 0
				return
			}
			res.Body.Close()
			statuses <- res.StatusCode
		}()
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	require.Equal(t, map[int]int{200: 1, 412: writers - 1}, count)
	require.EqualValues(t, 1, e.raw("notes", "race")["n"])
}

// TestIfMatchOnRestore: restore honours If-Match like PUT; restoring a
// deleted document under If-Match is a 412 (it has no current state).
func TestIfMatchOnRestore(t *testing.T) {
	e := newAuditEnv(t)
	ann := e.user("ann", "t1", "member")
	e.insert("docs", D("_id", "x", "tenant_id", "t1", "title", "v0"))
	tag0 := e.req("GET", "/collections/docs/x", ann, "", nil).Header.Get("ETag")
	expect(t, e.req("PATCH", "/collections/docs/x", ann, "", map[string]any{"title": "v1"}), 200, "")

	restore := func(ifMatch string) resp {
		return e.withIfMatch("POST", "/collections/docs/x/versions/1/restore", ann, ifMatch, nil)
	}
	expect(t, restore(tag0), 412, "PRECONDITION_FAILED")
	require.Equal(t, "v1", e.raw("docs", "x")["title"])
	cur := e.req("GET", "/collections/docs/x", ann, "", nil).Header.Get("ETag")
	r := restore(cur)
	expect(t, r, 200, "")
	require.Equal(t, "v0", e.raw("docs", "x")["title"])
	require.NotEqual(t, cur, r.Header.Get("ETag"))

	expect(t, e.req("DELETE", "/collections/docs/x", ann, "", nil), 200, "")
	expect(t, restore(`"anything"`), 412, "PRECONDITION_FAILED")
	expect(t, restore("*"), 412, "PRECONDITION_FAILED")
	expect(t, restore(""), 200, "")
}
