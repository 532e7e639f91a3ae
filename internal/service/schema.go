package service

import (
	"context"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/policy/when"
	"github.com/permission-mongo/permission-mongo/internal/query"
	"github.com/permission-mongo/permission-mongo/internal/schema"
)

// The schema of a collection (internal/schema) is applied here, from a few
// calls in the write path: prepareCreate (create, batch, import), patchOne
// (every update form) and replaceDoc (PUT, restore). Whatever the form, the
// document checked is the complete one that is, or is about to be, stored.

// implicitFields are written by the server on every document, so a schema
// with additional_fields: false never refuses them.
var implicitFields = []string{"_id", FieldCreatedBy, FieldCreatedAt, FieldUpdatedBy, FieldUpdatedAt}

func errValidation(fails []schema.Failure) error {
	msgs := make([]string, 0, len(fails))
	for _, f := range fails {
		msgs = append(msgs, f.Path+" "+f.Message)
	}
	return apperr.New(apperr.KindValidation, "the document does not satisfy the schema: %s", strings.Join(msgs, "; ")).
		WithDetails(map[string]any{"errors": fails})
}

func (r *request) schema() *schema.Collection { return r.set.Schemas.For(r.coll) }

// schemaClientPaths refuses writes to computed fields: the server alone
// writes them.
func (r *request) schemaClientPaths(sc *schema.Collection, paths []string) []schema.Failure {
	var out []schema.Failure
	seen := map[string]bool{}
	for _, p := range paths {
		if c, ok := sc.Computed(p); ok && !seen[c] {
			seen[c] = true
			out = append(out, schema.Failure{Path: c, Rule: schema.RuleComputed, Message: "is computed by the server and cannot be written"})
		}
	}
	return out
}

// schemaComplete writes defaults and computed fields into a document about
// to be created or replaced, and returns the paths it wrote (they are the
// server's, not the client's).
func (r *request) schemaComplete(sc *schema.Collection, doc bson.D) (bson.D, []string, []schema.Failure) {
	return sc.Complete(doc, r.now)
}

// schemaCheck validates a complete document (pre nil on create) and its
// references; prior failures are reported with its own in one 422.
func (r *request) schemaCheck(ctx context.Context, sc *schema.Collection, pre, doc bson.Raw, prior []schema.Failure) error {
	fails := append(prior, sc.Validate(doc, implicitFields)...)
	if pre != nil {
		fails = append(fails, sc.Immutable(pre, doc)...)
	}
	rf, err := r.checkRefs(ctx, sc.RefValues(doc, pre))
	if err != nil {
		return err
	}
	fails = append(fails, rf...)
	if len(fails) > 0 {
		return errValidation(fails)
	}
	return nil
}

// checkRefs looks each reference up with the caller's read filter on the
// referenced collection. A document that does not exist and one the caller
// may not read give the same failure, so a ref is no existence oracle; a
// ref field the caller may not read is refused the same way, since looking
// values up by it would reveal them.
func (r *request) checkRefs(ctx context.Context, refs []schema.RefValue) ([]schema.Failure, error) {
	var out []schema.Failure
	for _, ref := range refs {
		ok, err := r.refExists(ctx, ref)
		if err != nil {
			return nil, err
		}
		if !ok {
			out = append(out, schema.Failure{Path: ref.Path, Rule: schema.RuleRef,
				Message: "does not name a document of " + ref.Ref.Collection + " that the caller can read"})
		}
	}
	return out, nil
}

func (r *request) refExists(ctx context.Context, ref schema.RefValue) (bool, error) {
	if CheckCollection(ref.Ref.Collection) != nil {
		return false, nil
	}
	// Only plain values name a document: inside $in a regex would match
	// any readable document, and a ref must name one.
	switch ref.Value.Type {
	case bson.TypeString, bson.TypeObjectID, bson.TypeInt32, bson.TypeInt64, bson.TypeDouble, bson.TypeDecimal128, bson.TypeBoolean, bson.TypeDateTime:
	default:
		return false, nil
	}
	d := r.set.DecideEnv(r.p.Roles, r.env, ref.Ref.Collection, policy.Read)
	if !d.Granted || d.State == when.Never || !d.Readable(ref.Ref.Field) {
		return false, nil
	}
	cands := bson.A{ref.Value}
	// A path id of 24 hex digits is an ObjectId (ParseID); a ref holding
	// that text names the same document.
	if s, ok := ref.Value.StringValueOK(); ok && ref.Ref.Field == "_id" {
		if oid, err := bson.ObjectIDFromHex(s); err == nil && len(s) == 24 {
			cands = append(cands, oid)
		}
	}
	filter := bson.D{{Key: ref.Ref.Field, Value: bson.D{{Key: "$in", Value: cands}}}}
	doc, err := r.s.store.FindOne(ctx, ref.Ref.Collection, and(filter, policyFilter(d)))
	if err != nil {
		return false, err
	}
	return doc != nil, nil
}

// schemaBeforeUpdate refuses, before anything is written, an update that
// writes a computed field.
func (r *request) schemaBeforeUpdate(upd query.Update) error {
	sc := r.schema()
	if sc == nil {
		return nil
	}
	if fails := r.schemaClientPaths(sc, upd.Paths); len(fails) > 0 {
		return errValidation(fails)
	}
	return nil
}

// schemaAfterUpdate runs on the post-image of an update, written with
// updated_at == next: it writes the computed fields again (guarded by that
// stamp), then validates. On a failure the caller undoes the update, as it
// does when the policy refuses the post-image.
func (r *request) schemaAfterUpdate(ctx context.Context, pre, post bson.Raw, next bson.DateTime) (bson.Raw, error) {
	sc := r.schema()
	if sc == nil {
		return post, nil
	}
	set, fails := sc.ComputeRaw(post, r.now)
	if len(set) > 0 && len(fails) == 0 {
		id := post.Lookup("_id")
		again, err := r.s.store.UpdateOne(ctx, r.coll, bson.D{{Key: "_id", Value: id}, {Key: FieldUpdatedAt, Value: next}},
			bson.D{{Key: "$set", Value: set}})
		if err != nil {
			return nil, err
		}
		if again == nil {
			return nil, errConflict()
		}
		post = again
	}
	if err := r.schemaCheck(ctx, sc, pre, post, fails); err != nil {
		return nil, err
	}
	return post, nil
}

// schemaCreate is prepareCreate's hook before the new document is encoded:
// it refuses client values for computed fields and writes defaults and
// computed fields, marking them as the server's. Failures are kept for
// schemaCheckNew, so the client gets every failure in one answer.
func (r *request) schemaCreate(doc bson.D, server map[string]bool) (bson.D, []schema.Failure) {
	sc := r.schema()
	if sc == nil {
		return doc, nil
	}
	fails := r.schemaClientPaths(sc, query.ReplacementPaths(doc))
	doc, written, more := r.schemaComplete(sc, doc)
	for _, w := range written {
		server[w] = true
	}
	return doc, append(fails, more...)
}

// schemaCheckNew validates a document about to be inserted.
func (r *request) schemaCheckNew(ctx context.Context, raw bson.Raw, fails []schema.Failure) error {
	sc := r.schema()
	if sc == nil {
		return nil
	}
	return r.schemaCheck(ctx, sc, nil, raw, fails)
}

// schemaReplace is replaceDoc's hook before the replacement is encoded.
// Computed fields in a PUT body are recomputed rather than refused, so a
// document read with GET can be sent back as it is, as stamps are; the
// client's value never survives.
func (r *request) schemaReplace(doc bson.D) (bson.D, []schema.Failure) {
	sc := r.schema()
	if sc == nil {
		return doc, nil
	}
	doc, _, fails := r.schemaComplete(sc, doc)
	return doc, fails
}

// schemaCheckReplace validates a replacement against the document it
// replaces (immutable fields, changed references).
func (r *request) schemaCheckReplace(ctx context.Context, pre, raw bson.Raw, fails []schema.Failure) error {
	sc := r.schema()
	if sc == nil {
		return nil
	}
	return r.schemaCheck(ctx, sc, pre, raw, fails)
}
