package service

import (
	"context"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/policy/when"
	"github.com/permission-mongo/permission-mongo/internal/principal"
	"github.com/permission-mongo/permission-mongo/internal/versions"
)

// Versioning says which collections keep previous states, and where.
//
// Before every update, replace, delete (single and batch) and restore of a
// versioned collection, the state the write is about to replace is saved as
// the next version, inside the enforcement path, after every check and
// right before the compare-and-swap write conditioned on that very state
// (docs/audit.md, "Versions"). A failed save refuses the write. When the
// compare-and-swap then fails (409, a concurrent change) or the post-image
// check undoes the write, the saved version stays: it is a state the
// document really had, so a version list may hold two equal consecutive
// versions, never a state that did not exist.
type Versioning struct {
	Store *versions.Store
	// All versions every collection; otherwise only those in Collections.
	All         bool
	Collections []string
}

// On reports whether coll is versioned.
func (v *Versioning) On(coll string) bool {
	return v != nil && v.Store != nil && (v.All || slices.Contains(v.Collections, coll))
}

// MaxVersionsListed bounds GET .../versions.
const MaxVersionsListed = 1000

func (r *request) versioned() bool { return r.s.versions.On(r.coll) }

// saveVersion stores pre, the state op is about to replace, when the
// collection is versioned.
func (r *request) saveVersion(ctx context.Context, pre bson.Raw, op string) error {
	if !r.versioned() {
		return nil
	}
	_, err := r.s.versions.Store.Save(ctx, r.coll, pre.Lookup("_id"), pre, op, r.p.ID, r.now)
	return err
}

// deleteManyVersioned is DeleteMany on a versioned collection: each selected
// document is saved and deleted on its own (bounded by MaxBatch, like
// UpdateMany). A document changed meanwhile is skipped.
func (r *request) deleteManyVersioned(ctx context.Context, d *policy.Decision, client any) (int64, error) {
	targets, err := r.targets(ctx, d, client)
	if err != nil {
		return 0, err
	}
	var deleted int64
	for _, pre := range targets {
		id := pre.Lookup("_id")
		if err := r.saveVersion(ctx, pre, "delete"); err != nil {
			return deleted, err
		}
		n, err := r.s.store.DeleteOne(ctx, r.coll, and(idFilter(id), policyFilter(d), casCond(pre)))
		if err != nil {
			return deleted, err
		}
		if n > 0 {
			deleted += n
			auditDoc(ctx, id, nil)
			r.emit(ctx, "delete", id)
		}
	}
	return deleted, nil
}

// versionsOf checks that the caller may see the history of document id and
// returns the read decision. The history is visible when the caller may read
// the current document or, when it was deleted, its latest version; a
// document that exists but is hidden from the caller is a 404, whatever its
// versions hold.
func (r *request) versionsOf(ctx context.Context, id any) (*policy.Decision, error) {
	if !r.versioned() {
		return nil, apperr.NotFound("collection %q keeps no versions", r.coll)
	}
	rd, err := r.granted(policy.Read)
	if err != nil {
		return nil, err
	}
	if rd.State == when.Never {
		return nil, errNotFound()
	}
	cur, err := r.s.store.FindOne(ctx, r.coll, and(idFilter(id), policyFilter(rd)))
	if err != nil {
		return nil, err
	}
	if cur != nil {
		if _, err := shownOr404(rd, cur, nil); err != nil {
			return nil, err
		}
		return rd, nil
	}
	n, err := r.s.store.Count(ctx, r.coll, idFilter(id))
	if err != nil {
		return nil, err
	}
	if n > 0 {
		return nil, errNotFound() // exists, hidden
	}
	latest, err := r.latestVersion(ctx, id)
	if err != nil {
		return nil, err
	}
	if _, err := shownOr404(rd, latest.Doc, nil); err != nil {
		return nil, err
	}
	return rd, nil
}

// latestVersion is the last state saved of document id (for a deleted
// document, the state it was deleted in); a 404 when it has none.
func (r *request) latestVersion(ctx context.Context, id any) (*versions.Version, error) {
	list, err := r.s.versions.Store.List(ctx, r.coll, id, 1)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, errNotFound()
	}
	return r.s.versions.Store.Get(ctx, r.coll, id, list[0].Version)
}

// readableVersion returns version v of document id, and how the caller
// reads it, when the caller may see the document's history and may read
// that version's content (the read rules judged on the old state); a 404
// otherwise, the same answer as for a version that does not exist.
func (r *request) readableVersion(ctx context.Context, id any, v int64, fields []string) (*versions.Version, bson.Raw, error) {
	rd, err := r.versionsOf(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	ver, err := r.s.versions.Store.Get(ctx, r.coll, id, v)
	if err != nil {
		return nil, nil, err
	}
	out, err := shownOr404(rd, ver.Doc, fields)
	if err != nil {
		return nil, nil, err
	}
	return ver, out, nil
}

// shownOr404 is doc as the read decision shows it, or a 404 when the
// decision does not match it or shows nothing of it.
func shownOr404(rd *policy.Decision, doc bson.Raw, fields []string) (bson.Raw, error) {
	if !rd.Match(doc) {
		return nil, errNotFound()
	}
	return shown(rd, doc, fields)
}

// ListVersions returns the versions of a document, newest first.
func (s *Service) ListVersions(ctx context.Context, p *principal.Principal, coll, id string) ([]versions.Summary, error) {
	r, oid, err := s.beginID(p, coll, id)
	if err != nil {
		return nil, err
	}
	rd, err := r.versionsOf(ctx, oid)
	if err != nil {
		return nil, err
	}
	full, err := s.versions.Store.ListDocs(ctx, coll, oid, MaxVersionsListed)
	if err != nil {
		return nil, err
	}
	// Only the states the caller could read are listed: who changed a
	// document while it was in another scope, and when, is not theirs.
	list := []versions.Summary{}
	for _, v := range full {
		if rd.Match(v.Doc) {
			list = append(list, v.Summary())
		}
	}
	auditDoc(ctx, oid, nil)
	return list, nil
}

// GetVersion returns version v of a document through the read rules
// evaluated on that old state: a version whose content the caller could not
// read is a 404, and masks and hidden fields apply as to a current document.
func (s *Service) GetVersion(ctx context.Context, p *principal.Principal, coll, id string, v int64, fields []string) (bson.Raw, error) {
	r, oid, err := s.beginID(p, coll, id)
	if err != nil {
		return nil, err
	}
	_, out, err := r.readableVersion(ctx, oid, v, fields)
	if err != nil {
		return nil, err
	}
	auditDoc(ctx, oid, nil)
	return out, nil
}

// RestoreVersion makes version v the current state of the document. It needs
// the restore action. When the document exists, the version goes through
// the very path of PUT (replaceDoc): deny_write fields keep their stored
// values, the new state must satisfy the restore rule (403 otherwise, e.g.
// a version of another tenant), the write is a compare-and-swap, and the
// state replaced is saved as a version first. When the document was
// deleted, recreate does the same against the state it had when deleted.
func (s *Service) RestoreVersion(ctx context.Context, p *principal.Principal, coll, id string, v int64) (bson.Raw, error) {
	r, d, oid, err := s.beginDoc(p, coll, policy.Restore, id)
	if err != nil {
		return nil, err
	}
	// The version itself must be one the caller may read (as GetVersion
	// requires) and may restore, judged on the version as stored — before
	// keepDenied puts stored values back, which could otherwise carry
	// another scope's content into this one.
	ver, _, err := r.readableVersion(ctx, oid, v, nil)
	if err != nil {
		return nil, err
	}
	if d.State == when.Never || !d.Match(ver.Doc) {
		return nil, errOutOfScope("restored version")
	}
	body, err := toD(ver.Doc)
	if err != nil {
		return nil, err
	}
	exists, err := s.store.Count(ctx, coll, idFilter(oid))
	if err != nil {
		return nil, err
	}
	if exists > 0 {
		return r.replaceDoc(ctx, d, oid, body, "restore")
	}
	if conditional(ctx) {
		// If-Match names a current state, and a deleted document has none.
		return nil, errPrecondition()
	}
	return r.recreate(ctx, d, oid, body)
}

// recreate inserts a deleted document's version again.
//
// The restored state was written by the server (a saved pre-image), not by
// the client, so a deny_write field in it is not the caller writing that
// field; refusing it would make restore impossible wherever deny_write lists
// the tenant field. What the caller must not gain is a value it could not
// have written: so, exactly as a restore of an existing document keeps the
// stored values, every path the rules deny the caller (deny_write, and what
// it cannot read unmasked) takes the value the document had when it was
// deleted — its latest version. Restoring the latest version is thus always
// the state deleted, and an older one cannot roll back a field the caller
// may not write. The result must then satisfy the restore rule, and a field
// preset from user.tenant_id must hold the caller's tenant (403 otherwise).
func (r *request) recreate(ctx context.Context, d *policy.Decision, id any, body bson.D) (bson.Raw, error) {
	if d.State == when.Never {
		return nil, errNotFound()
	}
	deleted, err := r.latestVersion(ctx, id)
	if err != nil {
		return nil, err
	}
	deletedD, err := toD(deleted.Doc)
	if err != nil {
		return nil, err
	}
	doc := bson.D{{Key: "_id", Value: id}}
	var createdBy, createdAt any
	for _, e := range body {
		switch {
		case e.Key == "_id":
		case e.Key == FieldCreatedBy:
			createdBy = e.Value
		case e.Key == FieldCreatedAt:
			createdAt = e.Value
		case isStamp(e.Key):
		default:
			doc = append(doc, e)
		}
	}
	doc = keepDenied(d, r.decide(policy.Read).FieldsFor(deleted.Doc), deleted.Doc, deletedD, doc)
	if createdBy != nil {
		doc = append(doc, bson.E{Key: FieldCreatedBy, Value: createdBy})
	}
	if createdAt != nil {
		doc = append(doc, bson.E{Key: FieldCreatedAt, Value: createdAt})
	}
	doc = append(doc,
		bson.E{Key: FieldUpdatedAt, Value: bson.NewDateTimeFromTime(r.now)},
		bson.E{Key: FieldUpdatedBy, Value: r.p.ID})
	doc, schemaFails := r.schemaReplace(doc)
	raw, err := bson.Marshal(doc)
	if err != nil {
		return nil, apperr.Invalid("document cannot be encoded")
	}
	if err := r.tenantPresetsHold(doc); err != nil {
		return nil, err
	}
	if !d.Match(raw) {
		return nil, errOutOfScope("restored document")
	}
	// The version restored is checked against today's schema; immutable
	// fields and references compare with the version itself.
	if err := r.schemaCheckReplace(ctx, deleted.Doc, raw, schemaFails); err != nil {
		return nil, err
	}
	// A concurrent restore of the same document loses on the unique _id:
	// 409, nothing written twice.
	if err := r.s.store.Insert(ctx, r.coll, raw); err != nil {
		return nil, err
	}
	noteETag(ctx, raw)
	auditDoc(ctx, id, changedFields(bson.Raw{5, 0, 0, 0, 0}, raw))
	r.emit(ctx, "create", id)
	return r.readBack(raw)
}

// tenantPresetsHold refuses a document in which a field preset from
// user.tenant_id does not hold the caller's tenant: a create would have
// stamped it, so a restore may not bring another value back, whatever the
// rule's `when` says.
func (r *request) tenantPresetsHold(doc bson.D) error {
	for _, pr := range r.set.Presets(r.coll) {
		if pr.CallerPath != "tenant_id" {
			continue
		}
		want, err := r.presetValue(pr)
		if err != nil {
			return err
		}
		got, ok := getPath(doc, pr.Field)
		if !ok {
			return errOutOfScope("restored document")
		}
		if !sameValue(got, want) {
			return errOutOfScope("restored document")
		}
	}
	return nil
}
