package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/permission-mongo/permission-mongo/internal/audit"
)

// Auditor records what the delivery loop does (*audit.Writer): each attempt
// becomes one entry of this process's audit chain, like a request.
type Auditor interface {
	// Available is nil when an entry recorded now would be accepted.
	Available() error
	Record(ctx context.Context, e audit.Entry) error
}

// Audit actions of the delivery loop. An admin's redelivery is a request,
// audited by the api layer as ActionRedeliver.
const (
	ActionDelivered = "webhook.delivered"
	ActionFailed    = "webhook.failed" // to be retried
	ActionDead      = "webhook.dead"   // the last attempt failed
	ActionRedeliver = "webhooks.redeliver"
)

// Error codes of failed attempts in the audit log.
const (
	CodeReceiverStatus      = "RECEIVER_STATUS" // answered outside 2xx; status holds it
	CodeReceiverTimeout     = "RECEIVER_TIMEOUT"
	CodeReceiverUnreachable = "RECEIVER_UNREACHABLE"
	CodeSecretMissing       = "SECRET_MISSING"
)

// DeliveryActorID is the actor id of delivery entries: the proxy itself,
// on behalf of the change's tenant (whose auditors see the entries). The
// change's author is in the outbox entry and in the change's own audit
// entry.
const DeliveryActorID = "pm:webhooks"

type noSecretError struct{ name string }

func (e noSecretError) Error() string { return fmt.Sprintf("secret %s is not set", e.name) }

// AttemptEntry is the audit entry of one delivery attempt of e that ended
// in state (after the attempt) with the receiver's status (0 when none) and
// error. request_id is "<event id>#<attempt>"; doc_ids are the event id and
// the changed document's id, so that an auditor finds the attempts of an
// event, and the deliveries of a document's changes, with doc_id.
func AttemptEntry(e *Entry, state string, status int, derr error, took time.Duration) audit.Entry {
	a := audit.Entry{
		RequestID:  fmt.Sprintf("%s#%d", e.ID.Hex(), e.Attempts+1),
		Actor:      audit.Actor{ID: DeliveryActorID, TenantID: e.TenantID, Auth: "system"},
		Collection: e.Collection,
		DocIDs:     []string{e.ID.Hex(), docIDString(e.DocumentID)},
		Status:     status,
		LatencyMS:  float64(took.Microseconds()) / 1000,
	}
	switch {
	case derr == nil:
		a.Action, a.Outcome, a.Count = ActionDelivered, audit.OutcomeAllowed, 1
		return a
	case state == StateDead:
		a.Action = ActionDead
	default:
		a.Action = ActionFailed
	}
	a.Outcome, a.Failed, a.ErrorCode = audit.OutcomeError, 1, failureCode(status, derr)
	return a
}

func failureCode(status int, err error) string {
	var ne net.Error
	var ns noSecretError
	switch {
	case status != 0:
		return CodeReceiverStatus
	case errors.As(err, &ns):
		return CodeSecretMissing
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return CodeReceiverTimeout
	}
	return CodeReceiverUnreachable
}

func docIDString(id any) string {
	switch v := id.(type) {
	case string:
		return v
	case interface{ Hex() string }:
		return v.Hex()
	}
	return fmt.Sprint(id)
}

// audit records one attempt. The attempt has happened, so a failure to
// record it is logged, not undone; Step's Available check makes it rare.
func (d *Deliverer) audit(ctx context.Context, e *Entry, state string, status int, derr error, took time.Duration) {
	if d.Audit == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := d.Audit.Record(ctx, AttemptEntry(e, state, status, derr, took)); err != nil {
		d.Log.Error("webhook attempt not audited", "id", e.ID.Hex(), "state", state, "err", err)
	}
}
