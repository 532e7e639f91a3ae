package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/permission-mongo/permission-mongo/internal/ratelimit"
)

// documentedClass is the rule docs/rate-limits.md states for the route
// classes, written out here so that a row whose class column was typed
// wrong fails instead of silently spending another class's budget.
func documentedClass(method, path string) string {
	switch {
	case strings.HasPrefix(path, "/admin/"):
		return ratelimit.ClassAdmin
	case method == http.MethodPost && path == "/collections/:c/aggregate":
		return ratelimit.ClassAggregate
	case method == http.MethodPost && path == "/collections/:c/import":
		return ratelimit.ClassImport
	case method == http.MethodGet, method == http.MethodPost &&
		(path == "/collections/:c/find" || path == "/collections/:c/count" || path == "/explain"):
		return ratelimit.ClassRead
	}
	return ratelimit.ClassWrite
}

// Every authenticated row names its audit action and its documented
// rate-limit class; public rows are neither limited nor, but for none,
// audited; the index the middleware reads holds every row.
func TestRouteTableRows(t *testing.T) {
	s := New(Params{})
	table := s.routeTable(newGrantAPI(s, nil))
	require.Len(t, s.routes, len(table))
	routesOf := map[string][]string{} // action → routes
	for _, r := range table {
		key := routeKey(r.method, r.path)
		require.NotNil(t, s.routes[key], key)
		require.Equal(t, r.action, s.routes[key].action, key)
		if r.public {
			require.Empty(t, r.class, "%s: public routes authenticate no one and are never limited", key)
			require.Empty(t, r.action, "%s: the probes, the document and the console are not audited", key)
			require.True(t, s.unaudited[r.path], key)
			continue
		}
		require.Equal(t, documentedClass(r.method, r.path), r.class, key)
		require.NotEmpty(t, r.action, key)
		require.False(t, s.unaudited[r.path], key)
		routesOf[r.action] = append(routesOf[r.action], key)
	}
	// Routes share an action only where they are one operation asked two
	// ways; a row copied without renaming its action fails here.
	shared := map[string][]string{
		"find":         {"GET /collections/:c", "POST /collections/:c/find"},
		"batch.delete": {"DELETE /collections/:c/batch", "POST /collections/:c/batch/delete"},
	}
	for action, keys := range routesOf {
		if want, ok := shared[action]; ok {
			require.Equal(t, want, keys, action)
			continue
		}
		require.Len(t, keys, 1, "action %q names several routes: %v", action, keys)
	}
	require.Len(t, routesOf, 30, "32 authenticated routes, two pairs sharing")
}
