package service

import (
	"context"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/fieldpath"
	"github.com/permission-mongo/permission-mongo/internal/mongosem"
	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/policy/when"
	"github.com/permission-mongo/permission-mongo/internal/principal"
	"github.com/permission-mongo/permission-mongo/internal/query"
)

func errStamp(field string) error {
	return apperr.Invalid("field %q is set by the server and cannot be written", field).
		WithDetails(map[string]any{"field": field})
}

func errWriteDenied(field string) error {
	return apperr.Forbidden("writing field %q is not allowed", field).
		WithDetails(map[string]any{"field": field})
}

func errOutOfScope(what string) error {
	return apperr.Forbidden("the %s would leave the caller's scope", what)
}

func errConflict() error {
	return apperr.New(apperr.KindConflict, "the document was modified concurrently; read it again and retry")
}

// rawValue encodes a Go value the way it will be stored.
func rawValue(v any) (bson.RawValue, error) {
	t, b, err := bson.MarshalValue(v)
	if err != nil {
		return bson.RawValue{}, err
	}
	return bson.RawValue{Type: t, Value: b}, nil
}

// presetValue is the value a preset stamps for this caller. A caller value
// that is absent fails closed: the caller cannot create documents in a
// collection whose scope it has no value for.
func (r *request) presetValue(pr *policy.Preset) (any, error) {
	switch {
	case pr.Now:
		return bson.NewDateTimeFromTime(r.now), nil
	case pr.CallerPath != "":
		v, ok := r.p.Lookup(pr.CallerPath)
		if !ok || v == nil {
			return nil, apperr.Forbidden("field %q is preset from user.%s, which the caller does not have", pr.Field, pr.CallerPath).
				WithDetails(map[string]any{"field": pr.Field})
		}
		return v, nil
	}
	return pr.Value, nil
}

// Create inserts doc and returns it as the caller may read it (only its _id
// when the caller may not read what it created).
//
// Presets are stamped from the caller; a client value for a preset field is
// accepted only when equal to the preset (so a client may echo its own
// tenant) and refused with 403 otherwise. Stamp fields (created_*, updated_*)
// sent by the client are a 400. See docs/writes.md.
func (s *Service) Create(ctx context.Context, p *principal.Principal, coll string, doc bson.D) (bson.Raw, error) {
	r, err := s.begin(p, coll)
	if err != nil {
		return nil, err
	}
	d, err := r.granted(policy.Create)
	if err != nil {
		return nil, err
	}
	raw, paths, err := r.prepareCreate(ctx, d, doc)
	if err != nil {
		return nil, err
	}
	if err := s.store.Insert(ctx, coll, raw); err != nil {
		return nil, err
	}
	noteETag(ctx, raw)
	auditDoc(ctx, raw.Lookup("_id"), paths)
	r.emit(ctx, "create", raw.Lookup("_id"))
	return r.readBack(raw)
}

// prepareCreate runs every check of a create on doc and returns the document
// to insert (presets, stamps and _id applied) and the paths the client wrote.
// Create, batch create and import all go through it, so none of them can
// skip a check the others make.
func (r *request) prepareCreate(ctx context.Context, d *policy.Decision, doc bson.D) (bson.Raw, []string, error) {
	p := r.p
	if err := query.CheckDocument(doc); err != nil {
		return nil, nil, err
	}
	for _, e := range doc {
		if isStamp(e.Key) {
			return nil, nil, errStamp(e.Key)
		}
	}
	// Copy so the caller's slice is not modified.
	doc = append(bson.D(nil), doc...)

	server := map[string]bool{"_id": true}
	for _, pr := range r.set.Presets(r.coll) {
		v, err := r.presetValue(pr)
		if err != nil {
			return nil, nil, err
		}
		if sent, ok := getPath(doc, pr.Field); ok {
			a, errA := rawValue(sent)
			b, errB := rawValue(v)
			if errA != nil || errB != nil || !mongosem.Equal(a, b) {
				return nil, nil, apperr.Forbidden("field %q is set by the server and differs from the value sent", pr.Field).
					WithDetails(map[string]any{"field": pr.Field})
			}
		}
		var ok bool
		if doc, ok = setPath(doc, pr.Field, v); !ok {
			return nil, nil, apperr.Invalid("field %q cannot hold the preset value", pr.Field)
		}
		server[pr.Field] = true
	}
	if _, ok := getPath(doc, "_id"); !ok {
		doc = append(bson.D{{Key: "_id", Value: bson.NewObjectID()}}, doc...)
	}
	// setPath, not append: a policy may also list a stamp field as a preset
	// (created_by: user.id), and a document must not carry a key twice.
	stamp := bson.NewDateTimeFromTime(r.now)
	doc, _ = setPath(doc, FieldCreatedBy, p.ID)
	doc, _ = setPath(doc, FieldCreatedAt, stamp)
	doc, _ = setPath(doc, FieldUpdatedAt, stamp)
	doc, schemaFails := r.schemaCreate(doc, server)
	raw, err := bson.Marshal(doc)
	if err != nil {
		return nil, nil, apperr.Invalid("document cannot be encoded")
	}

	// deny_write applies to what the client wrote, not to what the server
	// stamped.
	var paths []string
	for _, path := range query.ReplacementPaths(doc) {
		if !isStamp(path) && !serverWritten(server, path) {
			paths = append(paths, path)
		}
	}
	// Scope first: a document no rule matches has every path "denied", and
	// naming one of them (often the first field sent) would send the client
	// after the wrong problem.
	if d.State == when.Never || !d.Match(raw) {
		return nil, nil, errOutOfScope("new document")
	}
	if f, denied := d.WriteDeniedFor(raw, paths); denied {
		return nil, nil, errWriteDenied(f)
	}
	if err := r.s.checkStorable(doc); err != nil {
		return nil, nil, err
	}
	if err := r.schemaCheckNew(ctx, raw, schemaFails); err != nil {
		return nil, nil, err
	}
	return raw, paths, nil
}

// serverWritten reports whether path is, or is inside, a field the server
// set.
func serverWritten(server map[string]bool, path string) bool {
	for f := range server {
		if fieldpath.Covers(f, path) {
			return true
		}
	}
	return false
}

// readBack shows a document the caller just wrote through its read rules.
func (r *request) readBack(doc bson.Raw) (bson.Raw, error) {
	out, ok, err := show(r.decide(policy.Read), doc, nil)
	if err != nil {
		return nil, err
	}
	if !ok {
		return idOnly(doc), nil
	}
	return out, nil
}

// preImage reads the document to write as the update decision lets the caller
// reach it. nil (with a 404) when it does not exist or is out of reach.
func (r *request) preImage(ctx context.Context, d *policy.Decision, id any) (bson.Raw, error) {
	if d.State == when.Never {
		return nil, errNotFound()
	}
	pre, err := r.s.store.FindOne(ctx, r.coll, and(idFilter(id), policyFilter(d)))
	if err != nil {
		return nil, err
	}
	if pre == nil {
		return nil, errNotFound()
	}
	if err := checkIfMatch(ctx, pre); err != nil {
		return nil, err
	}
	return pre, nil
}

// nextStamp is the updated_at of the next version of pre: now, but always
// later than pre's, so that two versions never share a stamp and the
// compare-and-swap on updated_at cannot confuse them.
func (r *request) nextStamp(pre bson.Raw) bson.DateTime {
	next := bson.NewDateTimeFromTime(r.now)
	if v, err := pre.LookupErr(FieldUpdatedAt); err == nil && v.Type == bson.TypeDateTime {
		if prev := v.DateTime(); int64(next) <= prev {
			next = bson.DateTime(prev + 1)
		}
	}
	return next
}

// casCond matches the document only while it still carries pre's
// updated_at (absent included).
func casCond(pre bson.Raw) bson.D {
	v, err := pre.LookupErr(FieldUpdatedAt)
	if err != nil {
		return bson.D{{Key: FieldUpdatedAt, Value: bson.D{{Key: "$exists", Value: false}}}}
	}
	return bson.D{{Key: FieldUpdatedAt, Value: bson.D{{Key: "$eq", Value: v}}}}
}

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
	r, err := s.begin(p, coll)
	if err != nil {
		return nil, err
	}
	d, err := r.granted(policy.Update)
	if err != nil {
		return nil, err
	}
	oid, err := ParseID(id)
	if err != nil {
		return nil, err
	}
	upd, err := query.ParseUpdate(body)
	if err != nil {
		return nil, err
	}
	if err := r.checkUpdate(d, upd); err != nil {
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
	if err := r.saveVersion(ctx, pre, "update"); err != nil {
		return nil, err
	}
	unlock := lockDoc(r.coll, id)
	post, err := r.s.store.UpdateOne(ctx, r.coll, and(idFilter(id), policyFilter(d), casCond(pre)), update)
	unlock()
	if err != nil {
		return nil, err
	}
	if post == nil {
		return nil, conflict(ctx)
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
	r, err := s.begin(p, coll)
	if err != nil {
		return nil, err
	}
	d, err := r.granted(policy.Update)
	if err != nil {
		return nil, err
	}
	oid, err := ParseID(id)
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
	if err := r.saveVersion(ctx, pre, op); err != nil {
		return nil, err
	}
	unlock := lockDoc(coll, oid)
	post, err := s.store.ReplaceOne(ctx, coll, and(idFilter(oid), policyFilter(d), casCond(pre)), raw)
	unlock()
	if err != nil {
		return nil, err
	}
	if post == nil {
		return nil, conflict(ctx)
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

func depth(p string) int {
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] == '.' {
			n++
		}
	}
	return n
}

func sortByDepth(ps []string) {
	// insertion sort, stable: lists are short
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && depth(ps[j]) < depth(ps[j-1]); j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}

func underAny(p string, parents []string) bool {
	for _, q := range parents {
		if fieldpath.StrictlyBelow(p, q) {
			return true
		}
	}
	return false
}

// Delete deletes one document. A document the caller may not delete answers
// 404, like one that does not exist.
func (s *Service) Delete(ctx context.Context, p *principal.Principal, coll, id string) (any, error) {
	r, err := s.begin(p, coll)
	if err != nil {
		return nil, err
	}
	d, err := r.granted(policy.Delete)
	if err != nil {
		return nil, err
	}
	oid, err := ParseID(id)
	if err != nil {
		return nil, err
	}
	if d.State == when.Never {
		return nil, errNotFound()
	}
	n, err := r.deleteOne(ctx, d, oid)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, errNotFound()
	}
	auditDoc(ctx, oid, nil)
	r.emit(ctx, "delete", oid)
	return oid, nil
}
