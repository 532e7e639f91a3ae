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
	// AuditID identifies the import's audit entry: the api sets it to the
	// request id the entry carries ("" when audit is off).
	AuditID string
}

// bulkInserter is implemented by stores that write a chunk in one
// round trip (*store.Documents). Stores without it get one Insert per
// document.
type bulkInserter interface {
	InsertUnordered(ctx context.Context, coll string, docs []bson.Raw) (map[int]error, error)
}

type importer struct {
	s     *Service
	coll  string
	opts  ImportOptions
	res   *ImportResult
	docs  []bson.Raw
	lines []int64
	bytes int
	r     *request // for the change events of the documents written
	// pending holds failures of lines read after documents that are still
	// waiting in the chunk: those documents' own failures are only known
	// at flush, and the list must stay in line order.
	pending []LineError
}

// fail records the failure of a line found while reading (parse or check).
func (im *importer) fail(line int64, err error) {
	im.res.FailedCount++
	if len(im.docs) == 0 {
		im.list(LineError{Line: line, Err: err})
		return
	}
	// Only as many as could still be listed are kept, so that a stream of
	// bad lines behind one good document does not grow memory.
	if len(im.res.Failed)+len(im.pending) < im.opts.MaxFailures {
		im.pending = append(im.pending, LineError{Line: line, Err: err})
	}
}

// list adds a failure to the answer's list, which stops growing at
// MaxFailures (FailedCount goes on counting).
func (im *importer) list(f LineError) {
	if len(im.res.Failed) < im.opts.MaxFailures {
		im.res.Failed = append(im.res.Failed, f)
	}
}

// listMerged lists the chunk's insert failures and the pending read
// failures, both in line order, merged by line.
func (im *importer) listMerged(inserts []LineError) {
	p := im.pending
	for len(inserts) > 0 || len(p) > 0 {
		if len(p) == 0 || (len(inserts) > 0 && inserts[0].Line < p[0].Line) {
			im.list(inserts[0])
			inserts = inserts[1:]
		} else {
			im.list(p[0])
			p = p[1:]
		}
	}
	clear(im.pending)
	im.pending = im.pending[:0]
}

// flush writes the pending chunk. Failures of single documents are
// recorded by line; an error is returned when the chunk failed as a whole.
func (im *importer) flush(ctx context.Context) error {
	if len(im.docs) == 0 {
		im.listMerged(nil)
		return nil
	}
	defer func() {
		clear(im.docs) // let the documents be collected
		im.docs, im.lines, im.bytes = im.docs[:0], im.lines[:0], 0
	}()
	if err := ctx.Err(); err != nil {
		return apperr.Wrap(apperr.KindUnavailable, err, "request canceled")
	}
	failed, err := im.s.insertChunk(ctx, im.coll, im.docs)
	if err != nil {
		return err
	}
	// failed is keyed by index: walk the chunk to keep line order.
	var inserts []LineError
	for i, line := range im.lines {
		if ferr, bad := failed[i]; bad {
			im.res.FailedCount++
			inserts = append(inserts, LineError{Line: line, Err: ferr})
		} else {
			im.res.Inserted++
			im.r.emit(ctx, "create", im.docs[i].Lookup("_id"))
		}
	}
	im.listMerged(inserts)
	return nil
}

// insertChunk writes checked documents in one round trip when the store can
// (unordered: a refused document does not stop the others), one by one
// otherwise. failed maps an index to the error of that document; err is set
// when the chunk failed as a whole.
func (s *Service) insertChunk(ctx context.Context, coll string, docs []bson.Raw) (map[int]error, error) {
	if bi, ok := s.store.(bulkInserter); ok {
		return bi.InsertUnordered(ctx, coll, docs)
	}
	failed := map[int]error{}
	for i, doc := range docs {
		if err := s.store.Insert(ctx, coll, doc); err != nil {
			if apperr.KindOf(err) == apperr.KindUnavailable {
				return nil, err
			}
			failed[i] = err
		}
	}
	return failed, nil
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
	r, d, err := s.beginAction(p, coll, policy.Create)
	if err != nil {
		return nil, err
	}
	im := &importer{s: s, coll: coll, opts: opts.withDefaults(),
		res: &ImportResult{ImportID: bson.NewObjectID().Hex(), Collection: coll, ActorID: p.ID, Failed: []LineError{}}}
	im.r = r
	im.docs = make([]bson.Raw, 0, im.opts.Chunk)
	im.lines = make([]int64, 0, im.opts.Chunk)
	stop := func(err error) (*ImportResult, error) {
		// The failures read after a dropped chunk are still failures.
		im.listMerged(nil)
		im.res.Duration = time.Since(start)
		// One audit entry for the whole import: what was written and what
		// was refused, also when it stopped early.
		auditCount(ctx, im.res.Inserted)
		auditFailed(ctx, int(im.res.FailedCount))
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
		// The same checks as a single create. They record nothing in the
		// request's audit operation: an import is audited as one operation,
		// from its result.
		raw, _, err := r.prepareCreate(ctx, d, it.Doc)
		if err != nil {
			im.fail(it.Line, err)
			continue
		}
		im.docs = append(im.docs, raw)
		im.lines = append(im.lines, it.Line)
		im.bytes += len(raw)
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
