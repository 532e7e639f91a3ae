package service

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/cursor"
	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/policy/when"
	"github.com/permission-mongo/permission-mongo/internal/principal"
	"github.com/permission-mongo/permission-mongo/internal/query"
)

// errNotFound is the one answer for a document that does not exist and for
// one the caller may not see: the two must be indistinguishable.
func errNotFound() error { return apperr.NotFound("document not found") }

// Get returns one document as the caller may read it, projected on fields
// (validated names; nil for all).
func (s *Service) Get(ctx context.Context, p *principal.Principal, coll, id string, fields []string) (bson.Raw, error) {
	_, d, oid, err := s.beginDoc(p, coll, policy.Read, id)
	if err != nil {
		return nil, err
	}
	if d.State == when.Never {
		return nil, errNotFound()
	}
	doc, err := s.findByID(ctx, coll, oid, d)
	if err != nil {
		return nil, err
	}
	if doc == nil {
		return nil, errNotFound()
	}
	out, err := shown(d, doc, fields)
	if err != nil {
		return nil, err
	}
	noteETag(ctx, doc)
	auditDoc(ctx, oid, nil)
	return out, nil
}

// shown is doc as the read decision shows it, or a 404 when it shows nothing
// of it: a document the caller may not see is one that does not exist.
func shown(d *policy.Decision, doc bson.Raw, fields []string) (bson.Raw, error) {
	out, ok, err := show(d, doc, fields)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errNotFound()
	}
	return out, nil
}

// FindRequest is a validated list query.
type FindRequest struct {
	// Filter is the client filter (nil or empty: everything the policy allows).
	Filter bson.D
	// Sort is the parsed sort (query.ParseSort); nil means by _id ascending.
	Sort bson.D
	// Limit is the page size; 0 means the default.
	Limit int
	// Cursor continues a previous page.
	Cursor string
	// Fields projects the results (query.ParseFields); nil for all.
	Fields []string
	// Count asks for Page.Total.
	Count bool
}

// Page is one page of results.
type Page struct {
	Docs    []bson.Raw
	Cursor  string // "" when there is no next page
	HasMore bool
	// Total, when FindRequest.Count was set, is how many documents the
	// whole query matches (every page, not only those after the cursor),
	// counted with the same policy-injected filter as the page.
	Total *int64
}

// checkFilter validates a client filter against what the caller may read.
func (s *Service) checkFilter(d *policy.Decision, filter bson.D) error {
	if len(filter) == 0 {
		return nil
	}
	if err := query.CheckFilter(filter, s.limits.Filter, d.Readable); err != nil {
		return err
	}
	return s.checkStorable(filter)
}

// checkSort refuses sorting on a field the caller cannot read unmasked: the
// order of results would reveal it.
func checkSort(d *policy.Decision, sort bson.D) error {
	for _, k := range sort {
		if k.Key == "_id" {
			continue // the tie-breaker every result carries
		}
		if p := query.NormalizePath(k.Key); !d.Readable(p) {
			return apperr.Forbidden("sorting on field %q is not allowed", k.Key).
				WithDetails(map[string]any{"field": k.Key})
		}
	}
	return nil
}

// Find returns one page of the documents the caller may read that match the
// request. Paging is keyset-based (package cursor): the page after a cursor
// holds the documents strictly after the previous page's last one in sort
// order, whatever was inserted or deleted meanwhile.
func (s *Service) Find(ctx context.Context, p *principal.Principal, coll string, req FindRequest) (*Page, error) {
	r, d, err := s.beginAction(p, coll, policy.Read)
	if err != nil {
		return nil, err
	}
	if err := s.checkFilter(d, req.Filter); err != nil {
		return nil, err
	}
	sort := req.Sort
	if len(sort) == 0 {
		sort = bson.D{{Key: "_id", Value: 1}}
	}
	if err := checkSort(d, sort); err != nil {
		return nil, err
	}
	limit := req.Limit
	switch {
	case limit == 0:
		limit = s.limits.DefaultLimit
	case limit < 0 || limit > s.limits.MaxLimit:
		return nil, apperr.Invalid("limit must be between 1 and %d", s.limits.MaxLimit).
			WithDetails(map[string]any{"max_limit": s.limits.MaxLimit})
	}

	// The caller's key is computed only when a cursor is read or issued
	// (withCaller): most lists fit on one page, and the key costs a JSON
	// encoding of the principal.
	binding := cursor.Binding{Collection: coll, Sort: sort}
	withCaller := func() cursor.Binding {
		if binding.Caller == "" { // never a key: callerKey is JSON or a random marker
			binding.Caller = callerKey(r.set, coll, p)
		}
		return binding
	}
	if len(req.Filter) > 0 {
		if binding.Filter, err = bson.Marshal(req.Filter); err != nil {
			return nil, apperr.Invalid("filter cannot be encoded")
		}
	}
	var after any
	var pos *cursor.Position
	if req.Cursor != "" {
		p, err := s.cursors.Decode(req.Cursor, withCaller())
		if err != nil {
			return nil, err
		}
		pos, after = &p, s.cursors.After(sort, p)
	}
	if d.State == when.Never {
		page := &Page{Docs: []bson.Raw{}}
		if req.Count {
			page.Total = new(int64)
		}
		return page, nil
	}

	var client any
	if len(req.Filter) > 0 {
		client = req.Filter
	}
	docs, ok, err := s.findByIDOrder(ctx, coll, d, sort, client != nil, limit, pos)
	if err == nil && !ok {
		docs, err = s.fetchAfter(ctx, coll, and(policyFilter(d), client, after), sort, limit, pos)
	}
	if err != nil {
		return nil, err
	}
	page := &Page{Docs: make([]bson.Raw, 0, min(len(docs), limit))}
	if req.Count {
		n, err := s.store.Count(ctx, coll, and(policyFilter(d), client))
		if err != nil {
			return nil, err
		}
		page.Total = &n
	}
	if len(docs) > limit {
		docs = docs[:limit]
		page.HasMore = true
		// The position comes from the stored document, not from the view:
		// sort fields are readable unmasked (checkSort), so nothing hidden
		// goes into the cursor.
		if page.Cursor, err = s.cursors.Encode(withCaller(), s.cursors.PositionOf(docs[len(docs)-1], sort)); err != nil {
			return nil, err
		}
	}
	for _, doc := range docs {
		out, ok, err := show(d, doc, req.Fields)
		if err != nil {
			return nil, err
		}
		if ok {
			page.Docs = append(page.Docs, out)
		}
	}
	auditDocs(ctx, page.Docs...)
	return page, nil
}

// fetchAfter returns up to limit+1 documents matching filter in sort order
// that come strictly after pos (nil: from the start).
//
// The database filter built by cursor.After is exact for scalar sort values
// but may also match documents at or before pos when a sort field holds an
// array (MongoDB sorts an array by one element but $gt matches any). Those
// documents were already served; they sort before everything else in the
// result, so they are dropped here and the query is repeated with room for
// them until limit+1 new documents are found, the database has no more, or
// the window reaches maxWindow times the page.
func (s *Service) fetchAfter(ctx context.Context, coll string, filter any, sort bson.D, limit int, pos *cursor.Position) ([]bson.Raw, error) {
	want := limit + 1
	n := want
	var keys *cursor.Keyer
	for attempt := 0; ; attempt++ {
		docs, err := s.store.Find(ctx, coll, filter, sort, int64(n))
		if err != nil {
			return nil, err
		}
		if pos == nil {
			return docs, nil
		}
		if keys == nil {
			keys = s.cursors.Keyer(sort)
		}
		kept := docs[:0:0]
		for _, doc := range docs {
			if cursor.ComparePositions(keys.Of(doc), *pos, sort) > 0 {
				kept = append(kept, doc)
			}
		}
		seen := len(docs) - len(kept)
		next := min(max(want+seen, 2*n), maxWindow*want)
		if len(kept) >= want || len(docs) < n || attempt == 5 || next <= n {
			if len(kept) > want {
				kept = kept[:want]
			}
			return kept, nil
		}
		n = next
	}
}

// maxWindow bounds how many times the page size fetchAfter may read to skip
// documents already served, so that hostile data cannot make one request
// load an unbounded number of documents.
const maxWindow = 8

// Count returns how many documents the caller may read match filter.
func (s *Service) Count(ctx context.Context, p *principal.Principal, coll string, filter bson.D) (int64, error) {
	_, d, err := s.beginAction(p, coll, policy.Read)
	if err != nil {
		return 0, err
	}
	if err := s.checkFilter(d, filter); err != nil {
		return 0, err
	}
	if d.State == when.Never {
		return 0, nil
	}
	var client any
	if len(filter) > 0 {
		client = filter
	}
	n, err := s.store.Count(ctx, coll, and(policyFilter(d), client))
	if err == nil {
		auditCount(ctx, n)
	}
	return n, err
}

// Explanation is what POST /explain answers: the compiled policy for the
// caller, to answer "why is my query empty?".
type Explanation struct {
	Allowed bool
	// State is never, conditional or always.
	State string
	// Filter is the filter injected into the caller's queries; nil when none
	// is needed (Always).
	Filter bson.Raw
	// Rules are the granting rules with their field rules.
	Rules []policy.RuleSummary
}

// Explain returns the decision the caller gets for action on coll.
func (s *Service) Explain(_ context.Context, p *principal.Principal, coll, action string) (*Explanation, error) {
	r, err := s.begin(p, coll)
	if err != nil {
		return nil, err
	}
	return r.explain(action)
}

func (r *request) explain(action string) (*Explanation, error) {
	a := policy.Action(action)
	known := false
	for _, x := range policy.Actions {
		known = known || x == a
	}
	if !known {
		return nil, apperr.Invalid("unknown action %q", action).WithDetails(map[string]any{"actions": policy.Actions})
	}
	d := r.decide(a)
	e := &Explanation{Allowed: d.Granted, State: d.State.String(), Rules: d.Rules()}
	if d.Granted {
		e.Filter = d.Filter()
	}
	return e, nil
}
