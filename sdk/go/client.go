// Package permissionmongo is the Go client of a permission-mongo server.
//
// It covers the whole HTTP API: documents, find with cursor pagination,
// count, aggregate, batches, streamed imports, versions, the audit log, API
// keys, credential grants and explain. It depends on the standard library
// only: documents travel as MongoDB Extended JSON (relaxed) and decode into
// your structs (use ObjectID, Date and Decimal for those BSON types) or into
// Doc, which decodes every wrapper.
//
// Every call takes a context. Idempotent calls (GET, PUT, DELETE and the
// read-only POSTs) are retried on 429/502/503/504 and network errors,
// waiting for Retry-After when the server sends it; writes that are not
// idempotent are sent once (see RetryPolicy).
package permissionmongo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Version is the SDK's version, sent in the User-Agent.
const Version = "0.2.0"

// Client calls one server with one credential. It is safe for concurrent
// use; its http.Client pools connections.
type Client struct {
	baseURL    string
	credential string
	http       *http.Client
	retry      RetryPolicy
	headers    http.Header
	hook       func(Event)
}

// RetryPolicy says when a failed call is tried again.
//
// Only idempotent calls are retried once the server may have seen them:
// GET, PUT, DELETE and the read-only POSTs (find, count, aggregate,
// explain). Insert, Update (PATCH), the batches, imports, restores, key and
// grant creation are sent once, because a retry after a lost answer could
// apply them twice; any call is retried when the connection could not even
// be opened. The wait before retry n (from 0) is the server's Retry-After
// when given (up to MaxRetryAfter; longer, the error is returned), otherwise
// Backoff·2ⁿ capped at MaxBackoff, plus up to 10 % jitter.
type RetryPolicy struct {
	MaxRetries    int
	Backoff       time.Duration
	MaxBackoff    time.Duration
	MaxRetryAfter time.Duration
	// RetryOn lists the statuses retried (default 429, 502, 503, 504).
	RetryOn []int
}

// DefaultRetryPolicy is what New uses.
var DefaultRetryPolicy = RetryPolicy{MaxRetries: 3, Backoff: 500 * time.Millisecond, MaxBackoff: 30 * time.Second,
	MaxRetryAfter: 2 * time.Minute, RetryOn: []int{429, 502, 503, 504}}

// Event is what the hook (WithHook) is told after every HTTP attempt.
type Event struct {
	Method, URL string
	Status      int // 0 when no answer came
	Attempt     int // from 0
	Elapsed     time.Duration
	RequestID   string
	Err         error         // nil on success
	RetryIn     time.Duration // wait before the next attempt; 0 when none
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient replaces the http.Client (timeouts, TLS, transport).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithRetry replaces the retry policy; RetryPolicy{} disables retries.
func WithRetry(p RetryPolicy) Option { return func(c *Client) { c.retry = p } }

// WithHeader adds a header sent with every request.
func WithHeader(key, value string) Option { return func(c *Client) { c.headers.Add(key, value) } }

// WithHook calls f after every HTTP attempt (logging, metrics).
func WithHook(f func(Event)) Option { return func(c *Client) { c.hook = f } }

// New returns a client of the server at baseURL (http://host:port)
// authenticating with an API key (pm_...) or a JWT, sent as a bearer token.
func New(baseURL, credential string, opts ...Option) *Client {
	c := &Client{
		baseURL:    strings.TrimRight(baseURL, "/"),
		credential: credential,
		http:       &http.Client{Timeout: 60 * time.Second, CheckRedirect: noRedirect},
		retry:      DefaultRetryPolicy,
		headers:    http.Header{},
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// BaseURL is the server's URL as given to New.
func (c *Client) BaseURL() string { return c.baseURL }

// A redirect would resend the credential elsewhere; the API never redirects.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

type ctxKey int

const (
	headersKey ctxKey = iota
)

// WithRequestHeader returns a context whose calls also send this header
// (X-Request-ID, If-Match, ...).
func WithRequestHeader(ctx context.Context, key, value string) context.Context {
	h := http.Header{}
	if prev, ok := ctx.Value(headersKey).(http.Header); ok {
		h = prev.Clone()
	}
	h.Set(key, value)
	return context.WithValue(ctx, headersKey, h)
}

// WithIfMatch makes the calls of ctx conditional on the document's ETag
// (PATCH, PUT, DELETE, restore); a mismatch is ErrPreconditionFailed.
func WithIfMatch(ctx context.Context, etag string) context.Context {
	return WithRequestHeader(ctx, "If-Match", etag)
}

// call is one API call.
type call struct {
	method, path string
	query        url.Values
	body         any       // JSON body
	stream       io.Reader // streamed body (import); never retried
	contentType  string
	idempotent   bool
}

type envelope struct {
	header     http.Header
	Data       json.RawMessage `json:"data"`
	Pagination *struct {
		Cursor  *string `json:"cursor"`
		HasMore bool    `json:"has_more"`
	} `json:"pagination"`
}

// do runs c with retries and returns the decoded envelope.
func (c *Client) do(ctx context.Context, cl call) (*envelope, error) {
	var payload []byte
	if cl.body != nil {
		b, err := json.Marshal(encodeValue(cl.body))
		if err != nil {
			return nil, fmt.Errorf("permission-mongo: encode request: %w", err)
		}
		payload = b
	}
	u := c.baseURL + cl.path
	if len(cl.query) > 0 {
		u += "?" + cl.query.Encode()
	}
	for attempt := 0; ; attempt++ {
		start := time.Now()
		env, status, rid, err := c.attempt(ctx, cl, u, payload)
		wait, retry := c.retryWait(ctx, cl, err, attempt)
		if c.hook != nil {
			ev := Event{Method: cl.method, URL: u, Status: status, Attempt: attempt, Elapsed: time.Since(start), RequestID: rid, Err: err}
			if retry {
				ev.RetryIn = wait
			}
			c.hook(ev)
		}
		if err == nil || !retry {
			return env, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
	}
}

// dialError marks a failure before the request could reach the server.
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

func (c *Client) retryWait(ctx context.Context, cl call, err error, attempt int) (time.Duration, bool) {
	p := c.retry
	if err == nil || cl.stream != nil || attempt >= p.MaxRetries || ctx.Err() != nil {
		return 0, false
	}
	var de *dialError
	unsent := errors.As(err, &de)
	if !cl.idempotent && !unsent {
		return 0, false
	}
	var e *Error
	if errors.As(err, &e) {
		ok := false
		for _, s := range p.RetryOn {
			ok = ok || s == e.Status
		}
		if !ok {
			return 0, false
		}
		if e.RetryAfter > 0 {
			return e.RetryAfter, e.RetryAfter <= p.MaxRetryAfter
		}
	}
	d := p.Backoff << attempt
	if p.MaxBackoff > 0 && (d > p.MaxBackoff || d <= 0) {
		d = p.MaxBackoff
	}
	if d > 0 {
		d += time.Duration(rand.Int64N(int64(d)/10 + 1))
	}
	return d, true
}

func (c *Client) attempt(ctx context.Context, cl call, u string, payload []byte) (*envelope, int, string, error) {
	var body io.Reader
	if cl.stream != nil {
		body = cl.stream
	} else if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, u, body)
	if err != nil {
		return nil, 0, "", err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "permission-mongo-go/"+Version)
	for k, v := range c.headers {
		req.Header[k] = v
	}
	if h, ok := ctx.Value(headersKey).(http.Header); ok {
		for k, v := range h {
			req.Header[k] = v
		}
	}
	if c.credential != "" {
		req.Header.Set("Authorization", "Bearer "+c.credential)
	}
	switch {
	case cl.contentType != "":
		req.Header.Set("Content-Type", cl.contentType)
	case payload != nil:
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return nil, 0, "", &dialError{fmt.Errorf("permission-mongo: %s %s: %w", cl.method, u, err)}
		}
		return nil, 0, "", fmt.Errorf("permission-mongo: %s %s: %w", cl.method, u, err)
	}
	defer resp.Body.Close()
	rid := resp.Header.Get("X-Request-ID")
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, resp.StatusCode, rid, fmt.Errorf("permission-mongo: %s %s: read answer: %w", cl.method, u, err)
	}
	if resp.StatusCode >= 300 {
		return nil, resp.StatusCode, rid, errorFrom(resp, raw)
	}
	var env envelope
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &env); err != nil {
			return nil, resp.StatusCode, rid, &Error{Status: resp.StatusCode, Code: "INTERNAL", Message: "answer is not JSON: " + truncate(raw), RequestID: rid}
		}
	}
	env.header = resp.Header
	return &env, resp.StatusCode, rid, nil
}

func errorFrom(resp *http.Response, raw []byte) *Error {
	e := &Error{Status: resp.StatusCode, RequestID: resp.Header.Get("X-Request-ID")}
	var body struct {
		Error *struct {
			Code    string         `json:"code"`
			Message string         `json:"message"`
			Details map[string]any `json:"details"`
		} `json:"error"`
		RequestID string `json:"request_id"`
	}
	if json.Unmarshal(raw, &body) == nil && body.Error != nil {
		e.Code, e.Message, e.Details = body.Error.Code, body.Error.Message, body.Error.Details
		if body.RequestID != "" {
			e.RequestID = body.RequestID
		}
	}
	if e.Code == "" {
		e.Code = codeByStatus[resp.StatusCode]
		if e.Code == "" && resp.StatusCode >= 500 {
			e.Code = "INTERNAL"
		}
	}
	if e.Message == "" {
		e.Message = strings.TrimSpace("HTTP " + strconv.Itoa(resp.StatusCode) + " " + truncate(raw))
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		if s, err := strconv.ParseFloat(ra, 64); err == nil && s >= 0 {
			e.RetryAfter = time.Duration(s * float64(time.Second))
		} else if t, err := http.ParseTime(ra); err == nil {
			e.RetryAfter = max(time.Until(t), 0)
		}
	}
	return e
}

// decode turns the data of an answer into out (nil: ignored).
func decode(env *envelope, out any) error {
	if out == nil || env == nil || len(env.Data) == 0 {
		return nil
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		return fmt.Errorf("permission-mongo: decode answer: %w", err)
	}
	return nil
}

// doInto sends cl and decodes the answer's data into a new T: the shape of
// most typed calls. As before this helper existed, a decode error still
// returns what was decoded.
func doInto[T any](ctx context.Context, c *Client, cl call) (*T, error) {
	env, err := c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	var out T
	return &out, decode(env, &out)
}

// doList is doInto for calls that answer a list.
func doList[T any](ctx context.Context, c *Client, cl call) ([]T, error) {
	out, err := doInto[[]T](ctx, c, cl)
	if out == nil {
		return nil, err
	}
	return *out, err
}

func collPath(coll string, rest ...string) string {
	p := "/collections/" + url.PathEscape(coll)
	for _, x := range rest {
		p += "/" + url.PathEscape(x)
	}
	return p
}
