package audit

import "time"

// minCapacity is the smallest queue that keeps every insert busy: a full
// batch for each insert in flight plus one being filled.
func (w *Writer) minCapacity() int {
	return (w.opts.MaxInFlight + 1) * w.opts.BatchSize
}

// observeThroughput feeds the queue's size with what the store was seen to
// write: n entries stored in the busy time d (inserts in flight all along).
// Only a fixed QueueSize ignores it. Samples of less than a batch measure
// round trips more than the store, so they are skipped.
func (w *Writer) observeThroughput(n int, d time.Duration) {
	if w.opts.QueueSize > 0 || n < w.opts.BatchSize || d <= 0 {
		return
	}
	sample := float64(n) / d.Seconds()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.rate == 0 {
		w.rate = sample
	} else {
		// A moving average: one slow insert does not shrink the queue, a
		// lasting change of pace does within a few samples.
		w.rate = 0.7*w.rate + 0.3*sample
	}
	c := int(w.rate * QueueWindow.Seconds())
	c = min(max(c, w.minCapacity()), MaxAutoQueueSize)
	if c > w.capacity {
		w.wakeWaitersLocked()
	}
	w.capacity = c
	w.stats.queueCapacity.Store(int64(c))
}
