package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/permission-mongo/permission-mongo/internal/audit"
	"github.com/permission-mongo/permission-mongo/internal/config"
	"github.com/permission-mongo/permission-mongo/internal/webhook"
)

// startWebhooks prepares the outbox and starts this process's delivery
// loop, whose attempts go to aw (the audit writer; nil: not audited), and
// the outbox's retention: TTL indexes where the backend has them, else a
// periodic sweep. Every proxy runs one loop; the outbox's claims make each
// event go out from one process at a time. The returned stop waits for
// the loops.
func startWebhooks(ctx context.Context, cfg config.Webhooks, db *mongo.Database, logger *slog.Logger, aw *audit.Writer) (func(), error) {
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
	if aw != nil {
		d.Audit = aw
	}
	runCtx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); d.Run(runCtx) }()
	if !ttl {
		logger.Info("webhook outbox: the backend has no TTL indexes; retention runs as a periodic delete",
			"retention", cfg.Retention, "claims_retention", cfg.ClaimsRetention, "every", cfg.SweepEvery)
		wg.Add(1)
		go func() { defer wg.Done(); webhook.RunSweeps(runCtx, coll, keep, cfg.SweepEvery, logger) }()
	}
	return func() { cancel(); wg.Wait() }, nil
}
