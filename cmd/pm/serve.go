package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/permission-mongo/permission-mongo/internal/app"
	"github.com/permission-mongo/permission-mongo/internal/config"
)

func init() {
	commands["serve"] = command{
		summary: "run the proxy with a configuration file",
		run:     runServe,
	}
}

// runServe implements `pm serve --config FILE`.
func runServe(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("pm serve", "[--config FILE]", stderr)
	cfgPath := fs.String("config", "", "configuration file (YAML); PM_* variables override it")
	if code, stop := parseNoArgs(fs, args); stop {
		return code
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "pm serve: configuration:\n%v\n", err)
		return exitFail
	}
	logger := newLogger(cfg.Log, stderr)
	if path := os.Getenv("PM_CPU_PROFILE"); path != "" {
		// For benchmarks/: the proxy's own profile under a real load, written
		// when it stops (SIGTERM).
		f, err := os.Create(path) //nolint:gosec // G304: the operator names the file, as with the config file
		if err != nil {
			fmt.Fprintf(stderr, "pm serve: PM_CPU_PROFILE: %v\n", err)
			return exitFail
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "pm serve: PM_CPU_PROFILE: %v\n", err)
			return exitFail
		}
		defer func() { pprof.StopCPUProfile(); _ = f.Close() }()
	}
	if cfg.CursorSecretGenerated {
		logger.Warn("cursor_secret is not set: generated one; cursors will not survive a restart or work across several proxies")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := app.New(ctx, cfg, app.Options{Logger: logger})
	if err != nil {
		fmt.Fprintf(stderr, "pm serve: %v\n", err)
		return exitFail
	}
	defer a.Close()
	a.Start(ctx)
	if err := a.Serve(ctx, nil); err != nil {
		fmt.Fprintf(stderr, "pm serve: %v\n", err)
		return exitFail
	}
	return exitOK
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// baseURL turns a listen address into a URL for the printed examples.
func baseURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return "http://" + host + ":" + port
}
