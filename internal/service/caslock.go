package service

import (
	"context"
	"hash/maphash"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/policy"
)

// casLocks serialise this process's compare-and-swap writes per document.
//
// Why: the compare-and-swap (casCond in the write filter) relies on the
// server applying a conditional update atomically. MongoDB and FerretDB v2
// do; the embedded FerretDB v1 on SQLite does not — eight concurrent
// findAndModify calls conditioned on the same updated_at all succeed there
// (TestIfMatchIsAtomicWithTheWrite). The embedded backend is written by this
// process only, so holding a lock per document around the write restores
// the guarantee; on other servers it only orders this process's own writes
// to one document, which the server would serialise anyway. Striped, so
// memory stays constant; two documents sharing a stripe merely wait.
var (
	casLocks [256]sync.Mutex
	casSeed  = maphash.MakeSeed()
)

// lockDoc locks the stripe of document id in coll and returns the unlock.
func lockDoc(coll string, id any) func() {
	var h maphash.Hash
	h.SetSeed(casSeed)
	h.WriteString(coll)
	h.WriteByte(0)
	if t, b, err := bson.MarshalValue(id); err == nil {
		h.WriteByte(byte(t))
		h.Write(b)
	}
	m := &casLocks[h.Sum64()%uint64(len(casLocks))]
	m.Lock()
	return m.Unlock
}

// casWrite is the compare-and-swap every write over a checked document
// goes through: on a versioned collection the state pre is saved first (as
// op), then write runs, under the document's lock, with a filter that
// matches only pre's state of document id within d's scope. A write that
// matched nothing met a concurrent change between the check and the write:
// 409 (conflict), never a write on an unchecked document.
func (r *request) casWrite(ctx context.Context, d *policy.Decision, id any, pre bson.Raw, op string, write func(filter any) (matched bool, err error)) error {
	if err := r.saveVersion(ctx, pre, op); err != nil {
		return err
	}
	unlock := lockDoc(r.coll, id)
	matched, err := write(and(idFilter(id), policyFilter(d), casCond(pre)))
	unlock()
	if err == nil && !matched {
		return conflict(ctx)
	}
	return err
}
