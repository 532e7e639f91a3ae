// Package certreload serves TLS with a certificate and key read from files,
// and reads them again when they change, so that a renewed certificate
// (cert-manager, certbot, a rotated secret) is served without a restart.
//
// The files are checked lazily: a handshake that comes at least Interval
// after the previous check reads both files, and if either differs from
// what is loaded, parses the pair and swaps it in. A pair that does not
// parse — typically the moment between writing the new certificate and
// its key — is logged and the previous certificate kept; the next check
// tries again. There is no goroutine to start or stop.
package certreload

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/permission-mongo/permission-mongo/internal/config"
)

// DefaultInterval is how often the files are looked at when Interval is 0.
const DefaultInterval = 10 * time.Second

// Reloader holds the current certificate.
type Reloader struct {
	certFile, keyFile string
	interval          time.Duration
	now               func() time.Time
	log               *slog.Logger

	cur atomic.Pointer[loaded]

	mu        sync.Mutex // serializes checks; handshakes never wait on it
	lastCheck time.Time
	reloads   atomic.Int64
}

type loaded struct {
	cert            *tls.Certificate
	certPEM, keyPEM []byte
}

// Options tune a Reloader; the zero value is fine.
type Options struct {
	// Interval is the least time between two looks at the files.
	Interval time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives reloads and failed reloads; nil discards them.
	Logger *slog.Logger
}

// New loads the pair once; an error here is a startup error.
func New(certFile, keyFile string, o Options) (*Reloader, error) {
	if o.Interval < 0 {
		return nil, errors.New("certreload: interval must not be negative")
	}
	if o.Interval == 0 {
		o.Interval = DefaultInterval
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Reloader{certFile: certFile, keyFile: keyFile, interval: o.Interval, now: o.Now, log: o.Logger}
	l, err := r.read()
	if err != nil {
		return nil, err
	}
	r.cur.Store(l)
	r.lastCheck = r.now()
	return r, nil
}

func (r *Reloader) read() (*loaded, error) {
	certPEM, err := os.ReadFile(r.certFile)
	if err != nil {
		return nil, fmt.Errorf("tls certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(r.keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls key: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// The error names what is wrong with the pair, never key bytes.
		return nil, fmt.Errorf("tls certificate and key: %w", err)
	}
	return &loaded{cert: &cert, certPEM: certPEM, keyPEM: keyPEM}, nil
}

// Reload reads the files now (for SIGHUP). On error the current
// certificate stays. A nil Reloader (no TLS) has nothing to reload.
func (r *Reloader) Reload() error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reloadLocked()
}

func (r *Reloader) reloadLocked() error {
	r.lastCheck = r.now()
	cur := r.cur.Load()
	certPEM, err1 := os.ReadFile(r.certFile)
	keyPEM, err2 := os.ReadFile(r.keyFile)
	if err1 == nil && err2 == nil && bytes.Equal(certPEM, cur.certPEM) && bytes.Equal(keyPEM, cur.keyPEM) {
		return nil // unchanged: the common case costs two small reads
	}
	l, err := r.read()
	if err != nil {
		r.log.Warn("tls certificate not reloaded; still serving the previous one", "cert_file", r.certFile, "error", err)
		return err
	}
	r.cur.Store(l)
	r.reloads.Add(1)
	r.log.Info("tls certificate reloaded", "cert_file", r.certFile, "not_after", l.cert.Leaf.NotAfter)
	return nil
}

// Reloads counts the certificates swapped in since New.
func (r *Reloader) Reloads() int64 { return r.reloads.Load() }

// GetCertificate is the tls.Config hook.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	// TryLock: while one handshake reads the files, the others are served
	// the current certificate instead of queueing behind the disk.
	if r.mu.TryLock() {
		if r.now().Sub(r.lastCheck) >= r.interval {
			_ = r.reloadLocked()
		}
		r.mu.Unlock()
	}
	return r.cur.Load().cert, nil
}

// TLSConfig is a server configuration serving r's certificate, TLS 1.2 at
// least.
func (r *Reloader) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.GetCertificate, NextProtos: []string{"h2", "http/1.1"}}
}

// Listen is what the server calls on the listener it made: ln unchanged
// and a nil Reloader when server.tls is off, else a TLS listener serving the
// configured files. On error ln is closed.
func Listen(ln net.Listener, t config.TLS, logger *slog.Logger) (net.Listener, *Reloader, error) {
	if !t.Enabled() {
		return ln, nil, nil
	}
	tl, r, err := Wrap(ln, t.CertFile, t.KeyFile, Options{Interval: t.ReloadInterval, Logger: logger})
	if err != nil {
		_ = ln.Close()
		return nil, nil, fmt.Errorf("server.tls: %w", err)
	}
	return tl, r, nil
}

// Wrap turns a plain listener into a TLS one serving the files' pair.
func Wrap(ln net.Listener, certFile, keyFile string, o Options) (net.Listener, *Reloader, error) {
	r, err := New(certFile, keyFile, o)
	if err != nil {
		return nil, nil, err
	}
	return tls.NewListener(ln, r.TLSConfig()), r, nil
}
