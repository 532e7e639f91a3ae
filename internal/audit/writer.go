package audit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
)

// Writer hashes entries into its chain as they are queued and writes them to
// MongoDB in batches, several inserts in flight (Options.MaxInFlight). It is
// safe for concurrent use. One Writer per process: its id, random at every
// start, names the chain.
type Writer struct {
	opts Options
	id   string
	log  *slog.Logger

	mu       sync.Mutex
	seq      int64     // of the last entry of the own chain (no tenant; see tenants)
	lastHash string    // of the last entry of the own chain
	lastTS   time.Time // of the last entry recorded; ts never goes back within a chain
	// queue holds the entries hashed and not yet stored, oldest first, as
	// the documents to insert (encodeEntry).
	queue []bson.Raw
	sent  int // queue[:sent] is being inserted by the flush loop
	// unsentSince is when the oldest entry of queue[sent:] was queued (the
	// zero time: send it now); a partial batch waits for company until it
	// is FlushInterval old.
	unsentSince time.Time
	// appended counts the entries ever queued and durable those stored in
	// MongoDB or fsynced to the spill file. Entries leave the queue oldest
	// first, so the entry queued as number n is durable once durable >= n:
	// that is what Op.Wait waits for.
	appended, durable int64
	// durableWaiters are the operations waiting for their entry, each
	// woken alone once durable reaches its ticket (or the writer stops):
	// one channel shared by all and closed at every stored batch woke
	// those whose batch was still in flight too, only to sleep again.
	durableWaiters []durableWaiter
	reserved       int // operations begun and not finished
	// capacity is the queue's bound (reserved operations included): the
	// fixed QueueSize, or the one derived from rate, the store's measured
	// throughput in entries per second.
	capacity int
	rate     float64
	// room, when not nil, is closed (and reset) when waiting operations
	// should look again: room was made, or audit became unavailable or
	// closed.
	room chan struct{}
	// unavailable is why new operations are refused, nil when they are not.
	// Set when entries cannot be stored, cleared when the backlog is.
	unavailable error
	closed      bool // Close was called: no new operations
	stopped     bool // the flush loop has ended: nothing more will be written

	spill *spillFile // nil without SpillPath
	// inFlight is how many inserts may run at once now (at most
	// MaxInFlight), and batch how many entries each carries (at most
	// BatchSize); see adjust. Used by the flush goroutine only.
	inFlight, batch int

	// tenants holds one chain per tenant, created on its first entry
	// (chain.go); guarded by mu.
	tenants map[string]*chainHead

	wake     chan struct{} // a full batch is waiting
	closing  chan struct{} // Close: drain and stop
	abort    chan struct{} // Close's deadline passed: save what can be saved and stop
	done     chan struct{} // the loop has ended
	idle     chan struct{} // closed once closed && reserved == 0
	idleOnce sync.Once
	stopOnce sync.Once

	stats   counters
	latency prometheus.Histogram
}

// counters back both Stats and the Prometheus metrics.
type counters struct {
	written, spilled, replayed, refused, writeErrors, lost, corrupt atomic.Int64
	waited, unconfirmed, inserts                                    atomic.Int64
	queueDepth, queueCapacity                                       atomic.Int64
	spillBytes                                                      atomic.Int64
	spillErrors                                                     atomic.Int64 // failed spillQueue appends; for tests
	available                                                       atomic.Bool
	sleeping                                                        atomic.Bool // the flush loop waits without a wake; for tests
}

// Stats is a snapshot of a Writer's counters.
type Stats struct {
	// Written: entries stored in MongoDB, replayed ones included.
	Written int64
	// Spilled: entries appended to the spill file; Replayed: entries moved
	// from it to MongoDB.
	Spilled, Replayed int64
	// Refused: operations refused by Begin or Record.
	Refused int64
	// Waited: operations that found the queue full and waited for room
	// (back-pressure); they count in Refused too when the wait failed.
	Waited int64
	// Inserts: batch insert attempts (Written / Inserts is how well batches
	// fill).
	Inserts int64
	// WriteErrors: failed batch insert attempts.
	WriteErrors int64
	// Unconfirmed: operations answered although their entry was not yet
	// durable when Op.Wait gave up (MongoDB failing for longer than
	// MaxWait in ModeFailClosed; the entry stays queued). Should stay 0.
	Unconfirmed int64
	// Lost: entries that could not be stored nor saved (Close gave up
	// without a SpillPath, or an operation finished after Close), and
	// Corrupt: unreadable spill file lines skipped on replay. Both should
	// stay 0; anything else is worth an alert.
	Lost, Corrupt int64
	// QueueDepth: entries in memory, not yet stored.
	QueueDepth int64
	// QueueCapacity: the queue's current bound (see Options.QueueSize).
	QueueCapacity int64
	// SpillBytes: size of the spill file not yet replayed.
	SpillBytes int64
	// Available: Begin and Record accept operations.
	Available bool
}

// NewWriter starts a Writer. In ModeBuffer (or with a SpillPath) the spill
// file is opened now, so a path that cannot be written fails at start; a
// file left by an earlier process is replayed first.
func NewWriter(opts Options) (*Writer, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("audit: writer id: %w", err)
	}
	w := &Writer{
		opts:    opts,
		id:      hex.EncodeToString(b[:]),
		wake:    make(chan struct{}, 1),
		closing: make(chan struct{}),
		abort:   make(chan struct{}),
		done:    make(chan struct{}),
		idle:    make(chan struct{}),
	}
	w.log = opts.Logger.With("component", "audit", "writer", w.id)
	w.lastHash = Genesis(w.id)
	w.inFlight, w.batch = 1, opts.BatchSize
	w.capacity = opts.QueueSize
	if w.capacity == 0 {
		w.capacity = w.minCapacity()
	}
	w.stats.queueCapacity.Store(int64(w.capacity))
	w.stats.available.Store(true)
	if opts.SpillPath != "" {
		s, err := openSpill(opts.SpillPath, opts.MaxSpillBytes)
		if err != nil {
			return nil, err
		}
		w.spill = s
		w.stats.spillBytes.Store(s.pendingBytes())
	}
	w.latency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "pm_audit_write_seconds",
		Help:    "Duration of one batch insert of audit entries.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	})
	if opts.Registerer != nil {
		if err := w.register(opts.Registerer); err != nil {
			if w.spill != nil {
				_ = w.spill.close()
			}
			return nil, err
		}
	}
	go w.run()
	return w, nil
}

// ID is the writer's id, the name of its chain.
func (w *Writer) ID() string { return w.id }

// Head returns the sequence number and hash of the last entry of the
// writer's own chain (0 and the genesis hash before the first); Heads has
// every chain.
func (w *Writer) Head() (seq int64, hash string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seq, w.lastHash
}

// Stats returns the current counters.
func (w *Writer) Stats() Stats {
	return Stats{
		Written:       w.stats.written.Load(),
		Spilled:       w.stats.spilled.Load(),
		Replayed:      w.stats.replayed.Load(),
		Refused:       w.stats.refused.Load(),
		Waited:        w.stats.waited.Load(),
		Unconfirmed:   w.stats.unconfirmed.Load(),
		Inserts:       w.stats.inserts.Load(),
		WriteErrors:   w.stats.writeErrors.Load(),
		Lost:          w.stats.lost.Load(),
		Corrupt:       w.stats.corrupt.Load(),
		QueueDepth:    w.stats.queueDepth.Load(),
		QueueCapacity: w.stats.queueCapacity.Load(),
		SpillBytes:    w.stats.spillBytes.Load(),
		Available:     w.stats.available.Load(),
	}
}

// Available reports whether an operation begun now would be accepted: nil,
// or the KindUnavailable error Begin would return. A full queue is not
// unavailability (Begin waits for room), so readiness probes stay green
// while a healthy store is merely busy. It reserves nothing; a request must
// use Begin, which does.
func (w *Writer) Available() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.admitLocked(); !errors.Is(err, errQueueFull) {
		return err
	}
	return nil
}

// Begin reserves room for the audit entry of one operation, before the
// operation runs. When the queue is full it waits for room (the flush loop
// frees room as batches are stored), at most Options.MaxWait and no longer
// than ctx. A KindUnavailable error means the operation must not run: its
// entry could not be guaranteed (MongoDB failing in ModeFailClosed, spill
// file failing in ModeBuffer, shutting down, or no room within the wait).
//
// base holds what is known at the start (request id, address, user agent,
// action, collection, actor); the returned Op collects the rest and must be
// finished exactly once, whatever happens (defer op.Finish). The reservation
// is why Finish cannot fail: an operation that was allowed to start is
// always recorded.
func (w *Writer) Begin(ctx context.Context, base Entry) (*Op, error) {
	w.mu.Lock()
	err := w.waitRoomLocked(ctx)
	if err == nil {
		w.reserved++
	}
	w.mu.Unlock()
	if err != nil {
		w.stats.refused.Add(1)
		return nil, err
	}
	return &Op{w: w, start: time.Now(), e: base}, nil
}

// Record records a complete entry in one step, for events that are not an
// operation with a before and after (a login failure, a grant reaped by a
// background job). It fails, with KindUnavailable, exactly when Begin would,
// and waits for room as Begin does; it never waits for MongoDB otherwise.
func (w *Writer) Record(ctx context.Context, e Entry) error {
	w.mu.Lock()
	err := w.waitRoomLocked(ctx)
	if err == nil {
		w.appendLocked(e)
	}
	w.mu.Unlock()
	if err != nil {
		w.stats.refused.Add(1)
	}
	return err
}

// errUnavailable is what the client sees; the cause stays in the logs.
func errUnavailable(cause error) error {
	return apperr.Wrap(apperr.KindUnavailable, cause, "audit log unavailable, request refused")
}

var (
	errClosing   = errors.New("audit writer is closing")
	errQueueFull = errors.New("audit queue is full")
)

// admitLocked decides whether one more operation can be accepted now:
// nil, errQueueFull (bare: the caller may wait), or a KindUnavailable error.
// w.mu is held.
func (w *Writer) admitLocked() error {
	switch {
	case w.closed:
		return errUnavailable(errClosing)
	case w.unavailable != nil:
		return errUnavailable(w.unavailable)
	case w.reserved+len(w.queue) >= w.capacity:
		return errQueueFull
	}
	return nil
}

// waitRoomLocked admits one operation, waiting while the queue is full.
// This is the back-pressure of a busy store: a burst that outruns the
// inserts slows down to their pace instead of being refused. Only a store
// that fails (the flush loop then sets unavailable, which wakes the waiters)
// or one that frees no room within MaxWait turns into a refusal. w.mu is
// held on entry and on return.
func (w *Writer) waitRoomLocked(ctx context.Context) error {
	var timeout <-chan time.Time
	for {
		err := w.admitLocked()
		if !errors.Is(err, errQueueFull) {
			return err
		}
		if timeout == nil {
			w.stats.waited.Add(1)
			t := time.NewTimer(w.opts.MaxWait)
			defer t.Stop()
			timeout = t.C
		}
		switch err := w.awaitLocked(ctx, &w.room, timeout); {
		case errors.Is(err, errTimedOut):
			return errUnavailable(fmt.Errorf("%w for %s: the audit store does not keep up", errQueueFull, w.opts.MaxWait))
		case err != nil:
			return errUnavailable(fmt.Errorf("%w: %w", errQueueFull, err))
		}
	}
}

// wakeWaitersLocked tells operations waiting for room to look again. w.mu
// is held.
func (w *Writer) wakeWaitersLocked() {
	if w.room != nil {
		close(w.room)
		w.room = nil
	}
}

// finish records the entry of an Op begun with Begin, releasing its
// reservation, and returns its ticket for waitDurable (0: it will never be
// stored). It never refuses: the room was reserved.
func (w *Writer) finish(e Entry) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.reserved--
	if w.stopped {
		// Close gave up waiting for this operation; nothing will write it.
		w.stats.lost.Add(1)
		w.log.Error("audit entry finished after the writer closed; not stored",
			"request_id", e.RequestID, "action", e.Action, "collection", e.Collection)
		return 0
	}
	t := w.appendLocked(e)
	if w.reserved == 0 {
		// The last running operation: its batch need not wait for more.
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	if w.closed && w.reserved == 0 {
		w.idleOnce.Do(func() { close(w.idle) })
	}
	return t
}

var errNotStored = errors.New("audit entry not stored: the writer stopped before it could be")

// waitDurable waits until the entry with ticket t is durable: stored in
// MongoDB, or fsynced to the spill file. It gives up when ctx ends (the
// client is gone), after MaxWait (the store has been failing that long; the
// entry stays queued and is stored when it answers again), or when the
// writer stopped without storing it.
func (w *Writer) waitDurable(ctx context.Context, t int64) error {
	if t == 0 {
		return errNotStored
	}
	w.mu.Lock()
	switch {
	case w.durable >= t:
		w.mu.Unlock()
		return nil
	case w.stopped:
		w.mu.Unlock()
		return errNotStored
	}
	ch := make(chan struct{})
	w.durableWaiters = append(w.durableWaiters, durableWaiter{t: t, ch: ch})
	w.mu.Unlock()

	tm := time.NewTimer(w.opts.MaxWait)
	defer tm.Stop()
	var err error
	select {
	case <-ch:
	case <-ctx.Done():
		err = context.Cause(ctx)
	case <-tm.C:
		err = fmt.Errorf("audit entry not durable after %s: the audit store does not answer", w.opts.MaxWait)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.durable >= t:
		return nil
	case err != nil:
		w.dropDurableWaiterLocked(ch)
		return err
	default: // woken without being durable: the writer stopped
		return errNotStored
	}
}

// durableWaiter is one operation waiting for the entry with ticket t.
type durableWaiter struct {
	t  int64
	ch chan struct{}
}

// dropDurableWaiterLocked forgets a waiter that gave up. w.mu is held.
func (w *Writer) dropDurableWaiterLocked(ch chan struct{}) {
	for i, d := range w.durableWaiters {
		if d.ch == ch {
			last := len(w.durableWaiters) - 1
			w.durableWaiters[i] = w.durableWaiters[last]
			w.durableWaiters[last] = durableWaiter{}
			w.durableWaiters = w.durableWaiters[:last]
			return
		}
	}
}

// errTimedOut is awaitLocked's answer when its timeout fired first.
var errTimedOut = errors.New("timed out")

// awaitLocked releases w.mu until *signal is closed (whoever changes what
// the waiters wait for closes it and sets it to nil), ctx ends (its cause is
// returned) or timeout fires (errTimedOut), and takes w.mu again. The
// channel is made by the first waiter, so nobody closes one no one waits on.
func (w *Writer) awaitLocked(ctx context.Context, signal *chan struct{}, timeout <-chan time.Time) error {
	if *signal == nil {
		*signal = make(chan struct{})
	}
	ch := *signal
	w.mu.Unlock()
	defer w.mu.Lock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-timeout:
		return errTimedOut
	}
}

// advanceDurableLocked records that the n oldest queued entries are durable
// and wakes the operations waiting for theirs. w.mu is held.
func (w *Writer) advanceDurableLocked(n int) {
	w.durable += int64(n)
	w.wakeDurableLocked()
}

// wakeDurableLocked wakes the operations whose entry is durable, and all of
// them once the writer stopped. w.mu is held.
func (w *Writer) wakeDurableLocked() {
	k := 0
	for _, d := range w.durableWaiters {
		if d.t <= w.durable || w.stopped {
			close(d.ch)
			continue
		}
		w.durableWaiters[k] = d
		k++
	}
	clear(w.durableWaiters[k:])
	w.durableWaiters = w.durableWaiters[:k]
}

// appendLocked chains e and queues it, and returns its ticket (see
// appended). w.mu is held: the lock is what makes the queue order the chain
// order.
func (w *Writer) appendLocked(e Entry) int64 {
	normalize(&e)
	ts := w.opts.Now().UTC().Truncate(time.Millisecond)
	if ts.Before(w.lastTS) {
		// The wall clock went back. A chain's ts must not, or a time range
		// would cut it into pieces that look like deletions.
		ts = w.lastTS
	}
	chain, seq, last := w.chainLocked(&e)
	*seq++
	e.Writer = chain
	e.Seq = *seq
	e.ID = entryID(chain, *seq)
	e.TS = ts
	e.PrevHash = *last
	e.Hash = HashOf(&e)
	*last, w.lastTS = e.Hash, ts
	unsent := len(w.queue) - w.sent
	if unsent == 0 {
		w.unsentSince = time.Now()
	}
	w.queue = append(w.queue, encodeEntry(&e))
	w.appended++
	w.stats.queueDepth.Store(int64(len(w.queue)))
	// The flush loop sleeps while nothing is queued: wake it for the first
	// entry of a batch (it then waits FlushInterval for more, or less when
	// the batch fills) and for a full batch.
	if unsent == 0 || unsent+1 >= w.opts.BatchSize {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	return w.appended
}

// Close stops accepting operations, waits for those begun to finish, and
// writes everything queued. It returns when all is stored (or, in
// ModeBuffer, safely in the spill file), or when ctx ends: then what is
// still in memory is saved to the spill file when there is one, and the
// error says how many entries were neither stored nor saved. Call it after
// the HTTP server has stopped taking requests (on SIGTERM). Calling it again
// returns nil once the first call has finished.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	already := w.closed
	w.closed = true
	w.wakeWaitersLocked() // they are refused now
	if w.reserved == 0 {
		w.idleOnce.Do(func() { close(w.idle) })
	}
	w.mu.Unlock()
	if already {
		<-w.done
		return nil
	}

	var waitErr error
	select {
	case <-w.idle: // checked first: an expired ctx must not hide that all is done
	default:
		select {
		case <-w.idle:
		case <-ctx.Done():
			waitErr = errors.New("audit: operations still running when Close gave up")
		}
	}
	close(w.closing)
	select {
	case <-w.done:
	case <-ctx.Done():
		w.stopOnce.Do(func() { close(w.abort) })
		<-w.done
	}

	w.mu.Lock()
	w.stopped = true
	left := len(w.queue)
	w.wakeDurableLocked() // what is still waiting will not be stored
	w.mu.Unlock()
	var errs []error
	if waitErr != nil {
		errs = append(errs, waitErr)
	}
	if left > 0 {
		w.stats.lost.Add(int64(left))
		w.log.Error("audit entries not stored", "count", left)
		errs = append(errs, fmt.Errorf("audit: %d entries could not be stored", left))
	}
	if w.spill != nil {
		if err := w.spill.close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
