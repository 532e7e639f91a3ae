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

	"github.com/permission-mongo/permission-mongo/internal/store"
	"github.com/permission-mongo/permission-mongo/internal/webhook"
)

// startWebhooks prepares the outbox and starts this process's delivery
// loop. Every proxy runs one; the outbox's claims make each event go out
// from one process at a time. The returned stop waits for the loop.
func startWebhooks(ctx context.Context, db *store.Database, logger *slog.Logger) (*webhook.Outbox, func(), error) {
	coll := db.Collection(webhook.Collection)
	if err := webhook.EnsureIndexes(ctx, coll); err != nil {
		return nil, nil, fmt.Errorf("webhook outbox: %w", err)
	}
	host, _ := os.Hostname()
	d := &webhook.Deliverer{
		Coll:   coll,
		Client: &http.Client{Timeout: 10 * time.Second},
		Owner:  fmt.Sprintf("%s/%d/%s", host, os.Getpid(), bson.NewObjectID().Hex()),
		Log:    logger,
	}
	runCtx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); d.Run(runCtx) }()
	return webhook.NewOutbox(coll), func() { cancel(); wg.Wait() }, nil
}
