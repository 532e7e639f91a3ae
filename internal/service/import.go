package service

import (
	"context"
	"errors"
	"io"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/principal"
)

// Streamed imports (POST /collections/{c}/import, docs/import.md).
//
// Every document goes through Create, exactly as a batch create does
// (presets, stamps, $-keys, deny_write, the in-memory policy check): the
// import only changes when the checked documents are written, in chunks
// with one unordered insert each, so that memory holds one chunk whatever
// the size of the import. Create is run on an import-local Service whose
// store records the document Create would insert instead of inserting it
// (checkOnlyStore); everything else Create asks of the store goes to the
// real one.

// Import defaults.
const (
	DefaultImportChunk       = 500
	DefaultImportChunkBytes  = 8 << 20
	DefaultImportMaxFailures = 1000
)

// ImportOptions tune an import; zero values take the defaults.
type ImportOptions struct {
	// Chunk is the most documents written by one insert (500).
	Chunk int
	// ChunkBytes flushes a chunk early once its documents weigh this much
	// (8 MiB), so that large documents do not multiply the memory held.
	ChunkBytes int
	// MaxFailures is the most per-line failures listed (1,000); later
	// ones are only counted.
	MaxFailures int
}

func (o ImportOptions) withDefaults() ImportOptions {
	if o.Chunk <= 0 {
		o.Chunk = DefaultImportChunk
	}
	if o.ChunkBytes <= 0 {
		o.ChunkBytes = DefaultImportChunkBytes
	}
	if o.MaxFailures <= 0 {
		o.MaxFailures = DefaultImportMaxFailures
	}
	return o
}

// ImportItem is one line of an import: its 1-based line number and either
// the parsed document or why it could not be parsed.
type ImportItem struct {
	Line int64
	Doc  bson.D
	Err  error
}

// ImportSource yields the lines of an import in order. Next returns io.EOF
// after the last one; any other error stops the import (the client went
// away, the body is truncated).
type ImportSource interface {
	Next() (ImportItem, error)
}

// LineError is the failure of one line of an import.
type LineError struct {
	Line int64
	Err  error
}

// ImportResult describes an import, complete or stopped. It holds what one
// audit record of the import needs (who, collection, counts, failures,
// duration).
type ImportResult struct {
	ImportID   string
	Collection string
	ActorID    string
	// Inserted counts the documents written.
	Inserted int64
	// Failed lists the first MaxFailures failures in line order;
	// FailedCount counts them all.
	Failed      []LineError
	FailedCount int64
	// LastLine is the last line read.
	LastLine int64
	Duration time.Duration
	// AuditID is the id of the import's audit record; "" while the service
	// records no audit (audit wiring comes with the audit issue).
	AuditID string
}

// bulkInserter is implemented by stores that write a chunk in one
// round trip (*store.Documents). Stores without it get one Insert per
// document.
type bulkInserter interface {
	InsertUnordered(ctx context.Context, coll string, docs []bson.Raw) (map[int]error, error)
}

// checkOnlyStore is the store of the import-local Service: Insert records
// the document instead of writing it; every other operation is the real
// store's.
type checkOnlyStore struct {
	Store
	doc bson.Raw
}

func (c *checkOnlyStore) Insert(_ context.Context, _ string, doc any) error {
	switch v := doc.(type) {
	case bson.Raw:
		c.doc = v
	case []byte:
		c.doc = v
	default:
		raw, err := bson.Marshal(doc)
		if err != nil {
			return apperr.Wrap(apperr.KindInternal, err, "document cannot be encoded")
		}
		c.doc = raw
	}
	return nil
}

// checker returns a Service that runs every check of Create with set and
// records the document instead of inserting it. Every field of Service is
// carried over but the store (TestImportCheckerCopiesService keeps this
// list complete).
func (s *Service) checker(set *policy.Set) (*Service, *checkOnlyStore) {
	cs := &checkOnlyStore{Store: s.store}
	c := &Service{store: cs, cursors: s.cursors, limits: s.limits, now: s.now, log: s.log,
		versions: s.versions, auditLog: s.auditLog}
	c.policies.Store(set)
	return c, cs
}

// valuelessContext keeps the deadline and cancellation of its parent but
// none of its values.
type valuelessContext struct{ context.Context }

func (valuelessContext) Value(any) any { return nil }

type importer struct {
	s     *Service
	coll  string
	opts  ImportOptions
	res   *ImportResult
	docs  []bson.Raw
	lines []int64
	bytes int
}

func (im *importer) fail(line int64, err error) {
	im.res.FailedCount++
	if len(im.res.Failed) < im.opts.MaxFailures {
		im.res.Failed = append(im.res.Failed, LineError{Line: line, Err: err})
	}
}

// flush writes the pending chunk. Failures of single documents are
// recorded by line; an error is returned when the chunk failed as a whole.
func (im *importer) flush(ctx context.Context) error {
	if len(im.docs) == 0 {
		return nil
	}
	defer func() {
		clear(im.docs) // let the documents be collected
		im.docs, im.lines, im.bytes = im.docs[:0], im.lines[:0], 0
	}()
	if err := ctx.Err(); err != nil {
		return apperr.Wrap(apperr.KindUnavailable, err, "request canceled")
	}
	if bi, ok := im.s.store.(bulkInserter); ok {
		failed, err := bi.InsertUnordered(ctx, im.coll, im.docs)
		if err != nil {
			return err
		}
		// failed is keyed by index: walk the chunk to keep line order.
		for i, line := range im.lines {
			if ferr, bad := failed[i]; bad {
				im.fail(line, ferr)
			} else {
				im.res.Inserted++
			}
		}
		return nil
	}
	for i, doc := range im.docs {
		if err := im.s.store.Insert(ctx, im.coll, doc); err != nil {
			if apperr.KindOf(err) == apperr.KindUnavailable {
				return err
			}
			im.fail(im.lines[i], err)
			continue
		}
		im.res.Inserted++
	}
	return nil
}

// Import reads src to the end and creates each document on its own exactly
// as Create would; the documents that pass are written in chunks of
// opts.Chunk with unordered inserts. A line that cannot be parsed, fails a
// check or is refused by the database is reported by line number; the
// others are written.
//
// The create action is checked before src is read: without it Import
// returns a 403 and reads nothing.
//
// Imports are not atomic. When the import stops early (src fails, the
// database becomes unavailable, ctx ends), Import returns the result so far
// with the error: Inserted counts the documents written, and the pending
// chunk is dropped, never written after the stop. A chunk whose insert
// failed as a whole may have been written in part (the database does not
// say which documents it stored).
func (s *Service) Import(ctx context.Context, p *principal.Principal, coll string, src ImportSource, opts ImportOptions) (*ImportResult, error) {
	start := time.Now()
	r, err := s.begin(p, coll)
	if err != nil {
		return nil, err
	}
	if _, err := r.granted(policy.Create); err != nil {
		return nil, err
	}
	im := &importer{s: s, coll: coll, opts: opts.withDefaults(),
		res: &ImportResult{ImportID: bson.NewObjectID().Hex(), Collection: coll, ActorID: p.ID, Failed: []LineError{}}}
	im.docs = make([]bson.Raw, 0, im.opts.Chunk)
	im.lines = make([]int64, 0, im.opts.Chunk)
	check, captured := s.checker(r.set)
	// The checks run without the request's context values: Create records
	// each document it writes in the request's audit operation, which for
	// an import would grow with its size and count documents before they
	// are written. An import is audited as one operation, from its result.
	checkCtx := valuelessContext{ctx}
	stop := func(err error) (*ImportResult, error) {
		im.res.Duration = time.Since(start)
		return im.res, err
	}
	for {
		it, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return stop(err)
		}
		im.res.LastLine = it.Line
		if it.Err != nil {
			im.fail(it.Line, it.Err)
			continue
		}
		captured.doc = nil
		if _, err := check.Create(checkCtx, p, coll, it.Doc); err != nil {
			if apperr.KindOf(err) == apperr.KindUnavailable {
				return stop(err)
			}
			im.fail(it.Line, err)
			continue
		}
		if captured.doc == nil {
			return stop(apperr.New(apperr.KindInternal, "import: the checked document was not captured"))
		}
		im.docs = append(im.docs, captured.doc)
		im.lines = append(im.lines, it.Line)
		im.bytes += len(captured.doc)
		captured.doc = nil
		if len(im.docs) >= im.opts.Chunk || im.bytes >= im.opts.ChunkBytes {
			if err := im.flush(ctx); err != nil {
				return stop(err)
			}
		}
	}
	if err := im.flush(ctx); err != nil {
		return stop(err)
	}
	return stop(nil)
}
