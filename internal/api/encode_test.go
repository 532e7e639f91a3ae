package api

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v5"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
)

// writeDoc writes the bytes encoding/json wrote before it placed the
// document's JSON as is: the same escaping of <, > and &, the same
// relaxed Extended JSON for each type.
func TestWriteDocAnswersLikeEncodingJSON(t *testing.T) {
	doc, err := bson.Marshal(bson.D{
		{Key: "_id", Value: bson.NewObjectID()},
		{Key: "html", Value: "<script>alert('x')</script> & \u2028 \"q\" é"},
		{Key: "n", Value: int32(7)}, {Key: "big", Value: int64(1) << 60}, {Key: "f", Value: 1.5},
		{Key: "when", Value: bson.DateTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixMilli())},
		{Key: "nested", Value: bson.D{{Key: "a", Value: bson.A{"x", nil, true, bson.D{{Key: "<k>", Value: "&"}}}}}},
		{Key: "bin", Value: bson.Binary{Subtype: 0, Data: []byte{1, 2, 3}}},
	})
	require.NoError(t, err)

	rec := httptest.NewRecorder()
	c := echo.New().NewContext(httptest.NewRequest(http.MethodGet, "/", nil), rec)
	require.NoError(t, writeDoc(c, http.StatusOK, doc))

	plain, err := bson.MarshalExtJSON(bson.Raw(doc), false, false)
	require.NoError(t, err)
	want, err := json.Marshal(map[string]any{"data": json.RawMessage(plain)})
	require.NoError(t, err)
	require.Equal(t, string(want), rec.Body.String())
	require.NotContains(t, rec.Body.String(), "<")
}

// writeList writes the bytes it wrote when the pagination object went
// through encoding/json as a map, and says how long they are.
func TestWriteListAnswersLikeEncodingJSON(t *testing.T) {
	var docs []bson.Raw
	for i := range 30 {
		d, err := bson.Marshal(bson.D{{Key: "_id", Value: bson.NewObjectID()}, {Key: "i", Value: int32(i)},
			{Key: "html", Value: "<b>&</b> \u2029 é"}, {Key: "pad", Value: strings.Repeat("x", i*7)}})
		require.NoError(t, err)
		docs = append(docs, d)
	}
	total := func(n int64) *int64 { return &n }
	cases := []struct {
		docs    []bson.Raw
		cursor  string
		hasMore bool
		total   *int64
	}{
		{docs, "eyJ2IjoxfQ.c2ln-_", true, nil},
		{docs[:1], "", false, nil},
		{nil, "", false, total(0)},
		{[]bson.Raw{}, "", false, nil},
		{docs[:3], "ignored when there is no next page", false, total(-1)},
		{docs, "a<b>&c\u2028\"\\\x01\xff", true, total(1 << 62)},
	}
	for i, tc := range cases {
		rec := httptest.NewRecorder()
		c := echo.New().NewContext(httptest.NewRequest(http.MethodGet, "/", nil), rec)
		require.NoError(t, writeList(c, tc.docs, tc.cursor, tc.hasMore, tc.total))

		arr := make([]json.RawMessage, 0, len(tc.docs))
		for _, d := range tc.docs {
			plain, err := bson.MarshalExtJSON(d, false, false)
			require.NoError(t, err)
			arr = append(arr, plain)
		}
		var cur any
		if tc.hasMore {
			cur = tc.cursor
		}
		pg := map[string]any{"cursor": cur, "has_more": tc.hasMore}
		if tc.total != nil {
			pg["total"] = *tc.total
		}
		want, err := json.Marshal(map[string]any{"data": arr, "pagination": pg})
		require.NoError(t, err)
		require.Equal(t, string(want), rec.Body.String(), "case %d", i)
		require.Equal(t, strconv.Itoa(rec.Body.Len()), rec.Header().Get("Content-Length"), "case %d", i)
	}
}

// An error answer carries its own length, whatever the handler had set
// before failing.
func TestErrorAnswerReplacesContentLength(t *testing.T) {
	s := &Server{log: slog.New(slog.DiscardHandler)}
	rec := httptest.NewRecorder()
	c := echo.New().NewContext(httptest.NewRequest(http.MethodGet, "/", nil), rec)
	c.Response().Header().Set("Content-Length", "99999")
	s.handleError(c, apperr.Invalid("bad"))
	require.Equal(t, 400, rec.Code)
	require.Equal(t, strconv.Itoa(rec.Body.Len()), rec.Header().Get("Content-Length"))
}
