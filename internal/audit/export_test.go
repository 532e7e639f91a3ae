package audit

// SpillErrors counts the failed attempts to move the queue to the spill
// file: how often a Writer in ModeBuffer retried a spill that fails.
func SpillErrors(w *Writer) int64 { return w.stats.spillErrors.Load() }

// Sleeping reports whether the flush loop is waiting for its next attempt
// with nothing to wake it but the timer, Close or abort.
func Sleeping(w *Writer) bool { return w.stats.sleeping.Load() }
