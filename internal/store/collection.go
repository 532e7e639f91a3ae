package store

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The proxy's own collections (audit log, versions, grant ledger and
// leases, webhook outbox, hierarchy lookups, schema indexes) are reached
// through the handles below rather than through the driver: the packages
// that own those collections build their filters and updates as bson
// documents (their meaning is theirs), and this package runs them, so that
// driver types, options, cursors and error types stay here. Errors are
// returned as the driver gave them, so that callers can keep classifying
// them with the helpers of this package (IsDuplicateKey, IsTimeout,
// ErrNoDocuments, ...) before they Translate them.

// Client is a connection to a MongoDB server, as the rest of the proxy sees
// it: a way to reach its databases.
type Client struct{ c *mongo.Client }

// NewClient wraps a driver client (from Connect or a test's own).
func NewClient(c *mongo.Client) *Client { return &Client{c: c} }

// Database returns the named database.
func (c *Client) Database(name string) *Database { return &Database{db: c.c.Database(name)} }

// Open is Connect for the proxy's own wiring: the client it returns keeps
// the driver inside this package.
func Open(ctx context.Context, uri string) (*Client, error) {
	c, err := Connect(ctx, uri)
	if err != nil {
		return nil, err
	}
	return &Client{c: c}, nil
}

// Probe asks the server what it can do (see Probe).
func (c *Client) Probe(ctx context.Context, database string) (Capabilities, error) {
	return Probe(ctx, c.c, database)
}

// Close disconnects, waiting for operations in progress until ctx ends.
func (c *Client) Close(ctx context.Context) error {
	forgetWriteConcern(c.c)
	return c.c.Disconnect(ctx)
}

// Database is one database of the server.
type Database struct{ db *mongo.Database }

// NewDatabase wraps a driver database.
func NewDatabase(db *mongo.Database) *Database { return &Database{db: db} }

// Name is the database's name.
func (d *Database) Name() string { return d.db.Name() }

// Collection returns the named collection of d.
func (d *Database) Collection(name string) *Collection {
	return &Collection{c: d.db.Collection(name)}
}

// Client is the connection d was reached through.
func (d *Database) Client() *Client { return &Client{c: d.db.Client()} }

// Probe asks the server d lives on what it can do (see Probe).
func (d *Database) Probe(ctx context.Context) (Capabilities, error) {
	return Probe(ctx, d.db.Client(), d.db.Name())
}

// Documents is the document store of the API on d (see NewDocuments).
func (d *Database) Documents(timeout time.Duration) *Documents { return NewDocuments(d.db, timeout) }

// APIKeys is the key store in d's APIKeysCollection (see NewAPIKeys).
func (d *Database) APIKeys(timeout time.Duration) *APIKeys {
	return NewAPIKeys(d.db.Collection(APIKeysCollection), timeout)
}

// RunAdmin runs a user or role management command (see RunAdminCommand)
// and decodes the answer into out unless out is nil.
func (d *Database) RunAdmin(ctx context.Context, cmd bson.D, out any) error {
	res := RunAdminCommand(ctx, d.db, cmd)
	if out == nil {
		return res.Err()
	}
	return res.Decode(out)
}

// Collection is one collection of the proxy's own data.
type Collection struct{ c *mongo.Collection }

// NewCollection wraps a driver collection.
func NewCollection(c *mongo.Collection) *Collection { return &Collection{c: c} }

// Name is the collection's name.
func (c *Collection) Name() string { return c.c.Name() }

// Sibling returns the collection called name in the same database, for
// data kept next to c (the webhook outbox's claims).
func (c *Collection) Sibling(name string) *Collection {
	return &Collection{c: c.c.Database().Collection(name)}
}

// Find shapes a read: the order, how many documents at most (0 = all) and
// which fields (nil = all).
type Find struct {
	Sort       bson.D
	Limit      int64
	Projection bson.D
}

func (f Find) find() *options.FindOptionsBuilder {
	o := options.Find()
	if f.Sort != nil {
		o.SetSort(f.Sort)
	}
	if f.Limit != 0 {
		o.SetLimit(f.Limit)
	}
	if f.Projection != nil {
		o.SetProjection(f.Projection)
	}
	return o
}

// FindAll decodes every document matching filter into out, a pointer to a
// slice.
func (c *Collection) FindAll(ctx context.Context, filter any, f Find, out any) error {
	cur, err := c.c.Find(ctx, filter, f.find())
	if err != nil {
		return err
	}
	return cur.All(ctx, out)
}

// Each calls fn with every document matching filter, in order, until fn
// returns an error. The document is only valid during the call.
func (c *Collection) Each(ctx context.Context, filter any, f Find, fn func(bson.Raw) error) error {
	cur, err := c.c.Find(ctx, filter, f.find())
	if err != nil {
		return err
	}
	defer func() { _ = cur.Close(context.WithoutCancel(ctx)) }()
	for cur.Next(ctx) {
		if err := fn(cur.Current); err != nil {
			return err
		}
	}
	return cur.Err()
}

// FindOne decodes the first document matching filter (in f.Sort's order)
// into out; ErrNoDocuments when there is none. Limit is ignored.
func (c *Collection) FindOne(ctx context.Context, filter any, f Find, out any) error {
	o := options.FindOne()
	if f.Sort != nil {
		o.SetSort(f.Sort)
	}
	if f.Projection != nil {
		o.SetProjection(f.Projection)
	}
	res := c.c.FindOne(ctx, filter, o)
	if raw, ok := out.(*bson.Raw); ok {
		r, err := res.Raw()
		if err != nil {
			return err
		}
		*raw = r
		return nil
	}
	return res.Decode(out)
}

// Distinct decodes the distinct values of field among the documents
// matching filter into out, a pointer to a slice.
func (c *Collection) Distinct(ctx context.Context, field string, filter any, out any) error {
	return c.c.Distinct(ctx, field, filter).Decode(out)
}

// InsertOne stores doc.
func (c *Collection) InsertOne(ctx context.Context, doc any) error {
	_, err := c.c.InsertOne(ctx, doc)
	return err
}

// InsertMany stores docs, a slice. Unordered, the server tries every
// document even when some fail (see OnlyDuplicates).
func (c *Collection) InsertMany(ctx context.Context, docs any, ordered bool) error {
	_, err := c.c.InsertMany(ctx, docs, options.InsertMany().SetOrdered(ordered))
	return err
}

// UpdateOne applies update to the first document matching filter and
// returns how many matched (0 or 1).
func (c *Collection) UpdateOne(ctx context.Context, filter, update any) (matched int64, err error) {
	res, err := c.c.UpdateOne(ctx, filter, update)
	if err != nil {
		return 0, err
	}
	return res.MatchedCount, nil
}

// DeleteMany removes the documents matching filter and returns how many.
func (c *Collection) DeleteMany(ctx context.Context, filter any) (int64, error) {
	res, err := c.c.DeleteMany(ctx, filter)
	if err != nil {
		return 0, err
	}
	return res.DeletedCount, nil
}

// Index is an index as the proxy declares it.
type Index struct {
	Name   string
	Keys   bson.D
	Unique bool
	// ExpireAfterSeconds makes a TTL index when set.
	ExpireAfterSeconds *int32
}

// IndexInfo is an index that exists.
type IndexInfo struct {
	Name               string
	ExpireAfterSeconds *int32
}

// Indexes lists the indexes of c; none when c does not exist yet.
func (c *Collection) Indexes(ctx context.Context) ([]IndexInfo, error) {
	specs, err := c.c.Indexes().ListSpecifications(ctx)
	if err != nil {
		if hasCode(err, codeNamespaceNotFound) {
			return nil, nil
		}
		return nil, err
	}
	out := make([]IndexInfo, len(specs))
	for i, s := range specs {
		out[i] = IndexInfo{Name: s.Name, ExpireAfterSeconds: s.ExpireAfterSeconds}
	}
	return out, nil
}

// CreateIndex creates ix. Creating an index that exists with the same keys
// and options does nothing.
func (c *Collection) CreateIndex(ctx context.Context, ix Index) error {
	o := options.Index().SetName(ix.Name)
	if ix.Unique {
		o.SetUnique(true)
	}
	if ix.ExpireAfterSeconds != nil {
		o.SetExpireAfterSeconds(*ix.ExpireAfterSeconds)
	}
	_, err := c.c.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: ix.Keys, Options: o})
	return err
}

// DropIndex drops the index called name.
func (c *Collection) DropIndex(ctx context.Context, name string) error {
	return c.c.Indexes().DropOne(ctx, name)
}

// codeNamespaceNotFound: the collection does not exist.
const codeNamespaceNotFound = 26

// ErrNoDocuments is FindOne's answer when nothing matched.
var ErrNoDocuments = mongo.ErrNoDocuments

// IsDuplicateKey reports a write refused by a unique index.
func IsDuplicateKey(err error) bool { return mongo.IsDuplicateKeyError(err) }

// IsTimeout reports an operation that ran out of time (its context's
// deadline or the driver's own timeout).
func IsTimeout(err error) bool { return mongo.IsTimeout(err) }

// OnlyDuplicates reports an unordered InsertMany whose only failures were
// duplicate keys: every document is stored, some by an earlier attempt.
func OnlyDuplicates(err error) bool {
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		return false
	}
	for _, we := range bwe.WriteErrors {
		if we.Code != CodeDuplicateKey {
			return false
		}
	}
	return true
}

// CommandCode returns the code and code name of the server's answer in
// err's chain; ok is false when err is not a server's answer to a command.
func CommandCode(err error) (code int32, name string, ok bool) {
	var ce mongo.CommandError
	if !errors.As(err, &ce) {
		return 0, "", false
	}
	return ce.Code, ce.Name, true
}

// Count is how many documents match filter.
func (c *Collection) Count(ctx context.Context, filter any) (int64, error) {
	return c.c.CountDocuments(ctx, filter)
}
