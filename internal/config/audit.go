package config

import (
	"slices"
	"strings"
	"time"
)

// Audit configures the audit log (docs/audit.md).
type Audit struct {
	// Mode is what happens when entries cannot be written to MongoDB:
	// fail_closed (refuse requests with 503 until audit works again, the
	// default) or buffer (spill to SpillPath and replay later).
	Mode string `yaml:"mode"`
	// SpillPath is the local file of buffer mode. Optional in fail_closed,
	// where it keeps entries that could not be stored before shutdown.
	SpillPath string `yaml:"spill_path"`
	// Retention is how long entries are kept (0: forever). A TTL index on
	// MongoDB; a periodic delete on backends without TTL indexes (FerretDB).
	Retention time.Duration `yaml:"retention"`
	// Collection receives the entries. It must start with "pm_", so that the
	// document API can never reach it.
	Collection string `yaml:"collection"`
	// QueueSize bounds the entries held in memory (and operations running);
	// when it is reached, requests wait for room. 0 (the default) sizes it by
	// the audit store's measured throughput (about two seconds of writes).
	QueueSize int `yaml:"queue_size"`
}

// Versions configures document versions (docs/audit.md, "Versions").
type Versions struct {
	// Collections lists the versioned collections; All versions every one.
	Collections []string `yaml:"collections"`
	All         bool     `yaml:"all"`
	// Keep bounds the versions kept per document (0: all).
	Keep int `yaml:"keep"`
	// Retention drops versions older than this (0: never), by a TTL index;
	// backends without TTL indexes keep versions by count (Keep) only.
	Retention time.Duration `yaml:"retention"`
	// Collection holds the versions; it must start with "pm_".
	Collection string `yaml:"collection"`
}

// Enabled reports whether any collection is versioned.
func (v Versions) Enabled() bool { return v.All || len(v.Collections) > 0 }

// Audit modes.
const (
	AuditFailClosed = "fail_closed"
	AuditBuffer     = "buffer"
)

// DefaultAudit is the audit part of Default().
func DefaultAudit() Audit {
	return Audit{Mode: AuditFailClosed, Collection: "pm_audit", QueueSize: 0}
}

// DefaultVersions is the versions part of Default(): nothing versioned.
func DefaultVersions() Versions {
	return Versions{Collection: "pm_versions"}
}

// retentionProblems checks a maximum age: 0 turns expiry off, a negative one
// means nothing, and one under a second is almost always a bare number that
// YAML handed over as nanoseconds.
func retentionProblems(bad func(path, format string, args ...any), key string, d time.Duration, kept, example string) {
	if d < 0 {
		bad(key, "must not be negative (0 keeps %s forever)", kept)
	} else if d > 0 && d < time.Second {
		bad(key, "%s is too short; durations need a unit, e.g. %s", d, example)
	}
}

// ownCollectionName reports whether name can hold one of the proxy's own
// collections: the pm_ prefix is what keeps it out of the document API's
// reach, and the rest is what MongoDB accepts as a collection name.
func ownCollectionName(name string) bool {
	return strings.HasPrefix(name, "pm_") && len(name) <= 120 && !strings.ContainsAny(name, "$\x00 ")
}

func (c *Config) auditProblems(bad func(path, format string, args ...any)) {
	a := c.Audit
	switch a.Mode {
	case AuditFailClosed:
	case AuditBuffer:
		if a.SpillPath == "" {
			bad("audit.spill_path", "is required when audit.mode is %q", AuditBuffer)
		}
	default:
		bad("audit.mode", "%q is not one of %s, %s", a.Mode, AuditFailClosed, AuditBuffer)
	}
	retentionProblems(bad, "audit.retention", a.Retention, "entries", "2160h")
	if !ownCollectionName(a.Collection) {
		bad("audit.collection", "%q must start with pm_ (the proxy's own collections are out of the document API's reach)", a.Collection)
	}
	if a.QueueSize < 0 {
		bad("audit.queue_size", "must not be negative (0 sizes the queue by throughput)")
	}

	v := c.Versions
	if v.Keep < 0 {
		bad("versions.keep", "must not be negative (0 keeps every version)")
	}
	retentionProblems(bad, "versions.retention", v.Retention, "versions", "720h")
	if !ownCollectionName(v.Collection) {
		bad("versions.collection", "%q must start with pm_", v.Collection)
	}
	if v.Collection == a.Collection {
		bad("versions.collection", "must differ from audit.collection")
	}
	if v.All && len(v.Collections) > 0 {
		bad("versions.collections", "is set together with versions.all; set one")
	}
	for i, name := range v.Collections {
		if name == "" || strings.HasPrefix(strings.ToLower(name), "pm_") || slices.Contains(v.Collections[:i], name) {
			bad("versions.collections", "%q is empty, reserved (pm_) or listed twice", name)
		}
	}
}
