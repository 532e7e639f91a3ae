package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the driver FerretDB itself uses for its files
)

// FerretDB v1.24 on SQLite stores each collection as a table with one JSON
// column, _ferretdb_sjson, and pushes down one filter shape, {_id: <ObjectId
// or string>}, as
//
//	WHERE _ferretdb_sjson->'$._id' = ?
//
// (internal/backends/sqlite/collection.go, Query, with metadata.IDColumn
// from internal/backends/sqlite/metadata/metadata.go). The unique index it
// creates for _id is on the expression _ferretdb_sjson->"_id"
// (metadata/registry.go, indexesCreate). SQLite uses an expression index
// only for a query expression written the same way, so that index never
// serves the lookup: every get by _id scans the table in SQL.
//
// idIndexer closes that gap from outside FerretDB: it adds to every
// collection table an index on exactly the expression FerretDB queries,
// through a connection of its own to the same files (SQLite's locking
// makes that safe; FerretDB opens them in WAL mode with a busy timeout, so
// its writes wait while an index is built). FerretDB does not know of the
// index: it is dropped with the table, and never shown by listIndexes.
//
// New collections are indexed at the next pass; until then their lookups
// scan, as before. A pass costs a read of each database's catalog.
type idIndexer struct {
	dir string
	log *slog.Logger

	mu  sync.Mutex
	dbs map[string]*sql.DB // by file path
}

// idIndexSuffix names the added index after the table, as FerretDB names
// its own (<table>_<index name>), with a name FerretDB never generates.
const idIndexSuffix = "_pm_id_lookup"

// otherIDsIndexSuffix names a partial index of the documents whose _id is
// not an ObjectId: empty in the usual collection, it tells IDOrder in one
// lookup whether _id order can be read from the lookup index.
const otherIDsIndexSuffix = "_pm_other_ids"

// otherIDsCondition is the partial index's condition; a query must repeat
// it exactly for SQLite to use the index.
const otherIDsCondition = `_ferretdb_sjson->>'$."$s".p._id.t' <> 'objectId'`

// idIndexInterval is how often new collections are looked for.
const idIndexInterval = time.Second

func newIDIndexer(dir string, log *slog.Logger) *idIndexer {
	return &idIndexer{dir: dir, log: log, dbs: map[string]*sql.DB{}}
}

// run indexes until ctx is done, then closes its connections.
func (x *idIndexer) run(ctx context.Context) {
	defer x.close()
	t := time.NewTicker(idIndexInterval)
	defer t.Stop()
	for {
		if err := x.pass(ctx); err != nil && ctx.Err() == nil {
			x.log.Warn("indexing _id lookups of the embedded backend", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pass adds the missing indexes in every database file under dir.
func (x *idIndexer) pass(ctx context.Context) error {
	files, err := filepath.Glob(filepath.Join(x.dir, "*.sqlite"))
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := x.indexFile(ctx, f); err != nil {
			return fmt.Errorf("%s: %w", filepath.Base(f), err)
		}
	}
	return nil
}

func (x *idIndexer) open(path string) (*sql.DB, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if db := x.dbs[path]; db != nil {
		return db, nil
	}
	db, err := openSQLite(path, "rw")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	x.dbs[path] = db
	return db, nil
}

// openSQLite opens a database file of the embedded FerretDB beside it, mode
// rw or ro: never rwc, so that a database FerretDB dropped meanwhile is not
// created again. FerretDB's own writes hold the file's lock for a moment,
// which is waited for rather than failed on.
func openSQLite(path, mode string) (*sql.DB, error) {
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path), OmitHost: true,
		RawQuery: "mode=" + mode + "&_pragma=busy_timeout(10000)"}
	return sql.Open("sqlite", u.String())
}

func (x *idIndexer) indexFile(ctx context.Context, path string) error {
	db, err := x.open(path)
	if err != nil {
		return err
	}
	missing, err := x.missing(ctx, db)
	if err != nil {
		// The file may be gone (database dropped) or not yet initialized
		// by FerretDB (no catalog table): nothing to index there yet.
		x.forget(path)
		return nil
	}
	for _, table := range missing {
		// The partial index first: IDOrder wants both, and the lookup
		// index is what missing looks for.
		// Identifiers are quoted by quoteIdent; the table names come from
		// FerretDB's own catalog, not from a request.
		q := fmt.Sprintf(createIDIndexes, //nolint:gosec // G201: see above
			quoteIdent(table+otherIDsIndexSuffix), quoteIdent(table), otherIDsCondition,
			quoteIdent(table+idIndexSuffix), quoteIdent(table))
		if _, err := db.ExecContext(ctx, q); err != nil {
			// Dropped between the catalog read and now: the next pass
			// sees the catalog without it.
			if strings.Contains(err.Error(), "no such table") {
				continue
			}
			return fmt.Errorf("table %s: %w", table, err)
		}
	}
	return nil
}

// missing lists the collection tables without the lookup index.
func (x *idIndexer) missing(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, `
		SELECT c.table_name FROM _ferretdb_collections c
		WHERE NOT EXISTS (SELECT 1 FROM sqlite_master m
			WHERE m.type = 'index' AND m.name = c.table_name || ?)
		AND EXISTS (SELECT 1 FROM sqlite_master m
			WHERE m.type = 'table' AND m.name = c.table_name)`, idIndexSuffix)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func (x *idIndexer) forget(path string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if db := x.dbs[path]; db != nil {
		_ = db.Close()
		delete(x.dbs, path)
	}
}

func (x *idIndexer) close() {
	x.mu.Lock()
	defer x.mu.Unlock()
	for p, db := range x.dbs {
		_ = db.Close()
		delete(x.dbs, p)
	}
}

// quoteIdent quotes an SQLite identifier.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// createIDIndexes creates the partial index of non-ObjectId _ids and the
// lookup index on the expression FerretDB queries for {_id}.
const createIDIndexes = `CREATE INDEX IF NOT EXISTS %s ON %s (_ferretdb_sjson->'$._id') WHERE %s;
			CREATE INDEX IF NOT EXISTS %s ON %s (_ferretdb_sjson->'$._id')`
