package api

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v5"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/audit"
	"github.com/permission-mongo/permission-mongo/internal/store"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

// Until release nothing of a small response reaches the client; a large one
// goes out as written except its last byte, so the client never has a whole
// response before release (its audit entry is durable).
func TestHeldResponse(t *testing.T) {
	rec := httptest.NewRecorder()
	h := &heldResponse{w: rec}
	h.Header().Set("X-Test", "1")
	h.WriteHeader(http.StatusCreated)
	_, err := h.Write([]byte(`{"data":{}}`))
	require.NoError(t, err)
	require.False(t, rec.Flushed)
	require.Zero(t, rec.Body.Len(), "nothing sent before release")
	require.Equal(t, http.StatusOK, rec.Code, "no status sent before release (the recorder's default)")
	h.release()
	require.Equal(t, http.StatusCreated, rec.Code)
	require.Equal(t, `{"data":{}}`, rec.Body.String())
	require.Equal(t, "1", rec.Header().Get("X-Test"))

	rec = httptest.NewRecorder()
	h = &heldResponse{w: rec}
	big := bytes.Repeat([]byte("abcdefgh"), holdLimit/8+1000)
	for i := 0; i < len(big); i += 4096 {
		_, err := h.Write(big[i:min(i+4096, len(big))])
		require.NoError(t, err)
	}
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, len(big)-1, rec.Body.Len(), "all but the last byte passed on")
	h.release()
	require.Equal(t, big, rec.Body.Bytes())

	// Nothing written at all: release sends nothing either (net/http then
	// answers its implicit 200 with an empty body).
	rec = httptest.NewRecorder()
	(&heldResponse{w: rec}).release()
	require.Zero(t, rec.Body.Len())
}

// A handler that panics after writing part of its answer: the client gets a
// clean 500 (the held part is dropped, not sent with a 200), and the audit
// entry, durable before the answer, says 500 too.
func TestHeldResponsePanic(t *testing.T) {
	_, db := testenv.Mongo(t)
	coll := db.Collection("pm_audit")
	w, err := audit.NewWriter(audit.Options{Collection: store.NewCollection(coll), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close(context.Background()) })
	s := &Server{audit: w, log: slog.New(slog.DiscardHandler)}
	e := echo.New()
	writeErr := func(next echo.HandlerFunc) echo.HandlerFunc { // as observe does
		return func(c *echo.Context) error {
			if err := next(c); err != nil {
				s.handleError(c, err)
			}
			return nil
		}
	}
	e.Use(writeErr, s.recoverPanic, s.audited)
	e.GET("/boom", func(c *echo.Context) error {
		_ = c.JSON(http.StatusOK, map[string]any{"data": "half"})
		panic("boom")
	})
	srv := httptest.NewServer(e)
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/boom", nil)
	req.Header.Set("X-Request-ID", "panic-1")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusInternalServerError, res.StatusCode, "%s", body)
	require.Contains(t, string(body), "INTERNAL")
	require.NotContains(t, string(body), "half")
	var got audit.Entry
	require.NoError(t, coll.FindOne(t.Context(), bson.D{}).Decode(&got), "the entry is stored before the answer")
	require.Equal(t, 500, got.Status)
}
