package testenv

import (
	"context"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/permission-mongo/permission-mongo/internal/store"
)

// Outage is an embedded MongoDB-compatible server that a test can stop and
// start again on the same data directory, to prove what happens while a
// dependency is down. The embedded server picks a new port at every start,
// so clients reach it through a TCP forwarder on a fixed loopback address,
// as they would reach a database behind a fixed address.
type Outage struct {
	t      testing.TB
	dir    string
	server *store.Embedded
	proxy  *forwarder
	// Client is connected through the fixed address.
	Client *mongo.Client
}

// NewOutage starts the server and connects Client to it.
func NewOutage(t testing.TB) *Outage {
	t.Helper()
	o := &Outage{t: t, dir: t.TempDir()}
	o.Start()
	o.proxy = newForwarder(t, hostOf(t, o.server.URI()))
	c, err := store.Connect(context.Background(), "mongodb://"+o.proxy.addr()+"/")
	if err != nil {
		t.Fatalf("connect through the forwarder: %v", err)
	}
	o.Client = c
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Disconnect(ctx)
		if o.server != nil {
			o.server.Close()
		}
	})
	return o
}

// Start (re)starts the server on its data directory.
func (o *Outage) Start() {
	e, err := store.StartEmbedded(context.Background(), o.dir, Quiet)
	if err != nil {
		o.t.Fatalf("start the embedded server: %v", err)
	}
	o.server = e
	if o.proxy != nil {
		o.proxy.setTarget(hostOf(o.t, e.URI()))
	}
}

// Stop stops the server and cuts the connections it leaves open.
func (o *Outage) Stop() {
	o.server.Close()
	o.server = nil
	o.proxy.setTarget("")
}

func hostOf(t testing.TB, uri string) string {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatalf("bad URI %q: %v", uri, err)
	}
	return u.Host
}

// forwarder relays TCP connections to a target that can change.
type forwarder struct {
	ln     net.Listener
	mu     sync.Mutex
	target string
	conns  map[net.Conn]struct{}
}

func newForwarder(t testing.TB, target string) *forwarder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	f := &forwarder{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	go f.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		f.setTarget("")
	})
	return f
}

func (f *forwarder) addr() string { return f.ln.Addr().String() }

// setTarget points new connections at target ("" refuses them) and closes
// the connections open to the old one.
func (f *forwarder) setTarget(target string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.target = target
	for c := range f.conns {
		_ = c.Close()
	}
	clear(f.conns)
}

func (f *forwarder) serve() {
	for {
		in, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		target := f.target
		f.mu.Unlock()
		if target == "" {
			_ = in.Close()
			continue
		}
		out, err := net.DialTimeout("tcp", target, time.Second)
		if err != nil {
			_ = in.Close()
			continue
		}
		f.mu.Lock()
		f.conns[in], f.conns[out] = struct{}{}, struct{}{}
		f.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			_, _ = io.Copy(dst, src)
			_ = dst.Close()
			_ = src.Close()
		}
		go pipe(in, out)
		go pipe(out, in)
	}
}
