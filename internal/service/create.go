package service

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/fieldpath"
	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/policy/when"
	"github.com/permission-mongo/permission-mongo/internal/principal"
	"github.com/permission-mongo/permission-mongo/internal/query"
)

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
	r, d, err := s.beginAction(p, coll, policy.Create)
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
			if !sameValue(sent, v) {
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
