// Package store is the only package that talks to the MongoDB driver: it
// connects, runs the embedded FerretDB backend, probes what the connected
// server can do, runs the reads and writes of the proxy's own collections
// for the packages that own them (collection.go), and turns driver errors
// into apperr kinds so that no driver text or type leaks past it.
// architecture_test.go keeps it so: no other product package imports the
// driver (test support imported by tests only, internal/testenv and
// internal/app/apptest, excepted).
package store

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
)

// Timeouts used by Connect. They bound how long a request waits for an
// unreachable server; per-query limits come from the caller's context
// (limits.query_timeout), not from here.
const (
	// ConnectTimeout bounds opening one TCP connection (and its handshake).
	ConnectTimeout = 5 * time.Second
	// ServerSelectionTimeout bounds how long an operation waits for a usable
	// server before failing as "database unavailable". The driver default
	// (30s) would hold requests far longer than any client waits.
	ServerSelectionTimeout = 5 * time.Second
	// pingTimeout applies only when the caller's context has no deadline, so
	// that a wrong URI fails at start instead of hanging.
	pingTimeout = 10 * time.Second
)

// Connect opens a client for uri and pings the primary, so that a wrong URI
// or an unreachable server is reported at start rather than on the first
// request. The error is an *apperr.Error (KindUnavailable or KindInvalid);
// its Cause holds the driver text.
func Connect(ctx context.Context, uri string) (*mongo.Client, error) {
	opts := options.Client().
		ApplyURI(uri).
		SetAppName("permission-mongo").
		SetConnectTimeout(ConnectTimeout).
		SetServerSelectionTimeout(ServerSelectionTimeout)
	// Validate separately: ApplyURI records parse errors instead of returning them,
	// and a malformed URI is a configuration mistake, not an outage.
	if err := opts.Validate(); err != nil {
		return nil, apperr.Wrap(apperr.KindInvalid, err, "invalid MongoDB URI")
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, apperr.Wrap(apperr.KindInvalid, err, "invalid MongoDB connection options")
	}
	rememberWriteConcern(client, opts.WriteConcern)
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, pingTimeout)
		defer cancel()
	}
	if err := client.Ping(ctx, readpref.Primary()); err != nil {
		// Disconnect with a fresh context: ctx may be the one that just expired.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = client.Disconnect(dctx)
		forgetWriteConcern(client)
		return nil, apperr.Wrap(apperr.KindUnavailable, err, "database unavailable")
	}
	return client, nil
}

// URIHosts reads the host list of a MongoDB URI (never its credentials);
// srv reports a mongodb+srv URI, whose hosts are those its DNS record
// resolved to.
func URIHosts(uri string) (hosts []string, srv bool, err error) {
	cs, err := connstring.Parse(uri)
	if err != nil {
		return nil, false, err
	}
	return cs.Hosts, cs.Scheme == connstring.SchemeMongoDBSRV, nil
}
