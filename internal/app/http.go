package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/permission-mongo/permission-mongo/internal/api"
	"github.com/permission-mongo/permission-mongo/internal/config"
)

// corsOf is the api form of the cors section.
func corsOf(c config.CORS) api.CORS {
	return api.CORS{
		AllowedOrigins:   c.AllowedOrigins,
		AllowedHeaders:   c.AllowedHeaders,
		AllowCredentials: c.AllowCredentials,
		MaxAge:           c.MaxAge,
	}
}

// accessLogOf is the api form of the access_log section; nil when off.
func accessLogOf(c config.AccessLog, logger *slog.Logger) *api.AccessLog {
	if !c.Enabled {
		return nil
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level)) // validated by config
	return &api.AccessLog{Logger: logger, Level: level, SampleEvery: c.SampleEvery}
}

// Serve runs the HTTP server on cfg.Listen until ctx ends, then drains it.
// SIGHUP reloads the policies: a set that fails to load is reported and the
// running one kept. ready, when set, is called with the bound address once
// listening.
func (a *App) Serve(ctx context.Context, ready func(addr string)) error {
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", a.cfg.Listen, err)
	}
	srv := &http.Server{
		Handler:           a.api,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      a.cfg.Limits.QueryTimeout + 30*time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				// Logged by the reload, including a refusal.
				_, _ = a.Reload(ctx, "signal")
			}
		}
	}()

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	a.log.Info("listening", "addr", ln.Addr().String())
	if ready != nil {
		ready(ln.Addr().String())
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
