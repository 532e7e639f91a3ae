package service

import (
	"cmp"
	"context"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/policy/when"
	"github.com/permission-mongo/permission-mongo/internal/principal"
	"github.com/permission-mongo/permission-mongo/internal/query"
)

// The batch operations reuse the single-document checks (Create,
// patchOne): a batch is never a way around a rule (ARCHITECTURE.md, security rule 13).

// ItemError is the failure of one item of a batch.
type ItemError struct {
	Index int
	ID    any // set for updates
	Err   error
}

// CreateManyResult lists the ids created and the documents refused.
type CreateManyResult struct {
	Created []any
	Failed  []ItemError
}

func (s *Service) checkBatch(n int) error {
	if n > s.limits.MaxBatch {
		return apperr.New(apperr.KindTooLarge, "a batch may hold at most %d items", s.limits.MaxBatch).
			WithDetails(map[string]any{"max_batch": s.limits.MaxBatch})
	}
	return nil
}

// CreateMany checks each item on its own, exactly as Create does
// (prepareCreate), then writes the good ones in one unordered insert; refused
// ones are reported by index. An item that is not a document (a bson.D) is
// one of the refused items, not a reason to refuse the others. An action
// that is not granted at all refuses the whole request.
func (s *Service) CreateMany(ctx context.Context, p *principal.Principal, coll string, docs []any) (*CreateManyResult, error) {
	r, d, err := s.beginAction(p, coll, policy.Create)
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return nil, apperr.Invalid("documents is empty")
	}
	if err := s.checkBatch(len(docs)); err != nil {
		return nil, err
	}
	res := &CreateManyResult{Created: []any{}, Failed: []ItemError{}}
	var good []bson.Raw
	var goodIdx []int
	var goodPaths [][]string
	for i, item := range docs {
		doc, ok := item.(bson.D)
		if !ok {
			res.Failed = append(res.Failed, ItemError{Index: i, Err: apperr.Invalid("item %d is not a document (a JSON object)", i)})
			continue
		}
		raw, paths, err := r.prepareCreate(ctx, d, doc)
		if err != nil {
			res.Failed = append(res.Failed, ItemError{Index: i, Err: err})
			continue
		}
		good, goodIdx, goodPaths = append(good, raw), append(goodIdx, i), append(goodPaths, paths)
	}
	// One round trip for the documents that passed their checks.
	failed, err := s.insertChunk(ctx, coll, good)
	if err != nil {
		return nil, err
	}
	for k, raw := range good {
		if ferr, bad := failed[k]; bad {
			res.Failed = append(res.Failed, ItemError{Index: goodIdx[k], Err: ferr})
			continue
		}
		id := raw.Lookup("_id")
		res.Created = append(res.Created, id)
		auditDoc(ctx, id, goodPaths[k])
		r.emit(ctx, "create", id)
	}
	slices.SortFunc(res.Failed, func(a, b ItemError) int { return cmp.Compare(a.Index, b.Index) })
	auditFailed(ctx, len(res.Failed))
	return res, nil
}

// Selection names the documents of a batch update or delete: ids, or a
// client filter (exactly one of them).
type Selection struct {
	IDs    []string
	Filter bson.D
	// HasFilter distinguishes {filter: {}} (everything in scope) from no
	// filter at all.
	HasFilter bool
}

// selectFilter validates sel and returns the client part of the filter.
func (s *Service) selectFilter(d *policy.Decision, rd *policy.Decision, sel Selection) (any, error) {
	switch {
	case sel.IDs != nil && sel.HasFilter, sel.IDs == nil && !sel.HasFilter:
		return nil, apperr.Invalid("give either ids or filter")
	case sel.IDs != nil:
		if len(sel.IDs) == 0 {
			return nil, apperr.Invalid("ids is empty")
		}
		if err := s.checkBatch(len(sel.IDs)); err != nil {
			return nil, err
		}
		ids := make(bson.A, len(sel.IDs))
		for i, id := range sel.IDs {
			v, err := ParseID(id)
			if err != nil {
				return nil, err
			}
			ids[i] = v
		}
		return bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}, nil
	}
	// The filter decides which documents are touched, and the counts tell
	// it: its paths must be readable under both the action's rules and the
	// read rules.
	readable := func(path string) bool { return d.Readable(path) && rd.Granted && rd.Readable(path) }
	if len(sel.Filter) == 0 {
		return nil, nil
	}
	if err := query.CheckFilter(sel.Filter, s.limits.Filter, readable); err != nil {
		return nil, err
	}
	if err := s.checkStorable(sel.Filter); err != nil {
		return nil, err
	}
	return sel.Filter, nil
}

// UpdateManyResult counts a batch update: matched documents are those in the
// caller's update scope that the selection names; modified those updated.
// Failed lists the matched documents whose update was refused or conflicted.
type UpdateManyResult struct {
	Matched  int64
	Modified int64
	Failed   []ItemError
}

// UpdateMany applies one update to every selected document the caller may
// update; documents out of scope are skipped, never touched. A deny_write
// path for any granting rule refuses the whole request (403), since the
// same update is applied to documents matched by different rules. Each
// document then goes through the single-document path (compare-and-swap,
// post-image check with undo).
func (s *Service) UpdateMany(ctx context.Context, p *principal.Principal, coll string, sel Selection, body bson.D) (*UpdateManyResult, error) {
	r, d, err := s.beginAction(p, coll, policy.Update)
	if err != nil {
		return nil, err
	}
	upd, err := r.parseUpdate(d, body)
	if err != nil {
		return nil, err
	}
	if f, denied := d.WriteDeniedAny(upd.Paths); denied {
		return nil, errWriteDenied(f)
	}
	if err := upd.Unsendable(); err != nil {
		return nil, err
	}
	if err := s.checkStorable(upd.Doc); err != nil {
		return nil, err
	}
	client, err := s.selectFilter(d, r.decide(policy.Read), sel)
	if err != nil {
		return nil, err
	}
	res := &UpdateManyResult{Failed: []ItemError{}}
	if d.State == when.Never {
		return res, nil
	}
	targets, err := r.targets(ctx, d, client)
	if err != nil {
		return nil, err
	}
	for i, pre := range targets {
		res.Matched++
		if _, err := r.patchOne(ctx, d, pre, upd); err != nil {
			if apperr.KindOf(err) == apperr.KindUnavailable {
				return nil, err
			}
			res.Failed = append(res.Failed, ItemError{Index: i, ID: pre.Lookup("_id"), Err: err})
			continue
		}
		res.Modified++
	}
	auditFailed(ctx, len(res.Failed))
	return res, nil
}

// targets reads the documents a batch update or delete works on one by
// one: those in d's scope that the client filter selects, in _id order. A
// selection larger than MaxBatch is refused whole (413) rather than done in
// part.
func (r *request) targets(ctx context.Context, d *policy.Decision, client any) ([]bson.Raw, error) {
	limit := r.s.limits.MaxBatch
	docs, err := r.s.store.Find(ctx, r.coll, and(policyFilter(d), client), bson.D{{Key: "_id", Value: 1}}, int64(limit)+1)
	if err != nil {
		return nil, err
	}
	if len(docs) > limit {
		return nil, apperr.New(apperr.KindTooLarge, "the selection matches more than %d documents; narrow it", limit).
			WithDetails(map[string]any{"max_batch": limit})
	}
	return docs, nil
}

// DeleteMany deletes every selected document the caller may delete, in one
// deleteMany whose filter is {$and: [deleteFilter, selection]}.
func (s *Service) DeleteMany(ctx context.Context, p *principal.Principal, coll string, sel Selection) (int64, error) {
	r, d, err := s.beginAction(p, coll, policy.Delete)
	if err != nil {
		return 0, err
	}
	client, err := s.selectFilter(d, r.decide(policy.Read), sel)
	if err != nil {
		return 0, err
	}
	if d.State == when.Never {
		return 0, nil
	}
	// Versions and change events need each document deleted on its own.
	if r.versioned() || r.wantsEvents("delete") {
		return r.deleteManyVersioned(ctx, d, client)
	}
	n, err := s.store.DeleteMany(ctx, coll, and(policyFilter(d), client))
	if err == nil {
		auditCount(ctx, n)
	}
	return n, err
}
