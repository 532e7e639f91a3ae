package store

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Documents runs the document operations of the HTTP API against one
// database. It knows nothing of policies: the service builds every filter and
// hands it over complete. Every operation runs under a deadline of
// QueryTimeout, which driver v2 turns into the maxTimeMS it sends with the
// command, so a slow query is stopped by the server too, not only abandoned
// by the client. Every error is passed through Translate.
type Documents struct {
	db *mongo.Database
	deadline

	// colls keeps the handles of the collections used so far: the driver's
	// Database.Collection builds a new handle (read and write concerns,
	// server selectors, seven allocations) on every call, i.e. on every
	// request. At most maxCachedCollections are kept, so that clients naming
	// ever new collections cannot grow it without bound; past that, handles
	// are built per call as before.
	colls  sync.Map // name → *mongo.Collection
	cached atomic.Int32
}

const maxCachedCollections = 1024

// coll is the handle of the collection name.
func (d *Documents) coll(name string) *mongo.Collection {
	if c, ok := d.colls.Load(name); ok {
		return c.(*mongo.Collection)
	}
	c := d.db.Collection(name)
	if d.cached.Load() < maxCachedCollections {
		if _, loaded := d.colls.LoadOrStore(name, c); !loaded {
			d.cached.Add(1)
		}
	}
	return c
}

// NewDocuments returns the document store for db. timeout <= 0 means 10s.
func NewDocuments(db *mongo.Database, timeout time.Duration) *Documents {
	return &Documents{db: db, deadline: newDeadline(timeout, 10*time.Second)}
}

// deadline bounds every call a store handle makes. "No limit" is never a
// default (ARCHITECTURE.md, security rule 10): a timeout <= 0 takes the
// handle's default.
type deadline struct{ timeout time.Duration }

func newDeadline(timeout, def time.Duration) deadline {
	if timeout <= 0 {
		timeout = def
	}
	return deadline{timeout}
}

func (d deadline) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d.timeout)
}

// oneOrNil is the document a single-document command answered, or nil when
// it matched nothing (which is no error to the service).
func oneOrNil(res *mongo.SingleResult) (bson.Raw, error) {
	raw, err := res.Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, Translate(err)
	}
	return raw, nil
}

// FindOne returns the first document matching filter, or nil when none does.
func (d *Documents) FindOne(ctx context.Context, coll string, filter any) (bson.Raw, error) {
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	return oneOrNil(d.coll(coll).FindOne(ctx, filter))
}

// Find returns at most limit documents matching filter in sort order.
func (d *Documents) Find(ctx context.Context, coll string, filter any, sort bson.D, limit int64) ([]bson.Raw, error) {
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	opts := options.Find().SetLimit(limit)
	if len(sort) > 0 {
		opts.SetSort(sort)
	}
	cur, err := d.coll(coll).Find(ctx, filter, opts)
	if err != nil {
		return nil, Translate(err)
	}
	defer cur.Close(ctx)
	// cur.Current is reused by the next call, so each document is copied:
	// into one buffer for the whole page rather than one allocation each.
	// Each document's capacity ends where it does, so that appending to one
	// cannot write over the next.
	var buf []byte
	var ends []int
	for cur.Next(ctx) {
		if buf == nil {
			// Sized for a page of documents like the first, with a quarter
			// to spare for longer ones (up to 64 documents and 1 MiB;
			// append grows it past that).
			n := int(min(max(limit, 1), 64))
			buf = make([]byte, 0, min(n*len(cur.Current)*5/4, 1<<20))
			ends = make([]int, 0, n)
		}
		buf = append(buf, cur.Current...)
		ends = append(ends, len(buf))
	}
	if err := cur.Err(); err != nil {
		return nil, Translate(err)
	}
	var out []bson.Raw
	if len(ends) > 0 {
		out = make([]bson.Raw, len(ends))
	}
	start := 0
	for i, end := range ends {
		out[i] = bson.Raw(buf[start:end:end])
		start = end
	}
	return out, nil
}

// Count returns the number of documents matching filter.
func (d *Documents) Count(ctx context.Context, coll string, filter any) (int64, error) {
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	n, err := d.coll(coll).CountDocuments(ctx, filter)
	return n, Translate(err)
}

// Insert stores doc.
func (d *Documents) Insert(ctx context.Context, coll string, doc any) error {
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	_, err := d.coll(coll).InsertOne(ctx, doc)
	return Translate(err)
}

// UpdateOne applies update to the document matching filter and returns the
// document as it is after the update, or nil when filter matched nothing.
// Upserts are never requested (ARCHITECTURE.md, security rule 11).
func (d *Documents) UpdateOne(ctx context.Context, coll string, filter, update any) (bson.Raw, error) {
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	opts := options.FindOneAndUpdate().SetReturnDocument(options.After).SetUpsert(false)
	return oneOrNil(d.coll(coll).FindOneAndUpdate(ctx, filter, update, opts))
}

// ReplaceOne replaces the document matching filter with doc and returns the
// document as stored afterwards, or nil when filter matched nothing.
func (d *Documents) ReplaceOne(ctx context.Context, coll string, filter, doc any) (bson.Raw, error) {
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	opts := options.FindOneAndReplace().SetReturnDocument(options.After).SetUpsert(false)
	return oneOrNil(d.coll(coll).FindOneAndReplace(ctx, filter, doc, opts))
}

// DeleteOne deletes the document matching filter and reports how many were
// deleted (0 or 1).
func (d *Documents) DeleteOne(ctx context.Context, coll string, filter any) (int64, error) {
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	return deletedCount(d.coll(coll).DeleteOne(ctx, filter))
}

// deletedCount is how many documents a delete removed.
func deletedCount(res *mongo.DeleteResult, err error) (int64, error) {
	if err != nil {
		return 0, Translate(err)
	}
	return res.DeletedCount, nil
}

// Ping checks that the database answers, for readiness probes.
func (d *Documents) Ping(ctx context.Context) error {
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	return Translate(d.db.Client().Ping(ctx, nil))
}

// DeleteMany deletes every document matching filter and reports how many
// were deleted.
func (d *Documents) DeleteMany(ctx context.Context, coll string, filter any) (int64, error) {
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	return deletedCount(d.coll(coll).DeleteMany(ctx, filter))
}

// Aggregate runs pipeline on coll and returns every result document. The
// pipeline must bound its own output (the service appends a $limit).
// capability names what the pipeline needs, for a NOT_SUPPORTED answer when
// the backend lacks it.
func (d *Documents) Aggregate(ctx context.Context, coll string, pipeline any, capability string) ([]bson.Raw, error) {
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	cur, err := d.coll(coll).Aggregate(ctx, pipeline)
	if err != nil {
		return nil, TranslateFor(err, capability)
	}
	defer cur.Close(ctx)
	out := []bson.Raw{}
	for cur.Next(ctx) {
		out = append(out, append(bson.Raw(nil), cur.Current...))
	}
	if err := cur.Err(); err != nil {
		return nil, TranslateFor(err, capability)
	}
	return out, nil
}
