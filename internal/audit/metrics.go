package audit

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// register exports the Writer's counters. They are read from the same
// atomics as Stats, so the two never disagree. No metric has labels: a
// label from a request (collection, actor) would put client data in the
// metrics and let clients multiply the series.
func (w *Writer) register(r prometheus.Registerer) error {
	counter := func(name, help string, v func() int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v()) })
	}
	gauge := func(name, help string, v func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, v)
	}
	cs := []prometheus.Collector{
		counter("pm_audit_entries_written_total", "Audit entries stored in MongoDB (replayed ones included).", w.stats.written.Load),
		counter("pm_audit_entries_spilled_total", "Audit entries appended to the local spill file.", w.stats.spilled.Load),
		counter("pm_audit_entries_replayed_total", "Audit entries moved from the spill file to MongoDB.", w.stats.replayed.Load),
		counter("pm_audit_refused_total", "Operations refused because audit was unavailable, closing, or its queue stayed full past the wait.", w.stats.refused.Load),
		counter("pm_audit_write_errors_total", "Failed batch inserts of audit entries.", w.stats.writeErrors.Load),
		counter("pm_audit_entries_lost_total", "Audit entries neither stored nor saved (should stay 0).", w.stats.lost.Load),
		counter("pm_audit_spill_corrupt_lines_total", "Unreadable spill file lines skipped on replay (should stay 0).", w.stats.corrupt.Load),
		counter("pm_audit_unconfirmed_total", "Operations answered before their audit entry was durable because the store did not take it within the wait (should stay 0).", w.stats.unconfirmed.Load),
		counter("pm_audit_waits_total", "Operations that found the audit queue full and waited for room (back-pressure).", w.stats.waited.Load),
		gauge("pm_audit_queue_depth", "Audit entries in memory, not yet stored.", func() float64 { return float64(w.stats.queueDepth.Load()) }),
		gauge("pm_audit_queue_capacity", "Bound of the audit queue (fixed, or sized by the store's measured throughput).", func() float64 { return float64(w.stats.queueCapacity.Load()) }),
		gauge("pm_audit_spill_bytes", "Bytes of the spill file not yet replayed.", func() float64 { return float64(w.stats.spillBytes.Load()) }),
		gauge("pm_audit_available", "1 while audit accepts operations, 0 while it refuses them.", func() float64 {
			if w.stats.available.Load() {
				return 1
			}
			return 0
		}),
		w.latency,
	}
	var done []prometheus.Collector
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			for _, d := range done {
				r.Unregister(d)
			}
			return errors.Join(errors.New("audit: register metrics"), err)
		}
		done = append(done, c)
	}
	return nil
}
