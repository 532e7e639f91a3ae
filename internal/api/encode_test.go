package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v5"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
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
