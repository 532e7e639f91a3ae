package service

import (
	"context"
	"time"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/principal"
	"github.com/permission-mongo/permission-mongo/internal/webhook"
)

// EventSink stores change events for delivery and lists them
// (*webhook.Outbox).
type EventSink interface {
	EnqueueChange(ctx context.Context, c webhook.Change, targets []webhook.Target) error
	List(ctx context.Context, state string, limit int64) ([]webhook.Entry, error)
}

// PermWebhooksRead is the system permission to see webhook deliveries.
const PermWebhooksRead = policy.PermWebhooksRead

// WebhookDeliveries lists outbox entries, newest first (state "" for all):
// the delivery status of every webhook. Entries name documents and actors of
// every tenant, so the permission is an operator's, like api_keys.manage.
func (s *Service) WebhookDeliveries(ctx context.Context, p *principal.Principal, state string, limit int64) ([]webhook.Entry, error) {
	if p == nil {
		return nil, apperr.New(apperr.KindUnauthenticated, "authentication required")
	}
	if set := s.policies.Load(); set == nil || !set.SystemAllowed(p.Roles, PermWebhooksRead) {
		return nil, apperr.Forbidden("webhook deliveries need the %s permission", PermWebhooksRead)
	}
	if s.outbox == nil {
		return nil, apperr.New(apperr.KindNotSupported, "webhooks are not configured").WithDetails(map[string]any{"capability": "webhooks"})
	}
	switch state {
	case "", webhook.StatePending, webhook.StateDelivered, webhook.StateDead:
	default:
		return nil, apperr.Invalid("state must be pending, delivered or dead")
	}
	if limit <= 0 || limit > int64(s.limits.MaxLimit) {
		limit = int64(s.limits.DefaultLimit)
	}
	return s.outbox.List(ctx, state, limit)
}

// wantsEvents reports whether some hook of the collection wants event.
func (r *request) wantsEvents(event string) bool {
	return r.s.outbox != nil && len(r.set.HooksFor(r.coll, event)) > 0
}

// emit records a change of one document for the hooks of the collection
// that want it. It runs right after the change is written and before the
// answer, in its own short context so that a client going away does not
// lose the event; the change and its event are two writes, not one
// transaction, so a crash between them loses the event (docs/webhooks.md).
func (r *request) emit(ctx context.Context, event string, id any) {
	if r.s.outbox == nil {
		return
	}
	hooks := r.set.HooksFor(r.coll, event)
	if len(hooks) == 0 {
		return
	}
	targets := make([]webhook.Target, len(hooks))
	for i, h := range hooks {
		targets[i] = webhook.Target{URL: h.URL, SecretEnv: h.SecretEnv}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	c := webhook.Change{Event: event, Collection: r.coll, DocumentID: id, Actor: r.p.ID, TenantID: r.p.TenantID, At: r.now}
	if err := r.s.outbox.EnqueueChange(ctx, c, targets); err != nil {
		r.s.log.Error("change event not recorded; its webhooks will not be called", "collection", r.coll, "event", event, "id", id, "err", err)
	}
}
