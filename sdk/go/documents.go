package permissionmongo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Insert creates doc and decodes the stored document (as the caller may
// read it: _id, presets, stamps) into out (nil: not decoded). Never retried.
func (c *Client) Insert(ctx context.Context, coll string, doc, out any) error {
	env, err := c.do(ctx, call{method: http.MethodPost, path: collPath(coll), body: doc})
	if err != nil {
		return err
	}
	return decode(env, out)
}

// Get reads the document with this id into out; fields, when given, limits
// the fields returned. A missing document, or one the caller may not see,
// is ErrNotFound.
func (c *Client) Get(ctx context.Context, coll, id string, out any, fields ...string) error {
	cl := call{method: http.MethodGet, path: collPath(coll, id), idempotent: true}
	if len(fields) > 0 {
		cl.query = url.Values{"fields": {strings.Join(fields, ",")}}
	}
	env, err := c.do(ctx, cl)
	if err != nil {
		return err
	}
	return decode(env, out)
}

// GetWithETag is Get that also returns the document's ETag ("" when the
// server sends none). Pass it to WithIfMatch to make a later update,
// replace, delete or restore fail with ErrPreconditionFailed, writing
// nothing, if the document changed meanwhile.
func (c *Client) GetWithETag(ctx context.Context, coll, id string, out any, fields ...string) (string, error) {
	cl := call{method: http.MethodGet, path: collPath(coll, id), idempotent: true}
	if len(fields) > 0 {
		cl.query = url.Values{"fields": {strings.Join(fields, ",")}}
	}
	env, err := c.do(ctx, cl)
	if err != nil {
		return "", err
	}
	return env.header.Get("ETag"), decode(env, out)
}

// Update applies a partial document (merged) or update operators ($set,
// $inc, ...) and decodes the document after the update into out. Never
// retried ($inc would apply twice).
func (c *Client) Update(ctx context.Context, coll, id string, update, out any) error {
	env, err := c.do(ctx, call{method: http.MethodPatch, path: collPath(coll, id), body: update})
	if err != nil {
		return err
	}
	return decode(env, out)
}

// Replace replaces the document (deny_write and unreadable fields keep
// their stored values) and decodes the result into out.
func (c *Client) Replace(ctx context.Context, coll, id string, doc, out any) error {
	env, err := c.do(ctx, call{method: http.MethodPut, path: collPath(coll, id), body: doc, idempotent: true})
	if err != nil {
		return err
	}
	return decode(env, out)
}

// Delete removes a document.
func (c *Client) Delete(ctx context.Context, coll, id string) error {
	_, err := c.do(ctx, call{method: http.MethodDelete, path: collPath(coll, id), idempotent: true})
	return err
}

// Count counts the documents matching filter (nil: all) that the caller
// may read.
func (c *Client) Count(ctx context.Context, coll string, filter any) (int64, error) {
	env, err := c.do(ctx, call{method: http.MethodPost, path: collPath(coll, "count"), body: M{"filter": orEmpty(filter)}, idempotent: true})
	if err != nil {
		return 0, err
	}
	var out struct {
		Count int64 `json:"count"`
	}
	return out.Count, decode(env, &out)
}

// Aggregate runs a pipeline (the server prepends the permission filter) and
// decodes the results into out, a pointer to a slice.
func (c *Client) Aggregate(ctx context.Context, coll string, pipeline A, out any) error {
	env, err := c.do(ctx, call{method: http.MethodPost, path: collPath(coll, "aggregate"), body: M{"pipeline": pipeline}, idempotent: true})
	if err != nil {
		return err
	}
	return decode(env, out)
}

func orEmpty(filter any) any {
	if filter == nil {
		return M{}
	}
	return filter
}

// PageOptions asks for one page of a find.
type PageOptions struct {
	Sort   []string // "name", "-created_at"
	Fields []string
	// Limit is the page size (server default 20, server maximum 10,000).
	Limit int
	// Cursor continues a previous page (same filter and sort).
	Cursor string
}

// Page is one page of a find: the documents and the cursor of the next.
type Page struct {
	Data    []json.RawMessage
	Cursor  string // "" when HasMore is false
	HasMore bool
}

// Decode decodes the page's documents into out, a pointer to a slice.
func (p *Page) Decode(out any) error {
	b, err := json.Marshal(p.Data)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// FindPage fetches one page. Use Find to walk every page.
func (c *Client) FindPage(ctx context.Context, coll string, filter any, o PageOptions) (*Page, error) {
	body := M{"filter": orEmpty(filter)}
	if len(o.Sort) > 0 {
		body["sort"] = o.Sort
	}
	if o.Limit > 0 {
		body["limit"] = o.Limit
	}
	if o.Fields != nil {
		body["fields"] = o.Fields
	}
	if o.Cursor != "" {
		body["cursor"] = o.Cursor
	}
	env, err := c.do(ctx, call{method: http.MethodPost, path: collPath(coll, "find"), body: body, idempotent: true})
	if err != nil {
		return nil, err
	}
	p := &Page{}
	if len(env.Data) > 0 {
		if err := json.Unmarshal(env.Data, &p.Data); err != nil {
			return nil, fmt.Errorf("permission-mongo: decode answer: %w", err)
		}
	}
	if env.Pagination != nil && env.Pagination.HasMore && env.Pagination.Cursor != nil {
		p.HasMore, p.Cursor = true, *env.Pagination.Cursor
	}
	return p, nil
}

// FindOptions shape a Find.
type FindOptions struct {
	Sort   []string // "name", "-created_at"
	Fields []string
	// PageSize is the number of documents fetched per request (0: 100).
	// One above the server's maximum is lowered to it.
	PageSize int
	// MaxDocs stops the iteration after this many documents (0: no cap);
	// the last request asks only for what is left.
	MaxDocs int
}

// Find returns an iterator over every document matching filter that the
// caller may see (at most MaxDocs), fetching PageSize documents per request
// and following the server's cursor:
//
//	it := c.Find(ctx, "notes", pm.M{"status": "open"}, pm.FindOptions{PageSize: 500})
//	for it.Next() { var n Note; _ = it.Decode(&n) }
//	err := it.Err()
func (c *Client) Find(ctx context.Context, coll string, filter any, o FindOptions) *Iter {
	if o.PageSize <= 0 {
		o.PageSize = 100
	}
	return &Iter{c: c, ctx: ctx, coll: coll, filter: filter, opts: o, left: o.MaxDocs}
}

// Iter walks the documents of a Find.
type Iter struct {
	c      *Client
	ctx    context.Context
	coll   string
	filter any
	opts   FindOptions
	page   []json.RawMessage
	cursor string
	done   bool
	err    error
	cur    json.RawMessage
	left   int // documents still allowed by MaxDocs (when > 0)
	seen   int
}

// Next advances to the next document; false at the end or on error (Err).
func (it *Iter) Next() bool {
	if it.opts.MaxDocs > 0 && it.seen >= it.opts.MaxDocs {
		return false
	}
	for len(it.page) == 0 {
		if it.done || it.err != nil {
			return false
		}
		it.fetch()
	}
	it.cur, it.page = it.page[0], it.page[1:]
	it.seen++
	return true
}

func (it *Iter) fetch() {
	size := it.opts.PageSize
	if it.opts.MaxDocs > 0 {
		size = min(size, it.opts.MaxDocs-it.seen)
	}
	p, err := it.c.FindPage(it.ctx, it.coll, it.filter, PageOptions{Sort: it.opts.Sort, Fields: it.opts.Fields, Limit: size, Cursor: it.cursor})
	var e *Error
	if err != nil && it.cursor == "" && errors.As(err, &e) && e.Code == "BAD_REQUEST" {
		// A page size above the server's limits.max_limit: use its maximum.
		if mx, ok := e.Details["max_limit"].(float64); ok && mx > 0 && int(mx) < it.opts.PageSize {
			it.opts.PageSize = int(mx)
			return
		}
	}
	if err != nil {
		it.err = err
		return
	}
	it.page = p.Data
	it.cursor = p.Cursor
	it.done = !p.HasMore
}

// Decode decodes the current document into out.
func (it *Iter) Decode(out any) error { return json.Unmarshal(it.cur, out) }

// Raw is the current document's Extended JSON.
func (it *Iter) Raw() json.RawMessage { return it.cur }

// Err is the error that stopped the iteration, if any.
func (it *Iter) Err() error { return it.err }

// All decodes every remaining document into out, a pointer to a slice.
func (it *Iter) All(out any) error {
	var docs []json.RawMessage
	for it.Next() {
		docs = append(docs, it.cur)
	}
	if it.err != nil {
		return it.err
	}
	if docs == nil {
		docs = []json.RawMessage{}
	}
	return (&Page{Data: docs}).Decode(out)
}

// Selector picks the documents of a batch update or delete: IDs, or a
// Filter (M{} means every document the caller may touch).
type Selector struct {
	IDs    []any // strings or ObjectIDs
	Filter any
}

func (s Selector) body() (M, error) {
	if s.IDs == nil && s.Filter == nil {
		return nil, errors.New("permission-mongo: a batch needs IDs or a Filter (M{} selects everything)")
	}
	b := M{}
	if s.IDs != nil {
		b["ids"] = s.IDs
	}
	if s.Filter != nil {
		b["filter"] = s.Filter
	}
	return b, nil
}

// BatchFailure is one refused item of a batch.
type BatchFailure struct {
	Index int `json:"index"`
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// BatchCreateResult lists the ids created and the items refused.
type BatchCreateResult struct {
	Created []any // ObjectID or string ids, in order
	Failed  []BatchFailure
}

// BatchCreate creates documents (a slice), each checked on its own: good
// ones are written, bad ones reported by index. Never retried.
func (c *Client) BatchCreate(ctx context.Context, coll string, docs any) (*BatchCreateResult, error) {
	env, err := c.do(ctx, call{method: http.MethodPost, path: collPath(coll, "batch"), body: M{"documents": docs}})
	if err != nil {
		return nil, err
	}
	var raw struct {
		Created []json.RawMessage `json:"created"`
		Failed  []BatchFailure    `json:"failed"`
	}
	if err := decode(env, &raw); err != nil {
		return nil, err
	}
	res := &BatchCreateResult{Failed: raw.Failed, Created: make([]any, len(raw.Created))}
	for i, b := range raw.Created {
		v, err := decodeValue(b)
		if err != nil {
			return nil, err
		}
		res.Created[i] = v
	}
	return res, nil
}

// BatchUpdateResult counts what a batch update touched.
type BatchUpdateResult struct {
	Matched  int64 `json:"matched"`
	Modified int64 `json:"modified"`
}

// BatchUpdate applies update to the selected documents; documents the
// caller may not touch are skipped. Never retried.
func (c *Client) BatchUpdate(ctx context.Context, coll string, sel Selector, update any) (*BatchUpdateResult, error) {
	body, err := sel.body()
	if err != nil {
		return nil, err
	}
	body["update"] = update
	return doInto[BatchUpdateResult](ctx, c, call{method: http.MethodPatch, path: collPath(coll, "batch"), body: body})
}

// BatchDelete deletes the selected documents the caller may delete and
// returns how many were deleted. Never retried.
func (c *Client) BatchDelete(ctx context.Context, coll string, sel Selector) (int64, error) {
	body, err := sel.body()
	if err != nil {
		return 0, err
	}
	env, err := c.do(ctx, call{method: http.MethodPost, path: collPath(coll, "batch", "delete"), body: body})
	if err != nil {
		return 0, err
	}
	var out struct {
		Deleted int64 `json:"deleted"`
	}
	return out.Deleted, decode(env, &out)
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
