package service

import (
	"context"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/hierarchy"
	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/policy/when"
	"github.com/permission-mongo/permission-mongo/internal/principal"
)

// hierarchyTimeout bounds one walk: Env values are resolved lazily inside a
// decision, which has no request context.
const hierarchyTimeout = 5 * time.Second

// callerVars is what `user.*` resolves against for p: the principal, plus
// the hierarchy values when the policy set has a hierarchy section and the
// service a resolver.
func (s *Service) callerVars(p *principal.Principal, set *policy.Set) policy.Caller {
	if s.hier == nil || set.Hierarchy == nil {
		return p
	}
	return &hierVars{p: p, s: s, h: set.Hierarchy}
}

type hierVars struct {
	p *principal.Principal
	s *Service
	h *policy.Hierarchy
}

// Lookup answers user.$directReports, $subordinates and $ancestors from the
// resolver; anything else from the principal. A caller without an id, a
// walk past a bound and a database error all leave the value absent, so
// the rules that use it match nothing (fail closed).
func (v *hierVars) Lookup(path string) (any, bool) {
	if !slices.Contains(when.HierarchyVars, path) {
		return v.p.Lookup(path)
	}
	if v.p.ID == "" {
		return nil, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), hierarchyTimeout)
	defer cancel()
	vals, err := v.s.hier.Get(ctx, hierarchy.Config{
		Collection: v.h.Collection, IDField: v.h.IDField, ManagerField: v.h.ManagerField,
		MaxDepth: v.h.MaxDepth, MaxNodes: v.h.MaxNodes, CacheTTL: v.h.CacheTTL,
	}, v.p.ID)
	if err != nil {
		v.s.log.Warn("hierarchy values unavailable; rules using them match nothing for this caller", "user", v.p.ID, "err", err)
		return nil, false
	}
	switch path {
	case "$directReports":
		return vals.DirectReports, true
	case "$subordinates":
		return vals.Subordinates, true
	}
	return vals.Ancestors, true
}

// hierStore drops the cached hierarchy values after every write to the
// hierarchy collection, whichever endpoint made it, here and (through the
// resolver's announcer) on the other proxies.
type hierStore struct {
	Store
	s *Service
}

func (h *hierStore) touched(coll string) {
	if set := h.s.policies.Load(); set != nil && set.Hierarchy != nil && set.Hierarchy.Collection == coll {
		// Its own context: the announcement must go out even when the
		// client has gone.
		ctx, cancel := context.WithTimeout(context.Background(), hierarchyTimeout)
		defer cancel()
		h.s.hier.Changed(ctx, coll)
	}
}

func (h *hierStore) Insert(ctx context.Context, coll string, doc any) error {
	defer h.touched(coll)
	return h.Store.Insert(ctx, coll, doc)
}

func (h *hierStore) UpdateOne(ctx context.Context, coll string, filter, update any) (bson.Raw, error) {
	defer h.touched(coll)
	return h.Store.UpdateOne(ctx, coll, filter, update)
}

func (h *hierStore) ReplaceOne(ctx context.Context, coll string, filter, doc any) (bson.Raw, error) {
	defer h.touched(coll)
	return h.Store.ReplaceOne(ctx, coll, filter, doc)
}

func (h *hierStore) DeleteOne(ctx context.Context, coll string, filter any) (int64, error) {
	defer h.touched(coll)
	return h.Store.DeleteOne(ctx, coll, filter)
}

func (h *hierStore) DeleteMany(ctx context.Context, coll string, filter any) (int64, error) {
	defer h.touched(coll)
	return h.Store.DeleteMany(ctx, coll, filter)
}

// InsertUnordered keeps the one-round-trip insert of the wrapped store.
func (h *hierStore) InsertUnordered(ctx context.Context, coll string, docs []bson.Raw) (map[int]error, error) {
	defer h.touched(coll)
	if bi, ok := h.Store.(bulkInserter); ok {
		return bi.InsertUnordered(ctx, coll, docs)
	}
	failed := map[int]error{}
	for i, d := range docs {
		if err := h.Store.Insert(ctx, coll, d); err != nil {
			failed[i] = err
		}
	}
	return failed, nil
}
