package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// IDOrder reads, straight from the embedded backend's SQLite files, the
// _ids of a collection in ascending order, through the index idIndexer adds,
// and with AfterDocs the documents themselves, in FerretDB's stored form.
// FerretDB v1 never pushes a sort (or a limit with a filter) down to SQLite:
// every page of a list reads, decodes and sorts the whole collection. With
// the documents in _id order, a reader decodes a page's documents itself
// (StoredDoc.Doc) and checks them; one it cannot decode it fetches by
// {_id}, the one shape FerretDB pushes down.
//
// It answers only while every _id of the collection is an ObjectId, whose
// hexadecimal form sorts in the same order as MongoDB sorts the values;
// for other ids (strings, numbers, mixed types) ok is false and the caller
// asks the server as usual.
type IDOrder struct {
	dir, database string
	// timeout bounds one read (Bounded): with a prefilter SQLite may read
	// many rows to find a few.
	timeout time.Duration

	mu     sync.Mutex
	db     *sql.DB
	closed bool // with the server: the files may be removed
}

// IDOrder returns the _id order of the collections of database.
func (e *Embedded) IDOrder(database string) *IDOrder {
	o := &IDOrder{dir: e.dir, database: database}
	e.mu.Lock()
	e.orders = append(e.orders, o)
	e.mu.Unlock()
	return o
}

// sqlite opens the database file read-only.
func (o *IDOrder) sqlite() (*sql.DB, error) {
	path := filepath.Join(o.dir, o.database+".sqlite")
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	db, err := openSQLite(path, "ro")
	if err != nil {
		return nil, err
	}
	if err := db.Ping(); err != nil {
		_ = db.Close()
		return nil, err
	}
	db.SetMaxOpenConns(4)
	return db, nil
}

func (o *IDOrder) conn() (*sql.DB, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil, errNoOrder
	}
	if o.db == nil {
		db, err := o.sqlite()
		if err != nil {
			return nil, err // not there yet: tried again next time
		}
		o.db = db
	}
	return o.db, nil
}

func (o *IDOrder) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
	if o.db != nil {
		_ = o.db.Close()
		o.db = nil
	}
}

// errNoOrder is what After answers with ok false for.
var errNoOrder = errors.New("no _id order")

// StringEquals is a condition on the documents After lists: the top-level
// field Field, when it holds a string, holds Value. A document whose Field is
// missing or of another type (an array, a number, ...) satisfies it: After
// leaves the exact check (MongoDB's equality, which also matches an array
// containing Value) to its caller, and only skips what certainly differs.
type StringEquals struct{ Field, Value string }

// After returns up to n _ids of coll greater than after (all when after is
// the zero ObjectID), ascending. With anyOf, only the _ids of documents that
// satisfy every condition of one of its lists (see StringEquals); a list the
// SQL cannot express is no condition, so the answer only ever grows. ok is
// false when the order is not available: the collection has an _id that is
// not an ObjectId, its indexes are not built yet, or the file cannot be read.
func (o *IDOrder) After(ctx context.Context, coll string, after bson.ObjectID, n int, anyOf [][]StringEquals) (ids []bson.ObjectID, ok bool) {
	docs, err := o.after(ctx, coll, after, n, anyOf, false)
	if err != nil {
		return nil, false
	}
	ids = make([]bson.ObjectID, len(docs))
	for i, d := range docs {
		ids[i] = d.ID
	}
	return ids, true
}

// StoredDoc is a document as AfterDocs reads it: its _id, and the text
// FerretDB stores it as (its "sjson", embedded_sjson.go).
type StoredDoc struct {
	ID     bson.ObjectID
	Stored []byte
}

// Doc returns the document as FerretDB's find answers with it, the same
// bytes, decoded from Stored; ok is false when the decoder does not know
// the stored form, and the caller asks FerretDB for the document by _id.
func (d StoredDoc) Doc() (doc bson.Raw, ok bool) {
	b, err := decodeSJSON(d.Stored)
	if err != nil {
		return nil, false
	}
	return b, true
}

// Bounded makes each read give up after timeout (the proxy's query
// timeout); the caller then asks the server as usual, under its own
// deadline.
func (o *IDOrder) Bounded(timeout time.Duration) *IDOrder {
	o.timeout = timeout
	return o
}

// AfterDocs is After with each document's stored form, read in the same
// query: a page of documents without a FerretDB find for each. Decoding is
// left to StoredDoc.Doc, so that a caller pays only for those it uses.
func (o *IDOrder) AfterDocs(ctx context.Context, coll string, after bson.ObjectID, n int, anyOf [][]StringEquals) (docs []StoredDoc, ok bool) {
	docs, err := o.after(ctx, coll, after, n, anyOf, true)
	return docs, err == nil
}

// plainField is a field name that can be written in an SQLite JSON path as
// it is, and never one of FerretDB's own keys ($s).
var plainField = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// prefilter writes anyOf as an SQL condition on FerretDB's storage format
// (sjson: each value as JSON, its BSON type in the document's schema under
// $s.p.<field>.t), or "" when some list has no condition it can write (that
// list would keep every document).
//
// A document is skipped only when the schema says the field is a string and
// the JSON string (SQLite decodes its escapes) differs from Value: MongoDB's
// equality with a string never matches another string, and every other type
// (arrays above all) is left to the caller. Values that are not valid UTF-8
// or hold NUL are not written: their stored JSON form may not compare byte
// for byte.
func prefilter(anyOf [][]StringEquals) (string, []any) {
	var ors []string
	var args []any
	for _, all := range anyOf {
		var ands []string
		for _, c := range all {
			if !plainField.MatchString(c.Field) || !utf8.ValidString(c.Value) || strings.ContainsRune(c.Value, 0) {
				continue
			}
			ands = append(ands, fmt.Sprintf(
				`(IFNULL(_ferretdb_sjson->>'$."$s".p.%[1]s.t', '') <> 'string' OR _ferretdb_sjson->>'$.%[1]s' = ?)`, c.Field))
			args = append(args, c.Value)
		}
		if len(ands) == 0 {
			return "", nil
		}
		ors = append(ors, "("+strings.Join(ands, " AND ")+")")
	}
	if len(ors) == 0 {
		return "", nil
	}
	return "(" + strings.Join(ors, " OR ") + ")", args
}

func (o *IDOrder) after(ctx context.Context, coll string, after bson.ObjectID, n int, anyOf [][]StringEquals, withDocs bool) ([]StoredDoc, error) {
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	db, err := o.conn()
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // no such database: nothing in it
	}
	if err != nil {
		return nil, err
	}
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }() // one snapshot for the checks and the read

	var table string
	var indexes int
	err = tx.QueryRowContext(ctx, `
		SELECT c.table_name, (SELECT count(*) FROM sqlite_master m
			WHERE m.type = 'index' AND m.name IN (c.table_name || ?, c.table_name || ?))
		FROM _ferretdb_collections c WHERE c.name = ?`,
		idIndexSuffix, otherIDsIndexSuffix, coll).Scan(&table, &indexes)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil // no such collection: nothing in it
	}
	if err != nil {
		return nil, err
	}
	if indexes != 2 {
		return nil, errNoOrder
	}
	// The partial index holds exactly the documents whose _id is not an
	// ObjectId, so this reads nothing when there are none.
	var other int
	err = tx.QueryRowContext(ctx, fmt.Sprintf(`SELECT count(*) FROM (SELECT 1 FROM %s WHERE %s LIMIT 1)`,
		quoteIdent(table), otherIDsCondition)).Scan(&other)
	if err != nil {
		return nil, err
	}
	if other != 0 {
		return nil, errNoOrder
	}
	cond, condArgs := prefilter(anyOf)
	if cond != "" {
		cond = " AND " + cond
	}
	// SQLite walks the lookup index in order, reading a row only to check
	// the prefilter (or to return the document): the rows it skips cost
	// no FerretDB find.
	args := append([]any{`"` + after.Hex() + `"`}, condArgs...)
	column := "NULL"
	if withDocs {
		column = "_ferretdb_sjson"
	}
	rows, err := tx.QueryContext(ctx, fmt.Sprintf( //nolint:gosec // G201: a quoted table name from FerretDB's catalog, fields checked by plainField
		`SELECT _ferretdb_sjson->>'$._id', %s FROM %s WHERE _ferretdb_sjson->'$._id' > ?%s ORDER BY _ferretdb_sjson->'$._id' LIMIT ?`,
		column, quoteIdent(table), cond), append(args, n)...)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	docs := make([]StoredDoc, 0, n)
	for rows.Next() {
		var hex string
		var stored []byte
		if err := rows.Scan(&hex, &stored); err != nil {
			return nil, err
		}
		id, err := bson.ObjectIDFromHex(hex)
		if err != nil {
			return nil, errNoOrder // an _id stored since the check
		}
		docs = append(docs, StoredDoc{ID: id, Stored: stored})
	}
	return docs, rows.Err()
}
