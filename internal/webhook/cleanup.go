package webhook

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/store"
)

// Index names of the retention TTL indexes.
const (
	IndexDeliveredTTL = "pm_outbox_delivered_ttl"
	IndexClaimsTTL    = "pm_outbox_claims_ttl"
)

// Retention says what the outbox keeps. Only delivered entries expire (from
// their delivered_at): pending entries are work to do and dead ones are kept
// until an admin redelivers them. Claims expire from their creation; one
// matters only during its lease window.
type Retention struct {
	// Delivered: how long a delivered entry is kept (0: forever).
	Delivered time.Duration
	// Claims: how long a claim is kept (0: forever).
	Claims time.Duration
}

// EnsureRetention creates (or changes, or drops) the TTL indexes through
// which the server removes what r allows. ttl is false when the backend has
// no TTL indexes (FerretDB v1): then nothing is created and the caller runs
// Sweep periodically instead.
func EnsureRetention(ctx context.Context, coll *store.Collection, r Retention) (ttl bool, err error) {
	for _, ix := range []struct {
		coll  *store.Collection
		name  string
		field string
		keep  time.Duration
	}{
		{coll, IndexDeliveredTTL, "delivered_at", r.Delivered},
		{ClaimsOf(coll), IndexClaimsTTL, "at", r.Claims},
	} {
		ok, err := ensureTTL(ctx, ix.coll, ix.name, ix.field, ix.keep)
		if err != nil {
			return false, err
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

func ensureTTL(ctx context.Context, coll *store.Collection, name, field string, keep time.Duration) (bool, error) {
	var want *int32
	if keep > 0 {
		secs := int64(math.Ceil(keep.Seconds()))
		if secs > math.MaxInt32 {
			return false, fmt.Errorf("webhook retention %s is too long", keep)
		}
		s := int32(secs) //nolint:gosec // G115: bounded by the MaxInt32 check above
		want = &s
	}
	specs, err := coll.Indexes(ctx) // none when the collection does not exist yet
	if err != nil {
		return false, err
	}
	for _, s := range specs {
		if s.Name != name {
			continue
		}
		if want != nil && s.ExpireAfterSeconds != nil && *s.ExpireAfterSeconds == *want {
			return true, nil
		}
		// A TTL cannot be changed by creating the index again (the server
		// answers IndexOptionsConflict): drop it first.
		if err := coll.DropIndex(ctx, name); err != nil {
			return false, err
		}
	}
	if want == nil {
		return true, nil
	}
	err = coll.CreateIndex(ctx, store.Index{Name: name, Keys: bson.D{{Key: field, Value: 1}}, ExpireAfterSeconds: want})
	if hasCode(err, codeNotImplemented, codeCommandNotFound, codeCommandNotSupported) {
		return false, nil
	}
	return err == nil, err
}

// Sweep deletes what r allows as of now: delivered entries delivered before
// now-r.Delivered and claims made before now-r.Claims. It is the retention
// of backends without TTL indexes; running it on several proxies at once is
// harmless (each deletes what is left).
func Sweep(ctx context.Context, coll *store.Collection, r Retention, now time.Time) (entries, claims int64, err error) {
	if r.Delivered > 0 {
		entries, err = coll.DeleteMany(ctx, bson.D{{Key: "state", Value: StateDelivered},
			{Key: "delivered_at", Value: bson.D{{Key: "$lt", Value: now.UTC().Add(-r.Delivered)}}}})
		if err != nil {
			return 0, 0, err
		}
	}
	if r.Claims > 0 {
		claims, err = ClaimsOf(coll).DeleteMany(ctx, bson.D{{Key: "at", Value: bson.D{{Key: "$lt", Value: now.UTC().Add(-r.Claims)}}}})
		if err != nil {
			return entries, 0, err
		}
	}
	return entries, claims, nil
}

// RunSweeps sweeps every `every` until ctx ends, starting now.
func RunSweeps(ctx context.Context, coll *store.Collection, r Retention, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, c, err := Sweep(ctx, coll, r, time.Now())
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("webhook outbox retention failed", "err", err)
		case n+c > 0:
			log.Info("webhook outbox retention", "delivered_deleted", n, "claims_deleted", c)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Server error codes of a backend without TTL indexes.
const (
	codeCommandNotFound     = 59
	codeCommandNotSupported = 115
	codeNotImplemented      = 238
)

func hasCode(err error, codes ...int32) bool {
	code, _, ok := store.CommandCode(err)
	return ok && slices.Contains(codes, code)
}
