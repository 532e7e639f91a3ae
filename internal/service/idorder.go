package service

import (
	"context"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/cursor"
	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/store"
)

// IDOrder lists the documents of a collection in ascending _id order, read
// from the database's files rather than through a query (store.IDOrder, the
// embedded backend), each with the form it is stored in: StoredDoc.Doc
// decodes it, or says it cannot. ok is false when it cannot list: the caller
// then asks the database as usual.
type IDOrder interface {
	AfterDocs(ctx context.Context, coll string, after bson.ObjectID, n int, anyOf [][]store.StringEquals) (docs []store.StoredDoc, ok bool)
}

// On a backend that pushes down only {_id} (LookupByIDOnly), a list reads,
// decodes and sorts every stored document whatever the page size: at
// 100,000 documents a page of 20 takes seconds. With the _ids in order
// (Params.IDOrder), the default list (by _id, no client filter) is answered
// instead by walking the documents after the cursor in _id order, as
// IDOrder reads them from the backend's files with their _ids, and keeping
// those the policy lets the caller read, checked in memory by
// Decision.Match: the check the differential test of package when proves
// equal to the filter (the same condition as findByID, lookup.go). The walk
// stops at limit+1 matches, or gives up after walkBudget _ids and the list
// is asked of the database as before.
//
// IDOrder skips, in SQL, the documents that certainly fail the policy's
// string equalities (tenant_id == the caller's tenant): with two tenants,
// half the rows of a page. Each document it returns is decoded from its
// stored form (store.StoredDoc.Doc, the bytes FerretDB's find would
// answer); one it cannot decode is fetched by {_id} instead, which the
// backend answers through an index (a FerretDB find costs a few hundred
// microseconds of CPU, which is what reading the documents with their _ids
// saves). Decision.Match decides every document either way.

// walkBudget bounds how many _ids one page may look at before falling back.
const walkBudget = 2000

// The documents are decoded (or fetched) one after the other, each only
// while the page still needs one. (When every document was fetched by {_id},
// fetching four at a time was measured no faster on the 2-core development
// machine under load, benchmarks/README.md: FerretDB's find is CPU-bound.)

// findByIDOrder returns up to limit+1 documents after pos in _id order that
// d lets the caller read, or ok false when the walk does not apply or gave
// up.
func (s *Service) findByIDOrder(ctx context.Context, coll string, d *policy.Decision, sort bson.D, hasFilter bool, limit int, pos *cursor.Position) ([]bson.Raw, bool, error) {
	if s.idOrder == nil || !s.byIDOnly || hasFilter || !ascendingByID(sort) {
		return nil, false, nil
	}
	pf := d.Filter()
	if pf != nil && nullOnDottedPath(pf) {
		return nil, false, nil
	}
	anyOf := stringEqualities(pf)
	var after bson.ObjectID
	if pos != nil {
		if len(pos.Values) != 1 || pos.Missing[0] || pos.Values[0].Type != bson.TypeObjectID {
			return nil, false, nil
		}
		after = pos.Values[0].ObjectID()
	}
	want := limit + 1
	if want > walkBudget {
		return nil, false, nil // the walk would give up before the page is full
	}
	out := make([]bson.Raw, 0, want)
	for walked := 0; walked < walkBudget; {
		// Ask for about what the page still needs, twice over for the
		// documents the policy hides: reading rows costs little, and the
		// documents are decoded only while the page needs more.
		n := min(max(2*(want-len(out)), 8), walkBudget-walked)
		stored, ok := s.idOrder.AfterDocs(ctx, coll, after, n, anyOf)
		if !ok {
			return nil, false, nil
		}
		for _, sd := range stored {
			doc, decoded := sd.Doc()
			if !decoded {
				var err error
				if doc, err = s.store.FindOne(ctx, coll, idFilter(sd.ID)); err != nil {
					return nil, false, err
				}
			}
			// nil: deleted since its _id was read, like a document deleted
			// just before a query.
			if doc != nil && d.Match(doc) {
				out = append(out, doc)
				if len(out) == want {
					return out, true, nil
				}
			}
		}
		if len(stored) < n {
			return out, true, nil // the end of the collection
		}
		walked += len(stored)
		after = stored[len(stored)-1].ID
	}
	return nil, false, nil
}

// stringEqualities returns, for a policy filter, conditions every document
// it matches satisfies, as IDOrder.After takes them: per branch of a top-level
// $or (one per rule), the fields compared with {$eq: <string>} in that
// branch's top-level $and. Leaving a condition out only keeps more
// documents; nil when some branch has none (it could match anything).
func stringEqualities(filter bson.Raw) [][]store.StringEquals {
	if filter == nil {
		return nil
	}
	branches := []bson.Raw{filter}
	if elems, err := filter.Elements(); err == nil && len(elems) == 1 && elems[0].Key() == "$or" {
		arr, ok := elems[0].Value().ArrayOK()
		if !ok {
			return nil
		}
		vals, err := arr.Values()
		if err != nil || len(vals) == 0 {
			return nil
		}
		branches = branches[:0]
		for _, v := range vals {
			doc, ok := v.DocumentOK()
			if !ok {
				return nil
			}
			branches = append(branches, doc)
		}
	}
	var anyOf [][]store.StringEquals
	for _, b := range branches {
		all := appendEqualities(nil, b)
		if len(all) == 0 {
			return nil
		}
		anyOf = append(anyOf, all)
	}
	return anyOf
}

// appendEqualities appends the {field: {$eq: <string>}} conditions of the
// conjunction doc (its fields and those of a nested $and).
func appendEqualities(dst []store.StringEquals, doc bson.Raw) []store.StringEquals {
	elems, err := doc.Elements()
	if err != nil {
		return dst
	}
	for _, e := range elems {
		k, v := e.Key(), e.Value()
		switch {
		case k == "$and":
			arr, ok := v.ArrayOK()
			if !ok {
				continue
			}
			vals, _ := arr.Values()
			for _, sub := range vals {
				if d, ok := sub.DocumentOK(); ok {
					dst = appendEqualities(dst, d)
				}
			}
		case strings.HasPrefix(k, "$") || strings.Contains(k, "."):
			// another operator, or a dotted path (arrays on the way)
		default:
			op, ok := v.DocumentOK()
			if !ok {
				continue
			}
			ops, err := op.Elements()
			if err != nil || len(ops) != 1 || ops[0].Key() != "$eq" {
				continue
			}
			if str, ok := ops[0].Value().StringValueOK(); ok {
				dst = append(dst, store.StringEquals{Field: k, Value: str})
			}
		}
	}
	return dst
}

// ascendingByID reports the sort {_id: 1}.
func ascendingByID(sort bson.D) bool {
	if len(sort) != 1 || sort[0].Key != "_id" {
		return false
	}
	switch v := sort[0].Value.(type) {
	case int:
		return v == 1
	case int32:
		return v == 1
	case int64:
		return v == 1
	}
	return false
}
