package audit

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/store"
)

// run is the flush loop. It owns the database writes and the spill file.
func (w *Writer) run() {
	defer close(w.done)
	var (
		backoff time.Duration // 0 while MongoDB answers
		retryAt time.Time
		closing bool
		// spillFailed: in ModeBuffer, the last attempt to move the queue
		// to the spill file failed (file full, directory gone or read-only).
		spillFailed bool
	)
	for {
		wait := w.nextFlush()
		wake := w.wake
		if backoff > 0 {
			if w.opts.Mode == ModeFailClosed || spillFailed {
				// Nothing to do before the next attempt: entries stay
				// queued. A failed spill is retried with MongoDB, not
				// at once: the queue is not empty, so the usual pace
				// (nextFlush) would be no pause at all, a loop burning a
				// core and flooding the log until retryAt. Operations are
				// refused meanwhile, so no new entry needs the wake.
				wait = time.Until(retryAt)
				wake = nil
			} else {
				// Keep moving entries to the spill file at the usual pace;
				// flush tries MongoDB again only once retryAt has passed.
				wait = min(wait, time.Until(retryAt))
			}
		}
		if closing {
			wait = min(wait, 0)
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			w.stats.sleeping.Store(wake == nil)
			select {
			case <-wake:
			case <-t.C:
			case <-w.closing:
				closing = true
			case <-w.abort:
			}
			w.stats.sleeping.Store(false)
			t.Stop()
		}
		if w.aborted() {
			w.saveQueue()
			return
		}
		tryDB := backoff == 0 || !time.Now().Before(retryAt)
		drained, healthy := w.flush(tryDB, closing)
		// In ModeBuffer an unhealthy flush drains the queue into the
		// spill file; not drained means that failed (see flush).
		spillFailed = w.opts.Mode == ModeBuffer && !healthy && !drained
		switch {
		case healthy:
			backoff = 0
		case tryDB:
			backoff = min(max(2*backoff, w.opts.RetryMin), w.opts.RetryMax)
			retryAt = time.Now().Add(backoff)
		}
		if closing && drained {
			return
		}
		if closing && !healthy {
			// Draining for Close while MongoDB fails: wait for the next
			// attempt or Close's deadline, nothing else.
			t := time.NewTimer(time.Until(retryAt))
			select {
			case <-t.C:
			case <-w.abort:
			}
			t.Stop()
		}
	}
}

func (w *Writer) aborted() bool {
	select {
	case <-w.abort:
		return true
	default:
		return false
	}
}

// idleFlush is how often the flush loop looks at the spill file (and
// whether audit is available again) while nothing is queued.
const idleFlush = 100 * time.Millisecond

// nextFlush is how long the flush loop may sleep: not at all when entries
// are queued (no insert runs between two drains, so they go at once, see
// drain), idleFlush when nothing is. Appending the first entry of a batch
// wakes the loop early.
func (w *Writer) nextFlush() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.queue) == w.sent {
		return max(w.opts.FlushInterval, idleFlush)
	}
	return 0
}

// partialDueLocked is how long the partial batch still waits for company:
// until FlushInterval after its oldest entry was queued, and not at all
// when no operation is running, since none could join it (a lone request
// pays one insert, nothing more). w.mu is held.
func (w *Writer) partialDueLocked() time.Duration {
	if w.reserved == 0 {
		return 0
	}
	return max(w.opts.FlushInterval-time.Since(w.unsentSince), 0)
}

// flush writes the queue (after the spill file, which holds older entries)
// until it is empty or a write fails; partial batches that are not due yet
// stay queued unless force (Close). drained: nothing is left only in
// memory (entries are in MongoDB or, in ModeBuffer, in the spill file).
// healthy: MongoDB took every write attempted.
func (w *Writer) flush(tryDB, force bool) (drained, healthy bool) {
	if !tryDB {
		if w.opts.Mode == ModeBuffer {
			return w.spillQueue(), false
		}
		return w.queueLen() == 0, false
	}
	if w.aborted() {
		return false, false
	}
	if w.spill != nil && w.spill.pending() {
		if err := w.replay(); err != nil {
			if w.opts.Mode == ModeBuffer {
				return w.spillQueue(), false
			}
			// The file's entries are safe on disk; only the queue is
			// at risk, and it waits behind them.
			w.setUnavailable(err)
			return w.queueLen() == 0, false
		}
	}
	if err := w.drain(force); err != nil {
		if w.aborted() {
			return false, false
		}
		if w.opts.Mode == ModeBuffer {
			return w.spillQueue(), false
		}
		w.setUnavailable(err)
		return false, false
	}
	return w.queueLen() == 0, true
}

// flight is one batch insert running.
type flight struct {
	n    int // entries, the next n of the queue after the flights before it
	err  error
	took time.Duration
	done bool
}

// drain inserts the queue in batches, up to MaxInFlight at once, until
// nothing is left but a partial batch that is not due yet; it returns the
// first insert error (after the other inserts ended).
//
// The chain does not depend on the order inserts finish in: every entry was
// hashed when it was queued. The queue, though, only loses its oldest
// entries: a batch stored before an earlier one leaves the queue when that
// one is stored too. So a failure leaves every entry from the failed batch
// on in memory, and the retry sends again some that are stored already,
// which insert takes as success (the ids are deterministic). The same
// order is what lets requests wait for their own entry (Op.Wait): an entry
// is durable once everything queued before it has left the queue.
//
// This is group commit. Requests wait for their entry, so every insert
// costs latency as well as the store's work, whatever its size; a batch
// goes out when it is full, at once when no insert is running (the entries
// that arrive meanwhile form the next batch, which goes as soon as this
// insert returns), or, when another insert runs and a slot is free, once
// its oldest entry has waited FlushInterval for company or no operation is
// running that could join it. While every slot is busy entries pile up, so
// under load batches grow by themselves and the inserts keep pace with the
// requests, with no timer in the way; under light load an entry waits one
// insert.
func (w *Writer) drain(force bool) error {
	defer w.unsend()
	results := make(chan *flight, w.opts.MaxInFlight)
	var (
		flights []*flight // running or stored out of order; queue order
		running int
		failed  error
		due     time.Duration // until the partial batch left in the queue is due
		// Throughput sample for the queue's size: entries stored since
		// busySince, all of that time with inserts running.
		busySince = time.Now()
		stored    int
	)
	for {
		due = 0
		for failed == nil && running < w.inFlight && !w.aborted() {
			var batch []bson.Raw
			batch, due = w.take(force || running == 0)
			if batch == nil {
				break
			}
			f := &flight{n: len(batch)}
			flights = append(flights, f)
			running++
			go func() {
				start := time.Now()
				f.err = w.insert(batch)
				f.took = time.Since(start)
				results <- f
			}()
		}
		if running == 0 {
			if stored > 0 {
				w.observeThroughput(stored, time.Since(busySince))
			}
			if failed == nil && w.aborted() && w.queueLen() > 0 {
				failed = errClosing // Close gave up: what is left goes to the spill file
			}
			return failed
		}
		var (
			wake    chan struct{} // only while a slot is free: a busy loop otherwise
			dueC    <-chan time.Time
			dueTime *time.Timer
		)
		if failed == nil && running < w.inFlight {
			wake = w.wake
			if due > 0 {
				dueTime = time.NewTimer(due)
				dueC = dueTime.C
			}
		}
		select {
		case f := <-results:
			running--
			f.done = true
			w.adjust(f)
			if f.err != nil && failed == nil {
				failed = f.err
			}
		case <-wake: // a batch started or filled up
		case <-dueC: // the partial batch is due
		}
		if dueTime != nil {
			dueTime.Stop()
		}
		k, n := 0, 0
		for k < len(flights) && flights[k].done && flights[k].err == nil {
			n += flights[k].n
			k++
		}
		if n > 0 {
			flights = flights[k:]
			w.pop(n)
			stored += n
			if d := time.Since(busySince); d >= time.Second {
				w.observeThroughput(stored, d)
				busySince, stored = time.Now(), 0
			}
		}
	}
}

// adjust sets how many inserts may run at once, and how many entries each
// carries, from how the last insert went. Concurrent inserts help a store
// with capacity to spare (the DocumentDB engine stores about twice as much
// with four), and hurt one that serializes writes (SQLite under the embedded
// FerretDB), where they only make each insert slower until inserts time out,
// which fail_closed must treat as an outage. And a batch that cannot be
// stored within the write timeout would fail forever, although the store
// works. So: one insert at first and after any failure, one more while
// inserts take under a quarter of the write timeout, half as many when one
// takes over half of it; when one insert at a time is still that slow, or an
// insert timed out, half the batch size, and back up towards BatchSize while
// full batches are quick.
func (w *Writer) adjust(f *flight) {
	slow := f.took > w.opts.WriteTimeout/2
	switch {
	case f.err != nil:
		w.inFlight = 1
		if store.IsTimeout(f.err) || errors.Is(f.err, context.DeadlineExceeded) {
			w.batch = max(minBatch, w.batch/2)
		}
	case slow && w.inFlight > 1:
		w.inFlight /= 2
	case slow:
		w.batch = max(minBatch, w.batch/2)
	case f.took < w.opts.WriteTimeout/4:
		w.inFlight = min(w.inFlight+1, w.opts.MaxInFlight)
		if f.n >= w.batch {
			w.batch = min(2*w.batch, w.opts.BatchSize)
		}
	}
}

// minBatch is the smallest batch adjust goes down to.
const minBatch = 16

// take marks the next batch of the queue as being inserted and returns a
// copy of it: a full batch, or the partial batch once it is due
// (FlushInterval after its oldest entry was queued; at once when now).
// Otherwise it returns nil and how long until the partial batch is due (0
// when nothing waits). When the queue is empty the backlog is gone and
// operations are accepted again.
func (w *Writer) take(now bool) ([]bson.Raw, time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.queue) == 0 {
		w.setAvailableLocked()
		return nil, 0
	}
	n := min(len(w.queue)-w.sent, w.batch)
	if n == 0 {
		return nil, 0
	}
	if n < w.batch && !now {
		if due := w.partialDueLocked(); due > 0 {
			return nil, due
		}
	}
	batch := append([]bson.Raw(nil), w.queue[w.sent:w.sent+n]...)
	w.sent += n
	if w.sent < len(w.queue) {
		// The rest came in while this batch filled: count its wait from now.
		w.unsentSince = time.Now()
	}
	return batch, 0
}

// unsend returns the entries still queued to the unsent part, once no
// insert runs: they are sent again (or spilled) from the oldest.
func (w *Writer) unsend() {
	w.mu.Lock()
	w.sent = 0
	w.unsentSince = time.Time{} // they were due already: no more waiting
	w.mu.Unlock()
}

// insert writes batch (encoded entries), unordered. Entry ids are
// deterministic, so a duplicate-key error means that entry was stored by an
// earlier attempt whose answer was lost: retries are idempotent and count as
// success.
func (w *Writer) insert(batch []bson.Raw) error {
	ctx, cancel := context.WithTimeout(context.Background(), w.opts.WriteTimeout)
	defer cancel()
	start := time.Now()
	w.stats.inserts.Add(1)
	err := w.opts.Collection.InsertRaw(ctx, batch, false)
	if err != nil && store.OnlyDuplicates(err) {
		err = nil
	}
	w.latency.Observe(time.Since(start).Seconds())
	if err != nil {
		w.stats.writeErrors.Add(1)
		w.log.Warn("audit batch not written", "entries", len(batch), "first_id", rawID(batch[0]), "error", store.Translate(err), "cause", err)
		return err
	}
	w.stats.written.Add(int64(len(batch)))
	return nil
}

// pop removes the n oldest entries, which were stored or spilled, lets
// operations waiting for room look again and those waiting for their entry
// know it is durable.
func (w *Writer) pop(n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	k := copy(w.queue, w.queue[n:])
	clear(w.queue[k:])
	w.queue = w.queue[:k]
	w.sent = max(w.sent-n, 0)
	w.stats.queueDepth.Store(int64(k))
	w.wakeWaitersLocked()
	w.advanceDurableLocked(n)
}

// rawID is the _id of an encoded entry, for logs.
func rawID(doc bson.Raw) string {
	id, _ := doc.Lookup("_id").StringValueOK()
	return id
}

func (w *Writer) queueLen() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.queue)
}

func (w *Writer) setUnavailable(cause error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.unavailable == nil {
		w.log.Error("audit unavailable: refusing new operations until the backlog is stored", "queued", len(w.queue))
	}
	w.unavailable = cause
	w.stats.available.Store(false)
	w.wakeWaitersLocked() // they are refused now
}

func (w *Writer) setAvailableLocked() {
	if w.unavailable != nil {
		w.log.Info("audit available again")
	}
	w.unavailable = nil
	w.stats.available.Store(true)
}

// spillQueue moves the whole queue to the spill file (ModeBuffer). It
// reports whether the queue is empty after; on failure the entries stay in
// memory and new operations are refused, as in ModeFailClosed.
func (w *Writer) spillQueue() bool {
	for {
		w.mu.Lock()
		batch := append([]bson.Raw(nil), w.queue[:min(len(w.queue), w.opts.BatchSize)]...)
		w.mu.Unlock()
		if len(batch) == 0 {
			w.mu.Lock()
			w.setAvailableLocked()
			w.mu.Unlock()
			return true
		}
		if err := w.spill.append(batch); err != nil {
			w.stats.spillErrors.Add(1)
			w.log.Error("audit spill file not written", "entries", len(batch), "error", err)
			w.setUnavailable(err)
			return false
		}
		w.stats.spilled.Add(int64(len(batch)))
		w.stats.spillBytes.Store(w.spill.pendingBytes())
		w.pop(len(batch))
	}
}

// saveQueue is Close's last resort after its deadline: whatever is still in
// memory goes to the spill file, if there is one, to be replayed at the next
// start.
func (w *Writer) saveQueue() {
	if w.spill == nil {
		return
	}
	for {
		w.mu.Lock()
		batch := append([]bson.Raw(nil), w.queue[:min(len(w.queue), w.opts.BatchSize)]...)
		w.mu.Unlock()
		if len(batch) == 0 {
			return
		}
		if err := w.spill.append(batch); err != nil {
			w.log.Error("audit spill file not written at shutdown", "entries", len(batch), "error", err)
			return
		}
		w.stats.spilled.Add(int64(len(batch)))
		w.pop(len(batch))
	}
}

// replay moves the spill file into MongoDB, batch by batch, in file order,
// and empties the file when all of it is stored. A failure leaves the rest
// for the next attempt; batches already stored are not sent again (and would
// be harmless duplicates if they were).
func (w *Writer) replay() error {
	for {
		if w.aborted() {
			return errClosing
		}
		batch, next, corrupt, err := w.spill.read(w.opts.BatchSize)
		if corrupt > 0 {
			w.stats.corrupt.Add(int64(corrupt))
			w.log.Error("audit spill file: unreadable lines skipped", "lines", corrupt)
		}
		if err != nil {
			w.log.Error("audit spill file not readable", "error", err)
			return err
		}
		if len(batch) > 0 {
			docs := make([]bson.Raw, len(batch))
			for i := range batch {
				docs[i] = encodeEntry(&batch[i])
			}
			if err := w.insert(docs); err != nil {
				return err
			}
			w.stats.replayed.Add(int64(len(batch)))
		}
		w.spill.advance(next)
		w.stats.spillBytes.Store(w.spill.pendingBytes())
		if !w.spill.pending() {
			if err := w.spill.reset(); err != nil {
				w.log.Error("audit spill file not truncated", "error", err)
				return err
			}
			w.stats.spillBytes.Store(0)
			return nil
		}
	}
}
