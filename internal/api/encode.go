package api

import (
	"encoding/json"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/labstack/echo/v5"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/query"
)

// rawJSON is already-encoded JSON placed in a response as is.
type rawJSON = json.RawMessage

// extJSON encodes a document as relaxed Extended JSON v2 (HTTP contract).
//
// <, > and & are escaped (\u003c ...), as encoding/json does, so that a
// response is never sniffed as HTML, whichever writer it goes through.
func extJSON(doc bson.Raw) ([]byte, error) {
	return appendExtJSON(nil, doc)
}

// writeData writes {"data": v}.
func writeData(c *echo.Context, status int, v any) error {
	b, err := json.Marshal(map[string]any{"data": v})
	if err != nil {
		return apperr.Wrap(apperr.KindInternal, err, "cannot encode response")
	}
	return sendJSON(c, status, b)
}

// writeDoc writes {"data": <document>}. The document's JSON is placed as
// is: going through json.Marshal as a RawMessage would validate and compact
// it once more, which cost as much CPU as encoding it (profile of GET by id,
// benchmarks/README.md).
func writeDoc(c *echo.Context, status int, doc bson.Raw) error {
	// The JSON of a document is usually a little longer than its BSON.
	b := make([]byte, 0, jsonSize(doc)+len(`{"data":}`))
	b = append(b, `{"data":`...)
	b, err := appendExtJSON(b, doc)
	if err != nil {
		return err
	}
	b = append(b, '}')
	return sendJSON(c, status, b)
}

// jsonSize guesses the length of the JSON of docs, to size a response's
// buffer once: the JSON of a document is usually a little longer than its
// BSON.
func jsonSize(docs ...bson.Raw) int {
	n := 0
	for _, d := range docs {
		n += len(d) + len(d)/2 + 1
	}
	return n
}

// appendDocs appends the documents as a JSON array.
func appendDocs(b []byte, docs []bson.Raw) ([]byte, error) {
	b = append(b, '[')
	for i, d := range docs {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendExtJSON(b, d); err != nil {
			return nil, err
		}
	}
	return append(b, ']'), nil
}

// writeDocs writes {"data": [...]}.
func writeDocs(c *echo.Context, docs []bson.Raw) error {
	b := make([]byte, 0, jsonSize(docs...)+64)
	b = append(b, `{"data":`...)
	b, err := appendDocs(b, docs)
	if err != nil {
		return err
	}
	return sendJSON(c, 200, append(b, '}'))
}

// writeList writes {"data": [...], "pagination": {cursor, has_more}}.
// total, when not nil, is added as pagination.total (?count=true). The
// pagination object is written as encoding/json writes the map
// {cursor, has_more, total} (keys sorted), without going through it
// (TestWriteListAnswersLikeEncodingJSON).
func writeList(c *echo.Context, docs []bson.Raw, cursor string, hasMore bool, total *int64) error {
	b := make([]byte, 0, jsonSize(docs...)+len(cursor)+96)
	b = append(b, `{"data":`...)
	b, err := appendDocs(b, docs)
	if err != nil {
		return err
	}
	b = append(b, `,"pagination":{"cursor":`...)
	if hasMore {
		b = appendJSONString(b, []byte(cursor))
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"has_more":`...)
	b = strconv.AppendBool(b, hasMore)
	if total != nil {
		b = append(b, `,"total":`...)
		b = strconv.AppendInt(b, *total, 10)
	}
	return sendJSON(c, 200, append(b, '}', '}'))
}

// sendJSON writes a complete JSON response with its Content-Length: without
// it net/http sends any body over 2 KiB chunked, with a closing chunk of its
// own.
func sendJSON(c *echo.Context, status int, b []byte) error {
	c.Response().Header().Set(echo.HeaderContentLength, strconv.Itoa(len(b)))
	return c.JSONBlob(status, b)
}

// bodyObject is the body of an endpoint that takes a JSON object with only
// the allowed members: unknown members are refused rather than ignored, so
// that a misspelt option is a 400, not a silently different request. (Such
// endpoints take no query string either: addRoutes refuses one.)
func (s *Server) bodyObject(c *echo.Context, allowed ...string) (map[string]any, error) {
	body, err := s.readBody(c)
	if err != nil {
		return nil, err
	}
	return parseObject(body, allowed...)
}

// bodyArray is the body {key: [...]} of an endpoint that takes that alone;
// of names the items in the message for anything else.
func (s *Server) bodyArray(c *echo.Context, key, of string) (bson.A, error) {
	m, err := s.bodyObject(c, key)
	if err != nil {
		return nil, err
	}
	a, ok := m[key].(bson.A)
	if !ok {
		return nil, apperr.Invalid("%q must be an array of %s", key, of)
	}
	return a, nil
}

// parseObject decodes a JSON body (strictly, see query.ParseJSONDoc) and
// refuses members other than allowed: a misspelt "fitler" must not silently
// turn into "no filter".
func parseObject(body []byte, allowed ...string) (map[string]any, error) {
	d, err := query.ParseJSONDoc(body)
	if err != nil {
		return nil, err
	}
	m := make(map[string]any, len(d))
	for _, e := range d {
		ok := false
		for _, a := range allowed {
			ok = ok || a == e.Key
		}
		if !ok {
			return nil, apperr.Invalid("unknown member %q", e.Key).WithDetails(map[string]any{"allowed": allowed})
		}
		m[e.Key] = e.Value
	}
	return m, nil
}

func stringMember(m map[string]any, key string, required bool) (string, error) {
	v, ok := m[key]
	if !ok || v == nil {
		if required {
			return "", apperr.Invalid("%q is required", key)
		}
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", apperr.Invalid("%q must be a string", key)
	}
	return s, nil
}

func docMember(m map[string]any, key string) (bson.D, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return nil, nil
	}
	d, ok := v.(bson.D)
	if !ok {
		return nil, apperr.Invalid("%q must be an object", key)
	}
	return d, nil
}

// requiredDoc is docMember for a member that must be given.
func requiredDoc(m map[string]any, key string) (bson.D, error) {
	d, err := docMember(m, key)
	if err == nil && d == nil {
		return nil, apperr.Invalid("%q is required", key)
	}
	return d, err
}

func stringsMember(m map[string]any, key string) ([]string, bool, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return nil, false, nil
	}
	a, ok := v.(bson.A)
	if !ok {
		return nil, false, apperr.Invalid("%q must be an array of strings", key)
	}
	out := make([]string, len(a))
	for i, x := range a {
		s, ok := x.(string)
		if !ok {
			return nil, false, apperr.Invalid("%q must be an array of strings", key)
		}
		out[i] = s
	}
	return out, true, nil
}

// jsonNumber is a number of a decoded body as float64: relaxed Extended
// JSON decodes 3 as int32, 3000000000 as int64 and 3.5 as float64.
func jsonNumber(v any) (float64, bool) {
	switch n := v.(type) {
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

func intMember(m map[string]any, key string) (int, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return 0, nil
	}
	f, ok := jsonNumber(v)
	if !ok {
		return 0, apperr.Invalid("%q must be an integer", key)
	}
	if f != math.Trunc(f) || f < 1 || f > math.MaxInt32 {
		return 0, apperr.Invalid("%q must be a positive integer", key)
	}
	return int(f), nil
}

// limitParam reads ?limit=, a page size: 0 (the endpoint's default) when
// absent, else a positive integer.
func limitParam(q url.Values) (int, error) {
	l := q.Get("limit")
	if l == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(l)
	if err != nil || n < 1 {
		return 0, apperr.Invalid("limit must be a positive integer")
	}
	return n, nil
}

// checkQuery refuses query parameters other than allowed, and repeated ones:
// an ignored parameter is a filter or limit the client believes applied.
func checkQuery(c *echo.Context, allowed ...string) (url.Values, error) {
	q := c.QueryParams()
	for k, vs := range q {
		ok := false
		for _, a := range allowed {
			ok = ok || a == k
		}
		if !ok {
			sort.Strings(allowed)
			return nil, apperr.Invalid("unknown query parameter %q", k).WithDetails(map[string]any{"allowed": allowed})
		}
		if len(vs) > 1 {
			return nil, apperr.Invalid("query parameter %q is repeated", k)
		}
	}
	return q, nil
}

func noQuery(c *echo.Context) error {
	if c.Request().URL.RawQuery == "" {
		return nil
	}
	_, err := checkQuery(c)
	if err == nil && strings.TrimSpace(c.Request().URL.RawQuery) != "" {
		return apperr.Invalid("this endpoint takes no query parameters")
	}
	return err
}
