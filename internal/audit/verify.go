package audit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/store"
)

// VerifyResult is the answer of Verify (GET /audit/verify).
type VerifyResult struct {
	// OK: every entry in the range carries its own hash and links to the one
	// before it in its chain.
	OK bool `json:"ok"`
	// Checked counts the entries examined, up to and including the first bad
	// one.
	Checked int `json:"checked"`
	// FirstBadID is the id of the first bad entry in (writer, seq) order:
	// the altered entry itself, or, for a removal, the entry right after
	// the gap.
	FirstBadID string `json:"first_bad_id,omitempty"`
	// Reason says what is wrong with it, in words safe to show.
	Reason string `json:"reason,omitempty"`
}

// Verify checks every chain with entries whose ts is in [from, to] (a zero
// time leaves that end open). Entries are walked in (writer, seq) order:
// each must hash to its Hash; within a chain the seq numbers must follow each
// other without gaps, each PrevHash must be the previous entry's Hash, and
// ts must not go back. The first entry of a chain in the range must link to
// the genesis hash when it is the chain's first (seq 1); otherwise it is
// linked to the entry before it when that entry still exists, and accepted
// as it is when it does not (it expired through retention, or lies outside
// a range that does not reach it).
//
// Caught: an entry edited in place (hash mismatch), removed (seq gap or
// PrevHash mismatch on the next one), moved out of the range by editing its
// ts (hash mismatch, or a gap when it is not checked), reordered (seq/ts out
// of order). Not caught, as with any unkeyed chain: removing the newest
// entries of a chain, removing a whole chain, or rewriting a chain from some
// entry on with recomputed hashes; see Writer.Head for anchoring.
//
// Verification stops at the first bad entry. Errors are for the database
// failing (translated by store.Translate), never for bad entries.
//
// Verify covers every tenant; VerifyTenant is what a tenant's auditor gets.
func Verify(ctx context.Context, coll Log, from, to time.Time) (VerifyResult, error) {
	return verify(ctx, coll, nil, from, to)
}

// VerifyTenant is Verify over the chains of one tenant (ChainOf): it reads
// only that tenant's entries, so Checked counts only them, FirstBadID is
// only ever one of them, and nothing in the answer depends on other tenants'
// activity. Removing or editing one of the tenant's entries is caught as by
// Verify: a tenant chain holds nothing else, so its seq numbers follow each
// other, and an entry whose tenant was edited away leaves a gap.
//
// Entries of the tenant in a chain that mixes tenants (written before chains
// were per tenant) are checked for their own hash and id only: their links
// lead to other tenants' entries, which a tenant-scoped check must not read.
func VerifyTenant(ctx context.Context, coll Log, tenant string, from, to time.Time) (VerifyResult, error) {
	if tenant == "" {
		return VerifyResult{}, errors.New("audit: VerifyTenant needs a tenant")
	}
	return verify(ctx, coll, &tenant, from, to)
}

func verify(ctx context.Context, coll Log, tenant *string, from, to time.Time) (VerifyResult, error) {
	filter := bson.D{}
	var tag string
	if tenant != nil {
		tag = TenantTag(*tenant)
		filter = append(filter, bson.E{Key: "actor.tenant_id", Value: bson.D{{Key: "$eq", Value: *tenant}}})
	}
	if ts := timeRange(ptr(from), ptr(to)); ts != nil {
		filter = append(filter, bson.E{Key: "ts", Value: ts})
	}
	var (
		res  VerifyResult
		prev *Entry // previous entry of the current chain
		// found ends the walk at the first bad entry, which res describes.
		found = errors.New("bad entry")
	)
	bad := func(id, format string, args ...any) error {
		res.OK, res.FirstBadID, res.Reason = false, id, fmt.Sprintf(format, args...)
		return found
	}
	// _id order is chain order: an id is the chain's name, "-" and seq in
	// twelve digits (entryID), so the ids of one chain sort by seq, and
	// chain names (hex and ".") hold no "-", so they sort together. The _id
	// index serves this walk, and the collection needs no (writer, seq)
	// index (see EnsureIndexes). Were a chain's entries ever interleaved
	// with another's, each would just be checked as a chain start, against
	// the entry before it.
	err := coll.Each(ctx, filter, store.Find{Sort: bson.D{{Key: "_id", Value: 1}}}, func(raw bson.Raw) error {
		res.Checked++
		var e Entry
		if err := bson.Unmarshal(raw, &e); err != nil {
			var id string
			if v, lerr := raw.LookupErr("_id"); lerr == nil {
				id, _ = v.StringValueOK()
			}
			return bad(id, "entry cannot be decoded: altered")
		}
		if e.Hash != HashOf(&e) {
			return bad(e.ID, "hash mismatch: entry altered")
		}
		if e.ID != entryID(e.Writer, e.Seq) {
			return bad(e.ID, "id does not match writer and seq: entry altered")
		}
		if tenant != nil {
			switch chainTenantTag(e.Writer) {
			case tag:
			case "":
				// A chain mixing tenants: see VerifyTenant.
				prev = nil
				return nil
			default:
				return bad(e.ID, "entry filed in another tenant's chain: altered")
			}
		}
		if prev == nil || prev.Writer != e.Writer {
			// First entry of a chain in the range.
			if reason, badID, err := checkChainStart(ctx, coll, &e); err != nil {
				return err
			} else if reason != "" {
				return bad(badID, "%s", reason)
			}
		} else {
			switch {
			case e.Seq == prev.Seq:
				return bad(e.ID, "duplicate seq %d in chain", e.Seq)
			case e.Seq != prev.Seq+1:
				return bad(e.ID, "entries missing before this one: seq %d to %d removed", prev.Seq+1, e.Seq-1)
			case e.PrevHash != prev.Hash:
				return bad(e.ID, "prev_hash does not match the previous entry: an entry was replaced or reordered")
			case e.TS.Before(prev.TS):
				return bad(e.ID, "ts earlier than the previous entry's: reordered")
			}
		}
		prev = &e
		return nil
	})
	if errors.Is(err, found) {
		return res, nil
	}
	if err != nil {
		return VerifyResult{}, store.Translate(err)
	}
	res.OK = true
	return res, nil
}

// checkChainStart checks the first entry of a chain within the range. It
// returns a reason and the id to blame when it is bad.
func checkChainStart(ctx context.Context, coll Log, e *Entry) (reason, badID string, err error) {
	if e.Seq == 1 {
		if e.PrevHash != Genesis(e.Writer) {
			return "first entry of the chain does not link to its genesis hash", e.ID, nil
		}
		return "", "", nil
	}
	if e.Seq < 1 {
		return "seq out of range", e.ID, nil
	}
	// The entry before it lies outside the range. If it still exists the
	// link must hold: this is what catches the removal of the first entry
	// in the range. If it is gone, retention removed it (or it was removed
	// together with everything before it, which no chain can tell apart).
	// The chain's ids lie in [writer + "-", e.ID): a range of the _id index.
	// The writer condition keeps any other chain out of it.
	var p Entry
	err = coll.FindOne(ctx,
		bson.D{
			{Key: "_id", Value: bson.D{{Key: "$gte", Value: e.Writer + idSep}, {Key: "$lt", Value: e.ID}}},
			{Key: "writer", Value: e.Writer},
		},
		store.Find{Sort: bson.D{{Key: "_id", Value: -1}}}, &p)
	if errors.Is(err, store.ErrNoDocuments) {
		return "", "", nil
	}
	if err != nil {
		return "", "", store.Translate(err)
	}
	switch {
	case p.Hash != HashOf(&p):
		return "hash mismatch: entry altered (it precedes the range)", p.ID, nil
	case p.Seq != e.Seq-1:
		return fmt.Sprintf("entries missing before this one: seq %d to %d removed", p.Seq+1, e.Seq-1), e.ID, nil
	case e.PrevHash != p.Hash:
		return "prev_hash does not match the previous entry: an entry was replaced or reordered", e.ID, nil
	}
	return "", "", nil
}

func ptr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// timeRange is the ts condition for [from, to], nil when both are open.
func timeRange(from, to *time.Time) bson.D {
	var d bson.D
	if from != nil {
		d = append(d, bson.E{Key: "$gte", Value: from.UTC()})
	}
	if to != nil {
		d = append(d, bson.E{Key: "$lte", Value: to.UTC()})
	}
	return d
}
