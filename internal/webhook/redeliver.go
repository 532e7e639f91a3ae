package webhook

import (
	"context"
	"errors"
	"regexp"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/store"
)

// Errors of Redeliver.
var (
	ErrNoEntry = errors.New("no such webhook delivery")
	// ErrPending: the entry is already waiting for (or in) delivery.
	ErrPending = errors.New("the delivery is pending already")
)

// Redeliver sends a dead or delivered entry again: it becomes pending, due
// now, with a fresh set of attempts; its error history stays until the next
// attempt. The entry's claims are removed first, because the claim keys
// restart from attempt 0 and an old key of the same lease window would
// otherwise keep every process from claiming it.
func (o *Outbox) Redeliver(ctx context.Context, id bson.ObjectID, now time.Time) (*Entry, error) {
	var cur Entry
	err := o.coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}, store.Find{}, &cur)
	if errors.Is(err, store.ErrNoDocuments) {
		return nil, ErrNoEntry
	}
	if err != nil {
		return nil, err
	}
	if cur.State == StatePending {
		return nil, ErrPending
	}
	claims := ClaimsOf(o.coll)
	if _, err := claims.DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$regex", Value: "^" + regexp.QuoteMeta(id.Hex()) + ":"}}}}); err != nil {
		return nil, err
	}
	// The state read above is in the filter: of two admins redelivering at
	// once, one wins and the other is told it is pending.
	matched, err := o.coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "state", Value: cur.State}, {Key: "redeliveries", Value: bson.D{{Key: "$in", Value: bson.A{nil, cur.Redeliveries}}}}},
		bson.D{
			{Key: "$set", Value: bson.D{{Key: "state", Value: StatePending}, {Key: "attempts", Value: 0}, {Key: "next_at", Value: now.UTC()},
				{Key: "lease_until", Value: time.Unix(0, 0).UTC()}, {Key: "redeliveries", Value: cur.Redeliveries + 1}}},
			{Key: "$unset", Value: bson.D{{Key: "delivered_at", Value: ""}}},
		})
	if err != nil {
		return nil, err
	}
	if matched == 0 {
		return nil, ErrPending
	}
	cur.State, cur.Attempts, cur.NextAt, cur.DeliveredAt, cur.Redeliveries = StatePending, 0, now.UTC(), nil, cur.Redeliveries+1
	return &cur, nil
}

// ClaimsOf is the collection of the claims of the outbox coll.
func ClaimsOf(coll *store.Collection) *store.Collection {
	return coll.Sibling(coll.Name() + "_claims")
}
