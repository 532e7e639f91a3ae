package service

import (
	"context"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/pipeline"
	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/policy/when"
	"github.com/permission-mongo/permission-mongo/internal/principal"
)

// access answers pipeline.Access for one request: every collection a
// pipeline reads, the one it runs on and those it joins, gets the caller's
// aggregate decision for that collection, from the same policy set and the
// same caller values.
type access struct{ r *request }

func (a access) For(coll string) (*pipeline.Target, error) {
	if err := CheckCollection(coll); err != nil {
		if apperr.KindOf(err) == apperr.KindInvalid {
			return nil, apperr.Forbidden("collection %q cannot be read", coll)
		}
		return nil, err
	}
	// The join target's decision is the caller's, on that collection.
	d := a.r.set.DecideEnv(a.r.p.Roles, a.r.env, coll, policy.Aggregate)
	if !d.Granted {
		return nil, apperr.Forbidden("aggregate on collection %q is not granted", coll).
			WithDetails(map[string]any{"action": string(policy.Aggregate), "collection": coll})
	}
	return &pipeline.Target{
		Filter:   d.Filter(),
		Never:    d.State == when.Never,
		Fields:   d.StrictFields(),
		Readable: d.Readable,
	}, nil
}

// Aggregate runs a client pipeline behind the caller's policy (package
// pipeline): the policy $match first, then the removal and masking of what
// the caller cannot read under the strictest of its rules, then the client's
// checked stages, with a final $limit. Collections the pipeline joins get
// their own policy for the same caller.
func (s *Service) Aggregate(ctx context.Context, p *principal.Principal, coll string, stages bson.A) ([]bson.Raw, error) {
	r, _, err := s.beginAction(p, coll, policy.Aggregate)
	if err != nil {
		return nil, err
	}
	rewritten, err := pipeline.Rewrite(coll, stages, access{r}, s.limits.Pipeline)
	if err != nil {
		return nil, err
	}
	if err := s.checkStorable(stages); err != nil {
		return nil, err
	}
	if s.refuseAfterIDless {
		if st := pipeline.StageAfterIDless(stages); st != "" {
			return nil, apperr.New(apperr.KindNotSupported,
				"the database backend cannot run %s after a stage whose output has no _id", st).
				WithDetails(map[string]any{"capability": "stages after one whose output has no _id"})
		}
	}
	capability := "the aggregation stages " + strings.Join(pipeline.StagesUsed(stages), ", ")
	docs, err := s.store.Aggregate(ctx, coll, rewritten, capability)
	if err == nil {
		auditCount(ctx, int64(len(docs)))
	}
	return docs, err
}
