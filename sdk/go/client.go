// Package permissionmongo is the Go client of a permission-mongo server: CRUD,
// find with cursor pagination, count and aggregate on /collections, with the
// server's errors as typed values. Documents travel as MongoDB Extended JSON
// (relaxed), decoded into bson.M / bson.D or any type the bson package takes.
package permissionmongo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Client calls one server with one credential.
type Client struct {
	BaseURL string
	// APIKey (pm_...) or Token (a JWT): one of them.
	APIKey string
	Token  string
	HTTP   *http.Client
}

// New returns a client for baseURL authenticating with an API key.
func New(baseURL, apiKey string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), APIKey: apiKey, HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// Error is an error answer of the server.
type Error struct {
	Status    int
	Code      string // FORBIDDEN, NOT_FOUND, ...
	Message   string
	Details   map[string]any
	RequestID string
}

func (e *Error) Error() string {
	return fmt.Sprintf("permission-mongo: %d %s: %s (request %s)", e.Status, e.Code, e.Message, e.RequestID)
}

// IsNotFound reports whether err is a NOT_FOUND answer (no such document, or
// one the caller may not see: the server does not say which).
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == "NOT_FOUND"
}

// IsForbidden reports whether err is a FORBIDDEN answer.
func IsForbidden(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == "FORBIDDEN"
}

type envelope struct {
	Data       json.RawMessage `json:"data"`
	Pagination *struct {
		Cursor  *string `json:"cursor"`
		HasMore bool    `json:"has_more"`
	} `json:"pagination"`
	Error *struct {
		Code    string         `json:"code"`
		Message string         `json:"message"`
		Details map[string]any `json:"details"`
	} `json:"error"`
	RequestID string `json:"request_id"`
}

// call sends body (marshalled as relaxed Extended JSON) and returns the envelope.
func (c *Client) call(ctx context.Context, method, path string, body any) (*envelope, error) {
	var rd io.Reader
	if body != nil {
		b, err := bson.MarshalExtJSON(body, false, false)
		if err != nil {
			return nil, fmt.Errorf("permission-mongo: encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case c.APIKey != "":
		req.Header.Set("X-API-Key", c.APIKey)
	case c.Token != "":
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, &Error{Status: resp.StatusCode, Code: "BAD_RESPONSE", Message: "response is not JSON", RequestID: resp.Header.Get("X-Request-ID")}
	}
	if resp.StatusCode >= 400 || env.Error != nil {
		e := &Error{Status: resp.StatusCode, RequestID: env.RequestID}
		if env.Error != nil {
			e.Code, e.Message, e.Details = env.Error.Code, env.Error.Message, env.Error.Details
		}
		return nil, e
	}
	return &env, nil
}

// decode turns Extended JSON into out (a pointer to bson.M, a struct, ...).
func decode(data json.RawMessage, out any) error {
	if out == nil {
		return nil
	}
	if err := bson.UnmarshalExtJSON(data, false, out); err != nil {
		return fmt.Errorf("permission-mongo: decode response: %w", err)
	}
	return nil
}

func docPath(coll string, id ...string) string {
	p := "/collections/" + url.PathEscape(coll)
	for _, x := range id {
		p += "/" + url.PathEscape(x)
	}
	return p
}

// Insert creates doc and decodes the stored document (as the caller may read
// it) into out.
func (c *Client) Insert(ctx context.Context, coll string, doc, out any) error {
	env, err := c.call(ctx, http.MethodPost, docPath(coll), doc)
	if err != nil {
		return err
	}
	return decode(env.Data, out)
}

// Get reads one document by id.
func (c *Client) Get(ctx context.Context, coll, id string, out any) error {
	env, err := c.call(ctx, http.MethodGet, docPath(coll, id), nil)
	if err != nil {
		return err
	}
	return decode(env.Data, out)
}

// Update applies a merge patch or update operators ($set, $inc, ...) and
// decodes the document after the update into out.
func (c *Client) Update(ctx context.Context, coll, id string, update, out any) error {
	env, err := c.call(ctx, http.MethodPatch, docPath(coll, id), update)
	if err != nil {
		return err
	}
	return decode(env.Data, out)
}

// Replace replaces a document (fields the caller may not write keep their
// stored values).
func (c *Client) Replace(ctx context.Context, coll, id string, doc, out any) error {
	env, err := c.call(ctx, http.MethodPut, docPath(coll, id), doc)
	if err != nil {
		return err
	}
	return decode(env.Data, out)
}

// Delete removes a document.
func (c *Client) Delete(ctx context.Context, coll, id string) error {
	_, err := c.call(ctx, http.MethodDelete, docPath(coll, id), nil)
	return err
}

// Count counts the documents matching filter that the caller may see.
func (c *Client) Count(ctx context.Context, coll string, filter any) (int64, error) {
	if filter == nil {
		filter = bson.D{}
	}
	env, err := c.call(ctx, http.MethodPost, docPath(coll, "count"), bson.D{{Key: "filter", Value: filter}})
	if err != nil {
		return 0, err
	}
	var out struct {
		Count int64 `bson:"count"`
	}
	return out.Count, decode(env.Data, &out)
}

// Aggregate runs a pipeline and decodes the results into out (a pointer to
// a slice).
func (c *Client) Aggregate(ctx context.Context, coll string, pipeline bson.A, out any) error {
	env, err := c.call(ctx, http.MethodPost, docPath(coll, "aggregate"), bson.D{{Key: "pipeline", Value: pipeline}})
	if err != nil {
		return err
	}
	return decodeList(env.Data, out)
}

// decodeList decodes a JSON array of Extended JSON documents into out.
func decodeList(data json.RawMessage, out any) error {
	wrapped := append(append([]byte(`{"v":`), data...), '}')
	holder := bson.Raw{}
	if err := bson.UnmarshalExtJSON(wrapped, false, &holder); err != nil {
		return fmt.Errorf("permission-mongo: decode response: %w", err)
	}
	return holder.Lookup("v").Unmarshal(out)
}

// FindOptions shape a find.
type FindOptions struct {
	Sort   []string // "name", "-created_at"
	Limit  int      // page size (server default 20)
	Fields []string
}

// Find returns an iterator over every document matching filter that the
// caller may see, fetching pages with the server's cursor as it goes.
func (c *Client) Find(ctx context.Context, coll string, filter any, opts FindOptions) *Iter {
	if filter == nil {
		filter = bson.D{}
	}
	return &Iter{c: c, ctx: ctx, coll: coll, filter: filter, opts: opts}
}

// Iter walks the pages of a find.
type Iter struct {
	c      *Client
	ctx    context.Context
	coll   string
	filter any
	opts   FindOptions
	page   []bson.Raw
	cursor *string
	done   bool
	err    error
	cur    bson.Raw
}

// Next advances to the next document; false at the end or on error (see Err).
func (it *Iter) Next() bool {
	for len(it.page) == 0 {
		if it.done || it.err != nil {
			return false
		}
		it.fetch()
	}
	it.cur, it.page = it.page[0], it.page[1:]
	return true
}

func (it *Iter) fetch() {
	body := bson.D{{Key: "filter", Value: it.filter}}
	if len(it.opts.Sort) > 0 {
		body = append(body, bson.E{Key: "sort", Value: it.opts.Sort})
	}
	if it.opts.Limit > 0 {
		body = append(body, bson.E{Key: "limit", Value: it.opts.Limit})
	}
	if len(it.opts.Fields) > 0 {
		body = append(body, bson.E{Key: "fields", Value: it.opts.Fields})
	}
	if it.cursor != nil {
		body = append(body, bson.E{Key: "cursor", Value: *it.cursor})
	}
	env, err := it.c.call(it.ctx, http.MethodPost, docPath(it.coll, "find"), body)
	if err != nil {
		it.err = err
		return
	}
	var docs []bson.Raw
	if err := decodeList(env.Data, &docs); err != nil {
		it.err = err
		return
	}
	it.page = docs
	if env.Pagination == nil || !env.Pagination.HasMore || env.Pagination.Cursor == nil {
		it.done = true
		return
	}
	it.cursor = env.Pagination.Cursor
}

// Decode decodes the current document into out.
func (it *Iter) Decode(out any) error { return bson.Unmarshal(it.cur, out) }

// Raw is the current document.
func (it *Iter) Raw() bson.Raw { return it.cur }

// Err is the error that stopped the iteration, if any.
func (it *Iter) Err() error { return it.err }
