package api_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Lists, documents, the audit log and errors go out with a Content-Length equal to the
// body (not chunked), with the audit writer holding the response until its
// entry is stored, as pm serve runs.
func TestResponsesCarryContentLength(t *testing.T) {
	e := newAuditEnv(t)
	key := e.user("u1", "t1", "member")
	var first bson.ObjectID
	for i := range 30 {
		id := bson.NewObjectID()
		if i == 0 {
			first = id
		}
		e.insert("docs", bson.D{{Key: "_id", Value: id}, {Key: "tenant_id", Value: "t1"}, {Key: "n", Value: i},
			{Key: "text", Value: strings.Repeat("long enough to pass 2 KiB per page ", 3)}})
	}
	check := func(r resp, status int) {
		t.Helper()
		expect(t, r, status, "")
		require.Equal(t, strconv.Itoa(len(r.Body)), r.Header.Get("Content-Length"), "body %.80s", r.Body)
	}
	page := e.do("GET", "/collections/docs?limit=25", key, nil)
	check(page, 200)
	require.Greater(t, len(page.Body), 2048, "the page must be larger than net/http's chunking threshold")
	cur, _ := page.json(t)["pagination"].(map[string]any)["cursor"].(string)
	require.NotEmpty(t, cur)
	check(e.do("GET", "/collections/docs?limit=25&cursor="+cur, key, nil), 200)
	check(e.do("GET", "/collections/docs/"+first.Hex(), key, nil), 200)
	check(e.do("GET", "/collections/docs?limit=0", key, nil), 400)
	log := e.do("GET", "/audit", e.user("a1", "t1", "auditor"), nil)
	check(log, 200)
	require.Greater(t, len(log.Body), 2048, "the audit page must be larger than net/http's chunking threshold")
}
