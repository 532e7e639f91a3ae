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

	"github.com/permission-mongo/permission-mongo/internal/store"
	"github.com/permission-mongo/permission-mongo/internal/webhook"
)

// webhookRuntime is the outbox the service writes change events to and
// this process's delivery loop. Every proxy runs one; the outbox's claims
// make each event go out from one process at a time.
type webhookRuntime struct {
	outbox    *webhook.Outbox
	deliverer *webhook.Deliverer
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

// newWebhooks prepares the outbox (its indexes) and the deliverer.
func newWebhooks(ctx context.Context, db *store.Database, logger *slog.Logger) (*webhookRuntime, error) {
	coll := db.Collection(webhook.Collection)
	if err := webhook.EnsureIndexes(ctx, coll); err != nil {
		return nil, fmt.Errorf("webhook outbox: %w", err)
	}
	host, _ := os.Hostname()
	d := &webhook.Deliverer{
		Coll:   coll,
		Client: &http.Client{Timeout: 10 * time.Second},
		Owner:  fmt.Sprintf("%s/%d/%s", host, os.Getpid(), bson.NewObjectID().Hex()),
		Log:    logger,
	}
	return &webhookRuntime{outbox: webhook.NewOutbox(coll), deliverer: d}, nil
}

// start runs the delivery loop until close, which waits for it.
func (w *webhookRuntime) start() {
	runCtx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	w.wg.Add(1)
	go func() { defer w.wg.Done(); w.deliverer.Run(runCtx) }()
}

func (w *webhookRuntime) close() {
	if w != nil && w.cancel != nil {
		w.cancel()
		w.wg.Wait()
	}
}
