package audit

import (
	"cmp"
	"context"
	"errors"
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
	entries, err := newest(ctx, coll, and, limit+1) // one more tells whether there is a next page
	if err != nil {
		return nil, nil, err
	}
	var next *Position
	if len(entries) > limit {
		entries = entries[:limit]
		p := PositionOf(&entries[limit-1])
		next = &p
	}
	return entries, next, nil
}

// newest returns the n entries matching and that come first in Query's
// order: ts, writer, seq, all descending.
//
// The collection's one index for this order is on ts alone (EnsureIndexes:
// a compound index made every insert of the DocumentDB engine two to three
// times slower). So the page is read sorted by ts, which that index serves
// without sorting anything, and ts is not unique: the last millisecond read
// may have more entries than the page took, in any order. Those are read
// again, all of that millisecond's entries that match, sorted by writer
// and seq (a top-n sort, bounded by n, whatever the millisecond holds), and
// the two reads merged. Every entry newer than that millisecond was in the
// first read, since ts order puts it before them.
func newest(ctx context.Context, coll Log, and bson.A, n int) ([]Entry, error) {
	entries := make([]Entry, 0, n)
	if err := coll.FindAll(ctx, andFilter(and), store.Find{Sort: bson.D{{Key: "ts", Value: -1}}, Limit: int64(n)}, &entries); err != nil {
		return nil, store.Translate(err)
	}
	if len(entries) == n {
		last := entries[n-1].TS
		entries = slices.DeleteFunc(entries, func(e Entry) bool { return e.TS.Equal(last) })
		var ties []Entry
		same := append(slices.Clip(and), bson.D{{Key: "ts", Value: last}})
		sort := bson.D{{Key: "writer", Value: -1}, {Key: "seq", Value: -1}}
		if err := coll.FindAll(ctx, andFilter(same), store.Find{Sort: sort, Limit: int64(n - len(entries))}, &ties); err != nil {
			return nil, store.Translate(err)
		}
		entries = append(entries, ties...)
	}
	// Within a millisecond the ts sort left any order.
	slices.SortStableFunc(entries, func(a, b Entry) int {
		return cmp.Or(b.TS.Compare(a.TS), cmp.Compare(b.Writer, a.Writer), cmp.Compare(b.Seq, a.Seq))
	})
	return entries, nil
}

func andFilter(and bson.A) bson.D {
	if len(and) == 0 {
		return bson.D{}
	}
	return bson.D{{Key: "$and", Value: and}}
}

// indexTS is the name of the audit collection's index on ts, fixed so that
// EnsureIndexes can find and change its own.
const indexTS = "audit_ts"

// retiredIndexes were created by earlier versions. Every index is paid on
// every insert: on the DocumentDB engine the six indexes of then cut the
// store's insert rate about tenfold, so that a busy proxy had to refuse
// requests.
//
//   - audit_collection, audit_actor, audit_doc_ids, one per Query filter:
//     Query walks the entries newest first and applies those filters on the
//     way, which is enough for pages of at most MaxQueryLimit entries; a
//     rare value over a long range costs a longer walk, which from/to
//     narrow.
//   - audit_chain, unique (writer, seq): _id is the chain name and the
//     zero-padded seq (entryID), so the _id index already sorts each chain
//     in order (Verify walks it) and already refuses a chain position
//     stored twice; an entry whose _id does not match its writer and seq
//     fails Verify.
//   - audit_order (ts, writer, seq): Query's order. On the DocumentDB engine
//     a compound index costs an insert two to three times what one on ts
//     alone does, and Query gets the same order from audit_ts (see newest).
var retiredIndexes = []string{"audit_collection", "audit_actor", "audit_doc_ids", "audit_chain", "audit_order"}

// EnsureIndexes creates the one secondary index of the audit collection,
// because each index slows every insert: audit_ts on ts, which serves
// Query's order and paging, time ranges, Expire and, when retention > 0,
// the server's removal of entries older than retention (a TTL index). _id
// serves Verify (see retiredIndexes).
//
// It is idempotent: an existing audit_ts whose TTL is not the one wanted
// (retention changed, or was turned on or off) is dropped and created
// again, except on a server without TTL indexes, where the plain audit_ts
// it has is left as it is; and the indexes earlier versions created that no
// read needs (retiredIndexes) are dropped where the server lets them go.
//
// A server without TTL indexes (FerretDB) gets a plain audit_ts and a
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
	have, stale := false, false
	for _, s := range specs {
		switch {
		case s.Name == indexTS:
			have, stale = true, !sameTTL(s.ExpireAfterSeconds, ttl)
		case slices.Contains(retiredIndexes, s.Name):
			// A retired index the server will not drop (MongoDB refuses to
			// drop the index of a shard key: docs/scaling.md once advised
			// sharding on {writer, seq}) is left in place. It only slows
			// inserts, and refusing to start over it would turn an upgrade
			// into an outage.
			_ = coll.DropIndex(ctx, s.Name)
		}
	}
	if have && !stale {
		return nil
	}
	want := store.Index{Name: indexTS, Keys: bson.D{{Key: "ts", Value: 1}}, ExpireAfterSeconds: ttl}
	err = coll.CreateIndex(ctx, want)
	if err == nil && have {
		// MongoDB and the DocumentDB engine refuse new options for an
		// existing index; a server that took the creation as a no-op would
		// keep the old TTL (entries expiring that should be kept): look.
		if still, lerr := tsIndexStale(ctx, coll, ttl); lerr != nil {
			return store.Translate(lerr)
		} else if still {
			err = errIndexUnchanged
		}
	}
	noTTL := err != nil && ttl != nil && apperr.KindOf(store.Translate(err)) == apperr.KindNotSupported
	if err != nil && have && !noTTL {
		// An index's options cannot be changed by creating it again (the
		// server answers IndexOptionsConflict): drop it first. A moment
		// without it is harmless. Trying the creation first is what tells
		// a server without TTL indexes, whose plain audit_ts is already
		// what it can have: rebuilding it at every start would only cost.
		if err := coll.DropIndex(ctx, indexTS); err != nil {
			return store.Translate(err)
		}
		err = coll.CreateIndex(ctx, want)
	}
	if noTTL {
		// The index without the TTL still serves reads; Expire does the
		// retention.
		if !have {
			if err := coll.CreateIndex(ctx, store.Index{Name: indexTS, Keys: want.Keys}); err != nil {
				return store.Translate(err)
			}
		}
		return apperr.Wrap(apperr.KindNotSupported, err, "the database backend does not support TTL indexes (audit retention)").
			WithDetails(map[string]any{"capability": CapTTLIndex})
	}
	return store.Translate(err)
}

// errIndexUnchanged: creating audit_ts anew answered success but left the
// old options.
var errIndexUnchanged = errors.New("audit_ts kept its old options")

// tsIndexStale reports whether audit_ts is missing or has another TTL than
// ttl.
func tsIndexStale(ctx context.Context, coll *store.Collection, ttl *int32) (bool, error) {
	specs, err := coll.Indexes(ctx)
	if err != nil {
		return false, err
	}
	for _, s := range specs {
		if s.Name == indexTS {
			return !sameTTL(s.ExpireAfterSeconds, ttl), nil
		}
	}
	return true, nil
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
