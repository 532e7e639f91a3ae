package service

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/principal"
	"github.com/permission-mongo/permission-mongo/internal/store"
	"github.com/permission-mongo/permission-mongo/internal/webhook"
)

// eventRedeliverer is the outbox's admin side (*webhook.Outbox).
type eventRedeliverer interface {
	Redeliver(ctx context.Context, id bson.ObjectID, now time.Time) (*webhook.Entry, error)
}

// RedeliverWebhook sends a dead (or delivered) outbox entry again: it
// becomes pending with a fresh set of attempts. The request is audited with
// the entry's id, and each attempt that follows by the delivery loop.
func (s *Service) RedeliverWebhook(ctx context.Context, p *principal.Principal, id string) (*webhook.Entry, error) {
	if p == nil {
		return nil, apperr.New(apperr.KindUnauthenticated, "authentication required")
	}
	if set := s.policies.Load(); set == nil || !set.SystemAllowed(p.Roles, policy.PermWebhooksManage) {
		return nil, apperr.Forbidden("redelivering webhook events needs the %s permission", policy.PermWebhooksManage)
	}
	rd, ok := s.outbox.(eventRedeliverer)
	if !ok {
		return nil, apperr.New(apperr.KindNotSupported, "webhooks are not configured").WithDetails(map[string]any{"capability": "webhooks"})
	}
	oid, err := bson.ObjectIDFromHex(id)
	if err != nil {
		return nil, apperr.Invalid("%q is not a delivery id (24 hex digits)", id)
	}
	e, err := rd.Redeliver(ctx, oid, s.now())
	switch {
	case errors.Is(err, webhook.ErrNoEntry):
		return nil, apperr.NotFound("no webhook delivery %s", id)
	case errors.Is(err, webhook.ErrPending):
		return nil, apperr.New(apperr.KindConflict, "delivery %s is pending already; only dead or delivered events can be redelivered", id)
	case err != nil:
		return nil, store.Translate(err)
	}
	auditCount(ctx, 1)
	return e, nil
}
