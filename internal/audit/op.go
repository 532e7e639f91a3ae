package audit

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/permission-mongo/permission-mongo/internal/principal"
)

// Op is one operation being audited: begun (and its entry's room reserved)
// by Writer.Begin, described while it runs, recorded by Finish.
//
// The api layer begins and finishes the Op in one middleware, and puts it in
// the request context with NewContext; the code that learns the details
// (the authenticator, the handler, the service) adds them with the setters,
// found through FromContext. That keeps one audit path for every endpoint:
// an endpoint cannot forget to audit, only to add a detail.
//
// Every method is safe for concurrent use (an import may count from several
// goroutines) and does nothing on a nil *Op, so code that runs both inside
// and outside an audited request needs no checks.
type Op struct {
	w     *Writer
	start time.Time
	mu    sync.Mutex
	e     Entry
	done  bool
	// ticket is the entry's place in the writer's queue (Writer.appended),
	// set by Finish; 0 when it will never be stored.
	ticket int64
}

// edit changes the entry being described under the Op's lock; on a nil Op
// it does nothing, which is what makes every setter safe outside an audited
// request.
func (o *Op) edit(f func(e *Entry)) {
	if o == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	f(&o.e)
}

// SetActor records who is calling, once authentication has said so.
func (o *Op) SetActor(p *principal.Principal) {
	if o == nil {
		return
	}
	a := ActorOf(p)
	o.edit(func(e *Entry) { e.Actor = a })
}

// SetAction records what is being done and to which collection ("" for
// endpoints without one), when the route alone did not say.
func (o *Op) SetAction(action, collection string) {
	o.edit(func(e *Entry) { e.Action, e.Collection = action, collection })
}

// AddDocIDs adds the ids of documents touched. Past MaxDocIDs ids are
// dropped (memory stays bounded for large batches); use AddCount for the
// number.
func (o *Op) AddDocIDs(ids ...string) {
	o.edit(func(e *Entry) { e.DocIDs = appendBounded(e.DocIDs, MaxDocIDs, ids) })
}

// AddCount adds n documents returned or changed.
func (o *Op) AddCount(n int64) {
	o.edit(func(e *Entry) { e.Count += n })
}

// AddFailed adds n items of a batch or import that failed.
func (o *Op) AddFailed(n int64) {
	o.edit(func(e *Entry) { e.Failed += n })
}

// AddChangedFields adds the names of fields a write changed. Names only:
// the values of a write are not audit material (they may be masked for
// the very people who read the audit log).
func (o *Op) AddChangedFields(names ...string) {
	// A generous bound before normalize de-duplicates and cuts to
	// MaxChangedFields: memory stays bounded whatever a batch holds.
	o.edit(func(e *Entry) { e.ChangedFields = appendBounded(e.ChangedFields, 4*MaxChangedFields, names) })
}

// appendBounded appends to list as many of more as fit below limit items.
func appendBounded(list []string, limit int, more []string) []string {
	if room := limit - len(list); room > 0 {
		list = append(list, more[:min(room, len(more))]...)
	}
	return list
}

// Finish records the entry with the HTTP status sent and the contract's
// error code ("" on success); the outcome follows from the status
// (OutcomeOf) and the latency from Begin. Only the first call counts, so
// `defer op.Finish(500, "INTERNAL")` after an explicit Finish is harmless and
// makes a panic still leave an entry.
func (o *Op) Finish(status int, errorCode string) {
	o.FinishAs(OutcomeOf(status), status, errorCode)
}

// FinishAs is Finish with an explicit outcome, for the rare case where the
// status alone misleads (a 404 because the policy hides the document is
// still a 404 to the client, but the caller may want OutcomeDenied).
func (o *Op) FinishAs(outcome Outcome, status int, errorCode string) {
	if o == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock() // held until the ticket is set, for Wait
	if o.done {
		return
	}
	o.done = true
	e := o.e
	e.Outcome, e.Status, e.ErrorCode = outcome, status, errorCode
	e.LatencyMS = latencyMS(time.Since(o.start))
	o.ticket = o.w.finish(e)
}

// Wait returns once the entry recorded by Finish is durable: stored in
// MongoDB or, in ModeBuffer, fsynced to the spill file. The api layer holds
// the response until then, so that a client never has an answer whose
// entry a crash (SIGKILL, power loss) could still take away. Entries travel
// in batches (group commit), so waiting costs a request about one insert,
// not one insert of its own.
//
// It fails when ctx ends, when the store has not taken the entry within
// Options.MaxWait (ModeFailClosed while MongoDB fails: the entry stays
// queued, and new operations are refused meanwhile), or when the writer
// stopped without storing it; the caller decides whether to answer anyway.
// Calling it before Finish is an error.
func (o *Op) Wait(ctx context.Context) error {
	if o == nil {
		return nil
	}
	o.mu.Lock()
	done, t := o.done, o.ticket
	o.mu.Unlock()
	if !done {
		return errors.New("audit: Op.Wait before Finish")
	}
	err := o.w.waitDurable(ctx, t)
	if err != nil {
		o.w.stats.unconfirmed.Add(1)
	}
	return err
}

type ctxKey struct{}

// NewContext returns ctx carrying op.
func NewContext(ctx context.Context, op *Op) context.Context {
	return context.WithValue(ctx, ctxKey{}, op)
}

// FromContext returns the Op of the request ctx belongs to, or nil (whose
// methods do nothing) outside an audited request.
func FromContext(ctx context.Context) *Op {
	op, _ := ctx.Value(ctxKey{}).(*Op)
	return op
}
