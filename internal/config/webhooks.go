package config

import "time"

// Webhooks configures the delivery of change events and the cleanup of the
// outbox (docs/webhooks.md).
type Webhooks struct {
	// Timeout bounds one delivery attempt.
	Timeout time.Duration `yaml:"timeout"`
	// MaxAttempts is how many attempts an event gets before it is dead.
	MaxAttempts int `yaml:"max_attempts"`
	// RetryBase is the wait before the first retry; each next one doubles
	// it, up to an hour.
	RetryBase time.Duration `yaml:"retry_base"`
	// Retention is how long delivered events are kept (0: forever). Dead
	// events are kept until an admin redelivers them.
	Retention time.Duration `yaml:"retention"`
	// ClaimsRetention is how long the delivery claims are kept. A claim is
	// needed for one lease window (a minute); older ones only take room.
	ClaimsRetention time.Duration `yaml:"claims_retention"`
	// SweepEvery is how often the proxy deletes what retention allows, on
	// backends without TTL indexes (FerretDB v1).
	SweepEvery time.Duration `yaml:"sweep_every"`
}

// DefaultWebhooks is the webhooks part of Default().
func DefaultWebhooks() Webhooks {
	return Webhooks{
		Timeout: 10 * time.Second, MaxAttempts: 10, RetryBase: time.Second,
		Retention: 7 * 24 * time.Hour, ClaimsRetention: 10 * time.Minute, SweepEvery: 10 * time.Minute,
	}
}

// minClaimsRetention keeps a claim past the two lease windows it can
// matter in (webhook.Deliverer.Lease is one minute).
const minClaimsRetention = 2 * time.Minute

func (c *Config) webhookProblems(bad func(path, format string, args ...any)) {
	w := c.Webhooks
	if w.Timeout < 100*time.Millisecond || w.Timeout > 50*time.Second {
		// Under the one-minute lease: an attempt always ends while its
		// process still holds the event.
		bad("webhooks.timeout", "%s must be between 100ms and 50s", w.Timeout)
	}
	if w.MaxAttempts < 1 || w.MaxAttempts > 100 {
		bad("webhooks.max_attempts", "%d must be between 1 and 100", w.MaxAttempts)
	}
	if w.RetryBase < 0 || w.RetryBase > time.Hour {
		bad("webhooks.retry_base", "%s must be between 0 and 1h", w.RetryBase)
	}
	if w.Retention < 0 {
		bad("webhooks.retention", "must not be negative (0 keeps delivered events forever)")
	} else if w.Retention > 0 && w.Retention < time.Second {
		bad("webhooks.retention", "%s is too short; durations need a unit, e.g. 168h", w.Retention)
	}
	if w.ClaimsRetention < minClaimsRetention {
		bad("webhooks.claims_retention", "%s is shorter than %s (two delivery leases)", w.ClaimsRetention, minClaimsRetention)
	}
	if w.SweepEvery < time.Second {
		bad("webhooks.sweep_every", "%s is too short; durations need a unit, e.g. 10m", w.SweepEvery)
	}
}
