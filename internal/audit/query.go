package audit

import (
	"context"
	"math"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/store"
)

// Page sizes of Query.
const (
	DefaultQueryLimit = 50
	MaxQueryLimit     = 1000
)

// Filter selects entries for Query (GET /audit). Empty fields do not
// filter. Values are compared for equality only, as strings, so a client's
// value can never become an operator.
type Filter struct {
	// TenantID restricts the result to one tenant's actors. It is for the
	// api layer to set from the caller (a tenant's auditor sees only its
	// tenant), never from the query string.
	TenantID string
	// Collection, Actor (actor id), Action, Outcome and DocID (one of
	// doc_ids) are the contract's filters.
	Collection, Actor, Action, Outcome, DocID string
	// From and To bound ts, both ends included.
	From, To *time.Time
	// Limit is the page size: DefaultQueryLimit when 0, at most MaxQueryLimit.
	Limit int
	// After continues from the position a previous page returned.
	After *Position
}

// Position is where a page ended, in the order of Query: ts, then writer,
// then seq, all descending. The triple is unique, so paging neither skips
// nor repeats entries however many share a millisecond, and entries written
// meanwhile (which are newer) do not shift later pages. The api layer
// carries it in a signed cursor (package cursor).
type Position struct {
	TS     time.Time
	Writer string
	Seq    int64
}

// PositionOf returns the position of e.
func PositionOf(e *Entry) Position {
	return Position{TS: e.TS, Writer: e.Writer, Seq: e.Seq}
}

// Log is the audit collection as Query and Verify read it: a
// *store.Collection, or anything that reads like one.
type Log interface {
	Name() string
	FindAll(ctx context.Context, filter any, f store.Find, out any) error
	FindOne(ctx context.Context, filter any, f store.Find, out any) error
	Each(ctx context.Context, filter any, f store.Find, fn func(bson.Raw) error) error
}

// Query returns entries matching f, newest first, and the position to pass
// as f.After for the next page (nil on the last page).
func Query(ctx context.Context, coll Log, f Filter) ([]Entry, *Position, error) {
	limit := f.Limit
	switch {
	case limit < 0:
		return nil, nil, apperr.Invalid("limit must not be negative")
	case limit == 0:
		limit = DefaultQueryLimit
	case limit > MaxQueryLimit:
		limit = MaxQueryLimit
	}
	if f.Outcome != "" {
		switch Outcome(f.Outcome) {
		case OutcomeAllowed, OutcomeDenied, OutcomeError:
		default:
			return nil, nil, apperr.Invalid("outcome must be allowed, denied or error")
		}
	}

	and := bson.A{}
	for _, c := range []struct{ key, val string }{
		{"actor.tenant_id", f.TenantID},
		{"collection", f.Collection},
		{"actor.id", f.Actor},
		{"action", f.Action},
		{"outcome", f.Outcome},
		{"doc_ids", f.DocID},
	} {
		if c.val != "" {
			// $eq, not a bare value: a bare value is matched as written,
			// and explicit is safer to read.
			and = append(and, bson.D{{Key: c.key, Value: bson.D{{Key: "$eq", Value: c.val}}}})
		}
	}
	if ts := timeRange(f.From, f.To); ts != nil {
		and = append(and, bson.D{{Key: "ts", Value: ts}})
	}
	if p := f.After; p != nil {
		ts := p.TS.UTC()
		and = append(and, bson.D{{Key: "$or", Value: bson.A{
			bson.D{{Key: "ts", Value: bson.D{{Key: "$lt", Value: ts}}}},
			bson.D{{Key: "ts", Value: ts}, {Key: "writer", Value: bson.D{{Key: "$lt", Value: p.Writer}}}},
			bson.D{{Key: "ts", Value: ts}, {Key: "writer", Value: p.Writer}, {Key: "seq", Value: bson.D{{Key: "$lt", Value: p.Seq}}}},
		}}})
	}
	filter := bson.D{}
	if len(and) > 0 {
		filter = bson.D{{Key: "$and", Value: and}}
	}

	find := store.Find{
		Sort:  bson.D{{Key: "ts", Value: -1}, {Key: "writer", Value: -1}, {Key: "seq", Value: -1}},
		Limit: int64(limit) + 1, // one more tells whether there is a next page
	}
	entries := make([]Entry, 0, limit+1)
	if err := coll.FindAll(ctx, filter, find, &entries); err != nil {
		return nil, nil, store.Translate(err)
	}
	var next *Position
	if len(entries) > limit {
		entries = entries[:limit]
		p := PositionOf(&entries[limit-1])
		next = &p
	}
	return entries, next, nil
}

// Index names, fixed so that EnsureIndexes can find and change its own.
const (
	indexTS    = "audit_ts"
	indexOrder = "audit_order"
)

// retiredIndexes were created by earlier versions. Every index is paid on
// every insert: on the DocumentDB engine the six indexes of then cut the
// store's insert rate about tenfold, so that a busy proxy had to refuse
// requests.
//
//   - audit_collection, audit_actor, audit_doc_ids, one per Query filter:
//     Query walks audit_order newest first and applies those filters on the
//     way, which is enough for pages of at most MaxQueryLimit entries; a
//     rare value over a long range costs a longer walk, which from/to
//     narrow.
//   - audit_chain, unique (writer, seq): _id is the chain name and the
//     zero-padded seq (entryID), so the _id index already sorts each chain
//     in order (Verify walks it) and already refuses a chain position
//     stored twice; an entry whose _id does not match its writer and seq
//     fails Verify. Dropping it raised the engine's insert rate of audit
//     entries by about 1.6× (benchmarks/README.md).
var retiredIndexes = []string{"audit_collection", "audit_actor", "audit_doc_ids", "audit_chain"}

// EnsureIndexes creates the indexes of the audit collection, only those
// its reads need, because each one slows every insert. Besides _id (which
// Verify walks, see retiredIndexes):
//
//   - audit_order (ts, writer, seq): Query's order and paging, time ranges,
//     and Expire;
//   - audit_ts (ts) only when retention > 0: the TTL index through which the
//     server removes entries older than retention (a TTL index must be on
//     one field, so audit_order cannot serve).
//
// It is idempotent: it changes the TTL of an existing ts index when
// retention changed, drops it when retention is 0, and drops the indexes
// earlier versions created that no read needs (retiredIndexes).
//
// A server without TTL indexes (FerretDB) gets the other indexes and a
// KindNotSupported error whose Details name the capability "ttl_index": the
// caller should then run Expire periodically instead, and may treat the
// error as a warning.
//
// Verify tolerates retention: a chain whose beginning expired is verified
// from its oldest remaining entry.
func EnsureIndexes(ctx context.Context, coll *store.Collection, retention time.Duration) error {
	var ttl *int32
	if retention > 0 {
		secs := int64(math.Ceil(retention.Seconds()))
		if secs > math.MaxInt32 {
			return apperr.Invalid("audit retention is too long")
		}
		s := int32(secs)
		ttl = &s
	}

	// Existing indexes are listed and only missing ones created, one at a
	// time: FerretDB v1.24 crashes the connection on a createIndexes naming
	// several indexes that exist already, and one at a time costs nothing
	// at start-up.
	specs, err := coll.Indexes(ctx)
	if err != nil {
		return store.Translate(err)
	}
	have := map[string]bool{}
	for _, s := range specs {
		drop := slices.Contains(retiredIndexes, s.Name)
		if s.Name == indexTS && (ttl == nil || !sameTTL(s.ExpireAfterSeconds, ttl)) {
			// An index's options cannot be changed by creating it again (the
			// server answers IndexOptionsConflict), so a ts index with
			// another TTL is dropped first. A moment without it is harmless.
			drop = true
		}
		if drop {
			if err := coll.DropIndex(ctx, s.Name); err != nil {
				return store.Translate(err)
			}
			continue
		}
		have[s.Name] = true
	}
	if !have[indexOrder] {
		keys := bson.D{{Key: "ts", Value: -1}, {Key: "writer", Value: -1}, {Key: "seq", Value: -1}}
		if err := coll.CreateIndex(ctx, store.Index{Name: indexOrder, Keys: keys}); err != nil {
			return store.Translate(err)
		}
	}
	if ttl == nil || have[indexTS] {
		return nil
	}
	err = coll.CreateIndex(ctx, store.Index{Name: indexTS, Keys: bson.D{{Key: "ts", Value: 1}}, ExpireAfterSeconds: ttl})
	if err != nil && apperr.KindOf(store.Translate(err)) == apperr.KindNotSupported {
		// No plain ts index instead: audit_order serves time ranges and
		// Expire.
		return apperr.Wrap(apperr.KindNotSupported, err, "the database backend does not support TTL indexes (audit retention)").
			WithDetails(map[string]any{"capability": CapTTLIndex})
	}
	return store.Translate(err)
}

// CapTTLIndex names the capability EnsureIndexes reports missing.
const CapTTLIndex = "ttl_index"

// Expire deletes the entries older than before: retention for servers
// without TTL indexes, run periodically by the caller (for example every
// hour with before = now - retention). Deleting from the oldest end keeps
// every remaining chain verifiable.
func Expire(ctx context.Context, coll *store.Collection, before time.Time) (int64, error) {
	n, err := coll.DeleteMany(ctx, bson.D{{Key: "ts", Value: bson.D{{Key: "$lt", Value: before.UTC()}}}})
	if err != nil {
		return 0, store.Translate(err)
	}
	return n, nil
}

func sameTTL(a, b *int32) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}
