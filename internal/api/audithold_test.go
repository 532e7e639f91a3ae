package api

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
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
