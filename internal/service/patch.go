package service

import (
	"context"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/fieldpath"
	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/principal"
	"github.com/permission-mongo/permission-mongo/internal/query"
)

// Patch applies a merge patch or an operator update (query.ParseUpdate) to
// one document and returns it after the update.
//
// Checks: the target must match the update filter (404), no written path may
// be deny_write for the rules matching the target (403), paths the update
// reads ($pull conditions, $push $sort keys) must be readable (403), and the
// document after the update must still satisfy the update rule (403, and the
// change is undone). The write is a compare-and-swap on updated_at, so a
// concurrent change between the check and the write is a 409, never a write
// on an unchecked document. See docs/writes.md.
func (s *Service) Patch(ctx context.Context, p *principal.Principal, coll, id string, body bson.D) (bson.Raw, error) {
	r, d, oid, err := s.beginDoc(p, coll, policy.Update, id)
	if err != nil {
		return nil, err
	}
	upd, err := r.parseUpdate(d, body)
	if err != nil {
		return nil, err
	}
	pre, err := r.preImage(ctx, d, oid)
	if err != nil {
		return nil, err
	}
	post, err := r.patchOne(ctx, d, pre, upd)
	if err != nil {
		return nil, err
	}
	return r.readBack(post)
}

// parseUpdate parses an update body (query.ParseUpdate) and checks it
// (checkUpdate) before any document is looked at; a single and a batch
// update share it.
func (r *request) parseUpdate(d *policy.Decision, body bson.D) (query.Update, error) {
	upd, err := query.ParseUpdate(body)
	if err != nil {
		return query.Update{}, err
	}
	if err := r.checkUpdate(d, upd); err != nil {
		return query.Update{}, err
	}
	return upd, nil
}

// checkUpdate validates what an update writes and reads, before any
// document is looked at: stamps are the server's; read paths ($pull
// conditions, $push $sort keys, $rename sources, targets of value-dependent
// operators) leak like filter paths; and a write below an opaque field
// reveals its type.
func (r *request) checkUpdate(d *policy.Decision, upd query.Update) error {
	for _, path := range upd.Paths {
		if isStamp(path) {
			return errStamp(path)
		}
	}
	rd := r.decide(policy.Read)
	for _, path := range upd.ReadPaths {
		if !rd.Granted || !rd.Readable(path) || !d.Readable(path) {
			return apperr.Forbidden("the update reads field %q, which is not readable", path).
				WithDetails(map[string]any{"field": path})
		}
	}
	// A write below a hidden or masked field ("a.b", "a.0", "a.$[]" where
	// "a" is hidden) succeeds or fails with the hidden value's type, and
	// when it succeeds it writes into the hidden value: refuse it like a
	// read. Targets are checked as written, since their index and
	// positional segments are what reach below the field; Paths add the
	// sub-fields of written values.
	for _, list := range [][]string{upd.Targets, upd.Paths} {
		for _, path := range list {
			for _, parent := range fieldpath.Parents(path) {
				if !rd.Granted || rd.Opaque(parent) || d.Opaque(parent) {
					return apperr.Forbidden("the update writes below field %q, which is not readable", parent).
						WithDetails(map[string]any{"field": parent})
				}
			}
		}
	}
	return nil
}

// patchOne applies upd to the document whose current version is pre (read
// with d's filter): deny_write check, compare-and-swap write, post-image
// check with undo. It returns the document as stored after the update.
func (r *request) patchOne(ctx context.Context, d *policy.Decision, pre bson.Raw, upd query.Update) (bson.Raw, error) {
	if f, denied := d.WriteDeniedFor(pre, upd.Paths); denied {
		return nil, errWriteDenied(f)
	}
	// After every policy check, so that a refused write answers 403
	// whatever else is wrong with it.
	if err := upd.Unsendable(); err != nil {
		return nil, err
	}
	if err := r.s.checkStorable(upd.Doc); err != nil {
		return nil, err
	}
	if err := r.schemaBeforeUpdate(upd); err != nil {
		return nil, err
	}
	if err := renameThroughValue(pre, upd.Doc); err != nil {
		return nil, err
	}
	id := pre.Lookup("_id")
	next := r.nextStamp(pre)
	update := withStamps(upd.Doc, next, r.p.ID)
	var post bson.Raw
	err := r.casWrite(ctx, d, id, pre, "update", func(filter any) (_ bool, err error) {
		post, err = r.s.store.UpdateOne(ctx, r.coll, filter, update)
		return post != nil, err
	})
	if err != nil {
		return nil, err
	}
	if !d.Match(post) {
		r.restore(ctx, id, pre, next)
		return nil, errOutOfScope("update")
	}
	if post, err = r.schemaAfterUpdate(ctx, pre, post, next); err != nil {
		r.restore(ctx, id, pre, next)
		return nil, err
	}
	noteETag(ctx, post)
	auditDoc(ctx, id, upd.Paths)
	r.emit(ctx, "update", id)
	return post, nil
}

// renameThroughValue refuses a $rename whose source or target runs through
// a stored value that is not a document ("s.x" where s is a string or an
// array). MongoDB and DocumentDB answer those with client-error codes, but
// FerretDB v1 answers InternalError, which cannot be told apart from a real
// failure; checked on the pre-image, the answer is the same 400 everywhere.
// The prefixes checked are readable (their fields were checked by
// checkUpdate), so naming the problem reveals nothing hidden. A concurrent
// change of the document makes the compare-and-swap write miss (409).
func renameThroughValue(pre bson.Raw, doc bson.D) error {
	for _, op := range doc {
		if op.Key != "$rename" {
			continue
		}
		pairs, _ := op.Value.(bson.D)
		for _, e := range pairs {
			to, _ := e.Value.(string)
			for _, path := range []string{e.Key, to} {
				segs := strings.Split(path, ".")
				for i := 1; i < len(segs); i++ {
					v, err := pre.LookupErr(segs[:i]...)
					if err != nil {
						break // absent: the server creates documents on the way
					}
					if v.Type != bson.TypeEmbeddedDocument {
						return apperr.Invalid("$rename: %q runs through %q, which holds a value that is not a document", path, strings.Join(segs[:i], ".")).
							WithDetails(map[string]any{"field": path})
					}
				}
			}
		}
	}
	return nil
}

// restore puts pre back after an update whose result the policy refuses.
// It only replaces the version this request wrote (updated_at == next): if
// someone changed the document in between, their version is left alone and
// the event is logged (docs/writes.md describes this window).
func (r *request) restore(ctx context.Context, id any, pre bson.Raw, next bson.DateTime) {
	// The client may have gone away; the undo must still run.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	filter := bson.D{{Key: "_id", Value: id}, {Key: FieldUpdatedAt, Value: next}}
	back, err := r.s.store.ReplaceOne(ctx, r.coll, filter, pre)
	if err != nil || back == nil {
		r.s.log.Error("could not undo an update refused by policy", "collection", r.coll, "id", id, "err", err,
			"changed_meanwhile", err == nil)
	}
}

// withStamps adds updated_at and updated_by to the $set of an operator
// update (stamp paths were refused in the client's update, so nothing
// collides).
func withStamps(update bson.D, at bson.DateTime, by string) bson.D {
	out := make(bson.D, 0, len(update)+1)
	stamps := bson.D{{Key: FieldUpdatedAt, Value: at}, {Key: FieldUpdatedBy, Value: by}}
	found := false
	for _, e := range update {
		if e.Key == "$set" {
			if set, ok := e.Value.(bson.D); ok {
				e.Value = append(append(bson.D(nil), set...), stamps...)
				found = true
			}
		}
		out = append(out, e)
	}
	if !found {
		out = append(out, bson.E{Key: "$set", Value: stamps})
	}
	return out
}
