package app

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/audit"
	"github.com/permission-mongo/permission-mongo/internal/config"
	"github.com/permission-mongo/permission-mongo/internal/service"
	"github.com/permission-mongo/permission-mongo/internal/store"
	"github.com/permission-mongo/permission-mongo/internal/versions"
)

// auditRuntime is the audit writer of a running proxy, and the retention
// job on backends without TTL indexes.
type auditRuntime struct {
	writer *audit.Writer
	coll   *store.Collection
	log    *slog.Logger
	// expire: retention is a periodic delete (no TTL indexes).
	expire    bool
	retention time.Duration
	// stop and done: the retention loop, when start ran it.
	stop context.CancelFunc
	done chan struct{}
	// closeOnce: App.CloseAudit may close before App.Close.
	closeOnce sync.Once
}

// auditExpireEvery is how often retention runs on backends without TTL
// indexes.
const auditExpireEvery = time.Hour

// auditCloseTimeout bounds the final flush at shutdown; entries still in
// memory then go to audit.spill_path when set.
const auditCloseTimeout = 30 * time.Second

// newAudit creates the audit collection's indexes and the writer (which
// takes entries from then on). On a backend without TTL indexes (FerretDB)
// retention is a periodic audit.Expire instead, run from start, and the
// log says so. adjust, when set, has the last word on the writer's options.
func newAudit(ctx context.Context, cfg *config.Config, db *store.Database, logger *slog.Logger, reg prometheus.Registerer, adjust func(*audit.Options)) (*auditRuntime, error) {
	coll := db.Collection(cfg.Audit.Collection)
	expire := false
	if err := audit.EnsureIndexes(ctx, coll, cfg.Audit.Retention); err != nil {
		if apperr.KindOf(err) != apperr.KindNotSupported {
			return nil, fmt.Errorf("audit indexes: %w", err)
		}
		logger.Warn("audit: the backend has no TTL indexes; retention runs as a periodic delete",
			"retention", cfg.Audit.Retention, "every", auditExpireEvery)
		expire = cfg.Audit.Retention > 0
	}
	opts := audit.Options{
		Collection: coll,
		Mode:       audit.Mode(cfg.Audit.Mode),
		QueueSize:  cfg.Audit.QueueSize,
		SpillPath:  cfg.Audit.SpillPath,
		Logger:     logger,
	}
	if reg != nil {
		opts.Registerer = reg
	}
	if adjust != nil {
		adjust(&opts)
	}
	w, err := audit.NewWriter(opts)
	if err != nil {
		return nil, fmt.Errorf("audit writer: %w", err)
	}
	rt := &auditRuntime{writer: w, coll: opts.Collection, log: logger, expire: expire, retention: cfg.Audit.Retention}
	logger.Info("audit", "mode", opts.Mode, "collection", opts.Collection.Name(), "writer", w.ID(), "retention", cfg.Audit.Retention)
	return rt, nil
}

// start runs retention (on backends without TTL indexes) until close.
func (rt *auditRuntime) start(ctx context.Context) {
	if rt == nil || !rt.expire {
		return
	}
	var runCtx context.Context
	runCtx, rt.stop = context.WithCancel(context.WithoutCancel(ctx))
	rt.done = make(chan struct{})
	go rt.expireLoop(runCtx, rt.retention)
}

func (rt *auditRuntime) expireLoop(ctx context.Context, retention time.Duration) {
	defer close(rt.done)
	t := time.NewTicker(auditExpireEvery)
	defer t.Stop()
	for {
		n, err := audit.Expire(ctx, rt.coll, time.Now().Add(-retention))
		if err != nil {
			rt.log.Error("audit retention failed", "err", err)
		} else if n > 0 {
			rt.log.Info("audit retention", "deleted", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// close flushes every entry and stops the writer. It runs after the HTTP
// server has stopped taking requests (App.Serve returns after Shutdown), so
// nothing is begun after it; what is still in memory after
// auditCloseTimeout goes to the spill file when one is configured. The chain
// heads are logged as anchors outside the database (audit.Writer.Heads).
func (rt *auditRuntime) close() {
	if rt == nil {
		return
	}
	rt.closeOnce.Do(rt.closeNow)
}

func (rt *auditRuntime) closeNow() {
	ctx, cancel := context.WithTimeout(context.Background(), auditCloseTimeout)
	defer cancel()
	if err := rt.writer.Close(ctx); err != nil {
		rt.log.Error("audit: not every entry was stored at shutdown", "err", err)
	}
	for _, h := range rt.writer.Heads() {
		rt.log.Info("audit chain head", "chain", h.Chain, "head_seq", h.Seq, "head_hash", h.Hash)
	}
	st := rt.writer.Stats()
	rt.log.Info("audit closed", "writer", rt.writer.ID(),
		"written", st.Written, "spilled", st.Spilled, "lost", st.Lost)
	if rt.stop != nil {
		rt.stop()
		<-rt.done
	}
}

// writerOf is the writer, nil when audit did not start.
func (rt *auditRuntime) writerOf() *audit.Writer {
	if rt == nil {
		return nil
	}
	return rt.writer
}

// newVersions prepares the versions collection when any collection is
// versioned (nil otherwise). Without TTL indexes, versions are bounded by
// versions.keep only.
func newVersions(ctx context.Context, cfg *config.Config, db *store.Database, logger *slog.Logger) (*service.Versioning, error) {
	v := cfg.Versions
	if !v.Enabled() {
		return nil, nil
	}
	st := &versions.Store{Coll: db.Collection(v.Collection), Keep: v.Keep}
	ttl, err := st.EnsureIndexes(ctx, v.Retention)
	if err != nil {
		return nil, fmt.Errorf("versions indexes: %w", err)
	}
	if v.Retention > 0 && !ttl {
		logger.Warn("versions: the backend has no TTL indexes; versions are bounded by versions.keep only", "keep", v.Keep)
	}
	logger.Info("versions", "all", v.All, "collections", v.Collections, "keep", v.Keep, "retention", v.Retention)
	return &service.Versioning{Store: st, All: v.All, Collections: append([]string(nil), v.Collections...)}, nil
}
