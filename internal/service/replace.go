package service

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/fieldpath"
	"github.com/permission-mongo/permission-mongo/internal/mongosem"
	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/principal"
	"github.com/permission-mongo/permission-mongo/internal/query"
)

// Replace replaces one document (PUT) and returns it as stored.
//
// Fields the caller may not write keep their stored values whatever the body
// says (HTTP contract: "PUT keeps denied fields as they were"); stamp fields
// in the body are ignored and kept/stamped by the server, so that a document
// read with GET can be sent back as is; an _id in the body must equal the
// path id. The new document is complete before it is written, so the policy
// check on it runs before the write; the write is a compare-and-swap on the
// pre-image's updated_at (409 on a concurrent change).
func (s *Service) Replace(ctx context.Context, p *principal.Principal, coll, id string, body bson.D) (bson.Raw, error) {
	r, d, oid, err := s.beginDoc(p, coll, policy.Update, id)
	if err != nil {
		return nil, err
	}
	return r.replaceDoc(ctx, d, oid, body, "replace")
}

// replaceDoc is the one replace path, for PUT and for restore (op): body
// becomes the document oid within d's scope, with the checks described at
// Replace. On a versioned collection the state replaced is saved first.
func (r *request) replaceDoc(ctx context.Context, d *policy.Decision, oid any, body bson.D, op string) (bson.Raw, error) {
	s, p, coll := r.s, r.p, r.coll
	if err := query.CheckDocument(body); err != nil {
		return nil, err
	}
	newDoc := bson.D{{Key: "_id", Value: oid}}
	for _, e := range body {
		switch {
		case e.Key == "_id":
			a, errA := rawValue(e.Value)
			b, errB := rawValue(oid)
			if errA != nil || errB != nil || !mongosem.Equal(a, b) || a.Type != b.Type {
				return nil, apperr.Invalid("_id in the body differs from the id in the path")
			}
		case isStamp(e.Key):
			// ignored: the server keeps or sets these below
		default:
			newDoc = append(newDoc, e)
		}
	}
	pre, err := r.preImage(ctx, d, oid)
	if err != nil {
		return nil, err
	}
	preD, err := toD(pre)
	if err != nil {
		return nil, err
	}
	newDoc = keepDenied(d, r.decide(policy.Read).FieldsFor(pre), pre, preD, newDoc)
	for _, f := range []string{FieldCreatedBy, FieldCreatedAt} {
		if v, ok := getPath(preD, f); ok {
			newDoc = append(newDoc, bson.E{Key: f, Value: v})
		}
	}
	newDoc = append(newDoc,
		bson.E{Key: FieldUpdatedAt, Value: r.nextStamp(pre)},
		bson.E{Key: FieldUpdatedBy, Value: p.ID})
	newDoc, schemaFails := r.schemaReplace(newDoc)
	raw, err := bson.Marshal(newDoc)
	if err != nil {
		return nil, apperr.Invalid("document cannot be encoded")
	}
	if !d.Match(raw) {
		return nil, errOutOfScope("replacement")
	}
	if err := s.checkStorable(newDoc); err != nil {
		return nil, err
	}
	if err := r.schemaCheckReplace(ctx, pre, raw, schemaFails); err != nil {
		return nil, err
	}
	var post bson.Raw
	err = r.casWrite(ctx, d, oid, pre, op, func(filter any) (_ bool, err error) {
		post, err = s.store.ReplaceOne(ctx, coll, filter, raw)
		return post != nil, err
	})
	if err != nil {
		return nil, err
	}
	noteETag(ctx, post)
	auditDoc(ctx, oid, changedFields(pre, post))
	r.emit(ctx, "update", oid)
	return r.readBack(post)
}

// keepDenied returns newDoc with every path that the rules matching pre deny
// writing set back to its stored value (or removed when it was not stored).
// Paths are handled from the shallowest: a denied path whose old and new
// values are both documents is descended into, so that only the denied
// sub-fields are kept; otherwise the whole value is kept as stored.
func keepDenied(d *policy.Decision, view *policy.View, pre bson.Raw, preD, newDoc bson.D) bson.D {
	seen := map[string]bool{}
	var cands []string
	for _, p := range append(query.ReplacementPaths(newDoc), query.ReplacementPaths(preD)...) {
		if p == "_id" || isStamp(p) || seen[p] {
			continue
		}
		seen[p] = true
		if _, denied := d.WriteDeniedFor(pre, []string{p}); denied || !shownAsStored(view, p) {
			// Below an array the stored and the sent elements cannot be
			// paired up (arrays of arrays included), so the whole array is
			// kept as stored.
			if q, ok := arrayAbove(preD, p); ok {
				p = q
			}
			if q, ok := arrayAbove(newDoc, p); ok {
				p = q
			}
			cands = append(cands, p)
		}
	}
	// ReplacementPaths lists parents before children; sort by depth to be
	// sure across the two lists.
	sortByDepth(cands)
	var whole []string
	for _, p := range cands {
		if underAny(p, whole) || slices.Contains(whole, p) {
			continue
		}
		nv, nok := getPath(newDoc, p)
		pv, pok := getPath(preD, p)
		if nok && pok && isDoc(nv) && isDoc(pv) {
			continue // the denied sub-fields come later in cands
		}
		if pok {
			newDoc, _ = setPath(newDoc, p, pv)
		} else {
			newDoc = unsetPath(newDoc, p)
		}
		whole = append(whole, p)
	}
	return newDoc
}

// arrayAbove returns the shallowest proper prefix of the dotted path p at
// which d holds an array, if any.
func arrayAbove(d bson.D, p string) (string, bool) {
	for i := 0; i < len(p); i++ {
		if p[i] != '.' {
			continue
		}
		v, ok := getPath(d, p[:i])
		if !ok {
			return "", false
		}
		switch v.(type) {
		case bson.A:
			return p[:i], true
		case bson.D:
		default:
			return "", false
		}
	}
	return "", false
}

// shownAsStored reports whether the caller reads path p as stored. A PUT
// body holds what the caller read: a hidden field is absent from it and a
// masked one holds the mask's text, so neither may overwrite the stored
// value. A caller that cannot read the document at all (view nil) keeps
// every field.
func shownAsStored(view *policy.View, p string) bool {
	if view == nil {
		return false
	}
	v, _ := view.Vis(p)
	return v == policy.Visible || v == policy.Partial
}

// sortByDepth orders dotted paths from the shallowest, keeping the order of
// paths of equal depth (a parent listed before its children stays so).
func sortByDepth(ps []string) {
	slices.SortStableFunc(ps, func(a, b string) int {
		return cmp.Compare(strings.Count(a, "."), strings.Count(b, "."))
	})
}

func underAny(p string, parents []string) bool {
	return slices.ContainsFunc(parents, func(q string) bool { return fieldpath.StrictlyBelow(p, q) })
}
