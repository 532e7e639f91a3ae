package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// Embedded is a FerretDB server running in this process on the SQLite
// backend. It exists so that the product can be tried and tested without a
// MongoDB server; production points at MongoDB instead.
type Embedded struct {
	uri    string
	cancel context.CancelFunc
	done   chan struct{}
	// indexed is closed when the _id lookup indexer (embedded_index.go)
	// has stopped and closed its connections to the files.
	indexed chan struct{}
	once    sync.Once

	dir    string
	mu     sync.Mutex
	orders []*IDOrder // closed with the server
}

// newMu serializes ferretdb.New, which writes a package-level variable
// (version.Get().Package) without a lock: two servers started at once, as
// parallel tests do, are a data race otherwise.
var newMu sync.Mutex

// StartEmbedded starts FerretDB on SQLite files under dir (created when
// missing), listening on a free loopback port, and returns once it answers a
// ping. ctx bounds the start only; the server runs until Close.
//
// FerretDB logs every connection and command at INFO and DEBUG, which would
// drown the proxy's own logs, so only its warnings and errors reach logger
// (slog.Default when nil).
func StartEmbedded(ctx context.Context, dir string, logger *slog.Logger) (*Embedded, error) {
	if dir == "" {
		return nil, errors.New("store: embedded FerretDB needs a data directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("store: embedded data directory: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("store: embedded data directory: %w", err)
	}
	if logger == nil {
		logger = slog.Default()
	}
	logger = slog.New(minLevel{h: logger.Handler(), min: slog.LevelWarn}).With("component", "ferretdb")

	// FerretDB wants a "file:" URI naming a directory with a trailing slash;
	// building it with net/url escapes paths with spaces or '?'.
	sqliteURL := (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs) + "/", OmitHost: true}).String()
	newMu.Lock()
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Handler:   "sqlite",
		SQLiteURL: sqliteURL,
		Logger:    logger,
	})
	newMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("store: start embedded FerretDB: %w", err)
	}

	// The server must outlive ctx (often a start-up timeout) but keep its values.
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e := &Embedded{cancel: cancel, done: make(chan struct{}), indexed: make(chan struct{}), dir: abs}
	go func() {
		defer close(e.done)
		_ = f.Run(runCtx) // always nil; it returns when runCtx is canceled
	}()
	go func() {
		defer close(e.indexed)
		newIDIndexer(abs, logger).run(runCtx)
	}()
	// The listener is bound inside New, so the address is known already.
	e.uri = f.MongoDBURI()

	if err := e.waitReady(ctx); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// waitReady pings until the server answers a command, so that callers never
// race the accept loop or the SQLite backend's first open.
func (e *Embedded) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var last error
	for {
		client, err := Connect(ctx, e.uri)
		if err == nil {
			dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_ = client.Disconnect(dctx)
			dcancel()
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("store: embedded FerretDB did not become ready: %w", last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// URI is the mongodb:// URI of the running server.
func (e *Embedded) URI() string { return e.uri }

// Close stops the server and waits until its listener, connections and
// SQLite files are closed, so that the data directory can be removed after.
// It is safe to call more than once.
func (e *Embedded) Close() {
	e.once.Do(func() {
		e.mu.Lock()
		for _, o := range e.orders {
			o.close()
		}
		e.mu.Unlock()
		e.cancel()
		<-e.indexed
		<-e.done
	})
}

// minLevel drops records below min, and FerretDB's dumps of failed
// responses. slog has no built-in way to raise the level of an existing
// handler.
//
// FerretDB logs every response with ok:0 at WARN, header and full body. The
// same error already reaches the proxy through the driver, where it is
// translated and logged once; the dump would add noise for every duplicate
// key or unsupported stage, and it contains document values, which do not
// belong in logs. It has no attribute to filter on, hence the prefix match.
type minLevel struct {
	h   slog.Handler
	min slog.Level
}

func (m minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.min && m.h.Enabled(ctx, l)
}

func (m minLevel) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelError &&
		(strings.HasPrefix(r.Message, "Response header: ") || strings.HasPrefix(r.Message, "Response message:")) {
		return nil
	}
	return m.h.Handle(ctx, r)
}

func (m minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{h: m.h.WithAttrs(as), min: m.min}
}

func (m minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h: m.h.WithGroup(name), min: m.min}
}
