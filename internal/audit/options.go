package audit

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/permission-mongo/permission-mongo/internal/store"
)

// Mode says what happens when entries cannot be written to MongoDB.
type Mode string

const (
	// ModeFailClosed keeps unwritten entries in memory, retries, and refuses
	// new operations (503) while the store fails, until they are written. A
	// store that is merely busy is not a failure: a full queue makes new
	// operations wait for room (Options.MaxWait). The default: nothing
	// happens that is not in the audit collection soon after.
	ModeFailClosed Mode = "fail_closed"
	// ModeBuffer appends unwritten entries to a local file (fsync per batch)
	// and keeps accepting operations; the file is replayed into MongoDB, in
	// order, when it answers again. Operations are refused only when the
	// file cannot be written or is full.
	ModeBuffer Mode = "buffer"
)

// Defaults for zero Options fields.
const (
	// DefaultQueueSize is the fixed queue of callers that want one; the
	// zero QueueSize sizes the queue by the store's measured throughput.
	DefaultQueueSize = 10000
	DefaultBatchSize = 500
	// DefaultMaxInFlight is 1: on the DocumentDB engine, four concurrent
	// inserts into the audit collection coincided with PostgreSQL crashes
	// (signal 11) and did not raise audited throughput on two cores. Raise
	// it for a server with cores to spare; the writer still only adds
	// inserts while they are quick (see adjust).
	DefaultMaxInFlight = 1
	// DefaultFlushInterval is short because requests wait for their entry
	// (Op.Wait). It only applies while another insert runs (MaxInFlight > 1):
	// with none running a batch goes at once.
	DefaultFlushInterval = 2 * time.Millisecond
	DefaultWriteTimeout  = 5 * time.Second
	DefaultRetryMin      = 100 * time.Millisecond
	DefaultRetryMax      = 5 * time.Second
	DefaultMaxSpillBytes = 1 << 30
)

// Bounds of the queue sized by throughput (QueueSize 0). The queue holds
// about QueueWindow of what the store was measured to write: enough to ride
// out a burst or a slow insert without making requests wait, and little
// enough that what sits only in memory (lost if the process is killed) is a
// couple of seconds of traffic. It never holds less than the inserts in
// flight plus one batch being filled, nor more than MaxAutoQueueSize.
const (
	QueueWindow      = 2 * time.Second
	MaxAutoQueueSize = 100000
)

// Options configure a Writer. Only Collection is required (and SpillPath in
// ModeBuffer).
type Options struct {
	// Collection receives the entries.
	Collection *store.Collection
	// Mode is ModeFailClosed when empty.
	Mode Mode
	// QueueSize bounds the entries held in memory, counting operations that
	// have begun but not finished: when it is reached, Begin and Record wait
	// for room (back-pressure) instead of growing memory. 0 sizes it by
	// throughput (QueueWindow).
	QueueSize int
	// MaxInFlight is how many batch inserts run at once. Entries are hashed
	// into the chain when they are queued, so batches can be stored in any
	// order; they leave the queue in chain order.
	MaxInFlight int
	// MaxWait bounds how long Begin and Record wait for room in a full queue
	// (the request's context may end the wait sooner). A healthy store frees
	// room within one insert; a wait this long means the store cannot keep
	// up, and the operation is refused. It bounds Op.Wait too. 2×WriteTimeout
	// when 0.
	MaxWait time.Duration
	// BatchSize is the most entries written by one insert; a full batch
	// is written at once, a partial one as soon as no insert runs (or after
	// FlushInterval on a free slot while another one runs).
	BatchSize int
	// FlushInterval is how long a partial batch waits for more entries on a
	// free insert slot while another insert runs (group commit); with no
	// insert running it does not wait.
	FlushInterval time.Duration
	// WriteTimeout bounds one batch insert.
	WriteTimeout time.Duration
	// RetryMin and RetryMax bound the exponential backoff between attempts
	// while MongoDB fails.
	RetryMin, RetryMax time.Duration
	// SpillPath is the local NDJSON file of ModeBuffer. In ModeFailClosed it
	// is optional: when set, entries that could not be written before Close
	// gave up are saved there instead of lost, and replayed at the next
	// start. Two processes must not share one path.
	SpillPath string
	// MaxSpillBytes bounds the spill file; past it the Writer stops
	// accepting operations as in ModeFailClosed.
	MaxSpillBytes int64
	// Registerer receives the metrics (pm_audit_*); nil registers nothing.
	Registerer prometheus.Registerer
	// Logger receives write failures; slog.Default when nil. Entries are
	// never logged, only counts and ids.
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

func (o *Options) defaults() error {
	if o.Collection == nil {
		return errors.New("audit: Options.Collection is required")
	}
	switch o.Mode {
	case "":
		o.Mode = ModeFailClosed
	case ModeFailClosed:
	case ModeBuffer:
		if o.SpillPath == "" {
			return errors.New("audit: buffer mode needs Options.SpillPath")
		}
	default:
		return fmt.Errorf("audit: unknown mode %q (want %q or %q)", o.Mode, ModeFailClosed, ModeBuffer)
	}
	if o.QueueSize < 0 {
		o.QueueSize = 0
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.QueueSize > 0 {
		o.BatchSize = min(o.BatchSize, o.QueueSize)
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 2 * o.WriteTimeout
	}
	if o.RetryMin <= 0 {
		o.RetryMin = DefaultRetryMin
	}
	if o.RetryMax < o.RetryMin {
		o.RetryMax = max(DefaultRetryMax, o.RetryMin)
	}
	if o.MaxSpillBytes <= 0 {
		o.MaxSpillBytes = DefaultMaxSpillBytes
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}
