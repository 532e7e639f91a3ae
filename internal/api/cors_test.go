package api_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/permission-mongo/permission-mongo/internal/api"
)

func (e *env) raw2(method, path string, header map[string]string) resp {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, nil)
	require.NoError(e.t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return e.send(req)
}

// TestCORSPreflightBeforeAuthentication: with origins configured, a
// preflight from a listed origin is answered 204 with the methods and
// headers the API takes, without any credential; an unlisted origin gets no
// CORS header; answers to real requests expose ETag and X-Request-ID.
func TestCORSPreflightBeforeAuthentication(t *testing.T) {
	e := newEnv(t, func(p *api.Params) {
		p.CORS = api.CORS{
			AllowedOrigins: []string{"https://app.example.com"},
			AllowedHeaders: []string{"Authorization", "Content-Type", "X-API-Key", "If-Match"},
			MaxAge:         5 * time.Minute,
		}
	})
	pre := func(origin, path string) resp {
		return e.raw2("OPTIONS", path, map[string]string{
			"Origin": origin, "Access-Control-Request-Method": "PATCH",
			"Access-Control-Request-Headers": "x-api-key, if-match, content-type",
		})
	}
	for _, path := range []string{"/collections/notes/n1", "/admin/api-keys", "/no/such/route"} {
		r := pre("https://app.example.com", path)
		require.Equal(t, 204, r.Status, "%s: %s", path, r.Body)
		require.Equal(t, "https://app.example.com", r.Header.Get("Access-Control-Allow-Origin"))
		require.Contains(t, r.Header.Get("Access-Control-Allow-Methods"), "PATCH")
		require.Contains(t, r.Header.Get("Access-Control-Allow-Headers"), "If-Match")
		require.Equal(t, "300", r.Header.Get("Access-Control-Max-Age"))
		require.Empty(t, r.Header.Get("WWW-Authenticate"), "a preflight must not reach authentication")
		require.NotEmpty(t, r.Header.Get("X-Request-ID"))
	}
	r := pre("https://evil.example.com", "/collections/notes/n1")
	require.Empty(t, r.Header.Get("Access-Control-Allow-Origin"))
	require.Empty(t, r.Header.Get("Access-Control-Allow-Methods"))
	require.Contains(t, r.Header.Values("Vary"), "Origin")

	ann := e.user("ann", "t1", "member")
	expect(t, e.do("POST", "/collections/notes", ann, map[string]any{"_id": "n1"}), 201, "")
	r = e.raw2("GET", "/collections/notes/n1", map[string]string{"Origin": "https://app.example.com", "X-API-Key": ann})
	require.Equal(t, 200, r.Status)
	require.Equal(t, "https://app.example.com", r.Header.Get("Access-Control-Allow-Origin"))
	require.Contains(t, r.Header.Get("Access-Control-Expose-Headers"), "ETag")
	require.Contains(t, r.Header.Get("Access-Control-Expose-Headers"), "X-Request-ID")
	require.Empty(t, r.Header.Get("Access-Control-Allow-Credentials"))
	// An actual request still needs its credential.
	r = e.raw2("GET", "/collections/notes/n1", map[string]string{"Origin": "https://app.example.com"})
	require.Equal(t, 401, r.Status)
	r = e.raw2("GET", "/collections/notes/n1", map[string]string{"Origin": "https://evil.example.com", "X-API-Key": ann})
	require.Equal(t, 200, r.Status)
	require.Empty(t, r.Header.Get("Access-Control-Allow-Origin"))
}

// TestCORSOffByDefault: without configuration no CORS header is ever sent,
// and a preflight is an ordinary unauthenticated request.
func TestCORSOffByDefault(t *testing.T) {
	e := newEnv(t)
	r := e.raw2("OPTIONS", "/collections/notes/n1", map[string]string{"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"})
	require.NotEqual(t, 204, r.Status)
	require.Empty(t, r.Header.Get("Access-Control-Allow-Origin"))
	r = e.raw2("GET", "/healthz", map[string]string{"Origin": "https://app.example.com"})
	require.Equal(t, 200, r.Status)
	require.Empty(t, r.Header.Get("Access-Control-Allow-Origin"))
}

func TestCORSWildcard(t *testing.T) {
	e := newEnv(t, func(p *api.Params) { p.CORS = api.CORS{AllowedOrigins: []string{"*"}} })
	r := e.raw2("GET", "/healthz", map[string]string{"Origin": "https://any.example"})
	require.Equal(t, "*", r.Header.Get("Access-Control-Allow-Origin"))
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		if m["msg"] == "http request" {
			out = append(out, m)
		}
	}
	return out
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAccessLogOneLinePerRequest: one JSON line per request with method,
// route template, status, latency, request id and principal id; the API
// key, the query string and the body never appear.
func TestAccessLogOneLinePerRequest(t *testing.T) {
	var buf syncBuffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	e := newEnv(t, func(p *api.Params) {
		p.AccessLog = &api.AccessLog{Logger: log, Level: slog.LevelInfo, SampleEvery: 1}
	})
	ann := e.user("ann", "t1", "member")
	r := e.do("POST", "/collections/notes", ann, map[string]any{"_id": "n1", "body": "body-secret-text"})
	expect(t, r, 201, "")
	r = e.do("GET", "/collections/notes?filter="+url.QueryEscape(`{"body":"filter-secret-text"}`), ann, nil)
	expect(t, r, 200, "")
	reqID := r.Header.Get("X-Request-ID")
	expect(t, e.do("GET", "/collections/notes/n1", "", nil), 401, "UNAUTHENTICATED")

	lines := buf.lines(t)
	require.Len(t, lines, 3, buf.String())
	require.Equal(t, "POST", lines[0]["method"])
	require.Equal(t, "/collections/:c", lines[0]["route"])
	require.EqualValues(t, 201, lines[0]["status"])
	require.Equal(t, "ann", lines[0]["principal_id"])
	require.Equal(t, "GET", lines[1]["method"])
	require.Equal(t, reqID, lines[1]["request_id"])
	require.Contains(t, lines[1], "latency_ms")
	require.EqualValues(t, 401, lines[2]["status"])
	require.NotContains(t, lines[2], "principal_id")
	require.Equal(t, "/collections/:c/:id", lines[2]["route"])
	all := buf.String()
	for _, secret := range []string{ann, "filter-secret-text", "body-secret-text"} {
		require.NotContains(t, all, secret)
	}
}

// TestAccessLogSamplingAndLevel: one in N successful requests is logged,
// every error is; lines below the logger's level are not written.
func TestAccessLogSamplingAndLevel(t *testing.T) {
	var buf syncBuffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	e := newEnv(t, func(p *api.Params) {
		p.AccessLog = &api.AccessLog{Logger: log, Level: slog.LevelInfo, SampleEvery: 3}
	})
	for range 6 {
		require.Equal(t, 200, e.raw2("GET", "/healthz", nil).Status)
	}
	for range 2 {
		require.Equal(t, 404, e.raw2("GET", "/nope", nil).Status)
	}
	lines := buf.lines(t)
	statuses := map[float64]int{}
	for _, l := range lines {
		statuses[l["status"].(float64)]++
	}
	require.Equal(t, map[float64]int{200: 2, 404: 2}, statuses, buf.String())

	var quiet syncBuffer
	qlog := slog.New(slog.NewJSONHandler(&quiet, &slog.HandlerOptions{Level: slog.LevelInfo}))
	e2 := newEnv(t, func(p *api.Params) {
		p.AccessLog = &api.AccessLog{Logger: qlog, Level: slog.LevelDebug, SampleEvery: 1}
	})
	require.Equal(t, 200, e2.raw2("GET", "/healthz", nil).Status)
	require.Empty(t, quiet.lines(t), "debug lines under an info logger")
}
