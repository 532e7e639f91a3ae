package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/audit"
	"github.com/permission-mongo/permission-mongo/internal/config"
	"github.com/permission-mongo/permission-mongo/internal/store"
	"github.com/permission-mongo/permission-mongo/internal/webhook"
)

// webhookRuntime is the outbox the service writes change events to, this
// process's delivery loop and the outbox's retention: TTL indexes where the
// backend has them, else a periodic sweep. Every proxy runs one loop; the
// outbox's claims make each event go out from one process at a time.
type webhookRuntime struct {
	cfg       config.Webhooks
	coll      *store.Collection
	keep      webhook.Retention
	ttl       bool // retention by TTL indexes; false: this process sweeps
	log       *slog.Logger
	outbox    *webhook.Outbox
	deliverer *webhook.Deliverer
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

// newWebhooks prepares the outbox (its indexes and retention) and the
// deliverer. Events are enqueued from the first request; the delivery loop
// starts with Start, once the audit writer that records its attempts is up.
func newWebhooks(ctx context.Context, cfg config.Webhooks, db *store.Database, logger *slog.Logger) (*webhookRuntime, error) {
	coll := db.Collection(webhook.Collection)
	if err := webhook.EnsureIndexes(ctx, coll); err != nil {
		return nil, fmt.Errorf("webhook outbox: %w", err)
	}
	keep := webhook.Retention{Delivered: cfg.Retention, Claims: cfg.ClaimsRetention}
	ttl, err := webhook.EnsureRetention(ctx, coll, keep)
	if err != nil {
		return nil, fmt.Errorf("webhook outbox retention: %w", err)
	}
	host, _ := os.Hostname()
	base := cfg.RetryBase
	d := &webhook.Deliverer{
		Coll:        coll,
		Client:      &http.Client{Timeout: cfg.Timeout},
		Owner:       fmt.Sprintf("%s/%d/%s", host, os.Getpid(), bson.NewObjectID().Hex()),
		MaxAttempts: cfg.MaxAttempts,
		Backoff: func(n int) time.Duration {
			return min(base<<min(n-1, 20), time.Hour)
		},
		Log: logger,
	}
	return &webhookRuntime{cfg: cfg, coll: coll, keep: keep, ttl: ttl, log: logger,
		outbox: webhook.NewOutbox(coll), deliverer: d}, nil
}

// start runs the delivery loop (its attempts audited by aw; nil: not
// audited) and, without TTL indexes, the retention sweep, until close,
// which waits for them.
func (w *webhookRuntime) start(aw *audit.Writer) {
	if aw != nil {
		w.deliverer.Audit = aw
	}
	runCtx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	w.wg.Add(1)
	go func() { defer w.wg.Done(); w.deliverer.Run(runCtx) }()
	if !w.ttl {
		w.log.Info("webhook outbox: the backend has no TTL indexes; retention runs as a periodic delete",
			"retention", w.cfg.Retention, "claims_retention", w.cfg.ClaimsRetention, "every", w.cfg.SweepEvery)
		w.wg.Add(1)
		go func() { defer w.wg.Done(); webhook.RunSweeps(runCtx, w.coll, w.keep, w.cfg.SweepEvery, w.log) }()
	}
}

func (w *webhookRuntime) close() {
	if w != nil && w.cancel != nil {
		w.cancel()
		w.wg.Wait()
	}
}
