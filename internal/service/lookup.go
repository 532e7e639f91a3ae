package service

import (
	"context"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/policy"
)

// A backend that pushes only {_id} down (FerretDB v1 on SQLite,
// Params.LookupByIDOnly) answers {$and: [{_id}, policy]} by decoding every
// stored document in Go and evaluating the filter on it, until the one
// matching document is found. Asked for {_id} alone, it evaluates the
// condition in SQL instead, about fifteen times cheaper per document
// (measured: benchmarks/README.md). So Get asks for {_id} alone and applies
// the policy to the one document with the in-memory check (Decision.Match).
//
// The differential test of package when proves that check equal to the
// filter on each engine except for documented null comparisons on dotted
// paths; a policy filter holding one (nullOnDottedPath) keeps the $and
// query, so a document is shown under exactly the same conditions as before.

// findByID returns the document with id that the decision lets the caller
// read, or nil.
func (s *Service) findByID(ctx context.Context, coll string, id any, d *policy.Decision) (bson.Raw, error) {
	pf := d.Filter()
	if !s.byIDOnly || pf == nil || nullOnDottedPath(pf) {
		return s.store.FindOne(ctx, coll, and(idFilter(id), policyFilter(d)))
	}
	doc, err := s.store.FindOne(ctx, coll, idFilter(id))
	if err != nil || doc == nil || !d.Match(doc) {
		return nil, err
	}
	return doc, nil
}

// nullOnDottedPath reports a filter that compares a dotted path with null
// anywhere ({"a.b": null}, {"a.b": {$in: [null]}}, {"a.b": {$ne: null}},
// also inside $expr): where a lies on an array, engines disagree with
// MongoDB on which documents match, and the in-memory check follows MongoDB.
// It is deliberately broad: any null together with any dotted path.
func nullOnDottedPath(filter bson.Raw) bool {
	var hasNull, hasDotted bool
	var walk func(v bson.RawValue)
	walkDoc := func(d bson.Raw, keys bool) {
		elems, _ := d.Elements()
		for _, e := range elems {
			if k := e.Key(); keys && !strings.HasPrefix(k, "$") && strings.Contains(k, ".") {
				hasDotted = true
			}
			walk(e.Value())
		}
	}
	walk = func(v bson.RawValue) {
		switch v.Type {
		case bson.TypeNull, bson.TypeUndefined:
			hasNull = true
		case bson.TypeString:
			if s := v.StringValue(); strings.HasPrefix(s, "$") && strings.Contains(s, ".") {
				hasDotted = true // a field path inside $expr
			}
		case bson.TypeEmbeddedDocument:
			walkDoc(v.Document(), true)
		case bson.TypeArray:
			walkDoc(bson.Raw(v.Array()), false)
		}
	}
	walkDoc(filter, true)
	return hasNull && hasDotted
}
