package store

import (
	"context"
	"errors"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// maxRawInsertBytes bounds the documents of one insert command sent by
// InsertRaw: far below the 16 MiB a command may hold, whatever its other
// fields.
const maxRawInsertBytes = 8 << 20

// InsertRaw stores docs, documents already encoded, as InsertMany does, and
// fails the same way (a mongo.BulkWriteException for refused documents, so
// OnlyDuplicates applies). It sends the insert command itself, built as
// bytes with docs copied in whole: InsertMany walks every document element
// by element to re-encode it and decodes each _id back, which for small,
// many documents (audit entries) costs as much as encoding them from structs.
// docs must each have an _id: none is added. The command carries the write
// concern of the connection string the client was opened with (Connect),
// as InsertMany would: a command sent with RunCommand gets none from the
// client, and an audit entry must be as durable as the operator asked.
//
// Unordered, a command that fails because the server was unreachable or
// stepping down is sent once more (retryableInsert), as the driver retries
// InsertMany; ordered, it is not, since a retry would stop at the first
// document the failed attempt did store.
//
// Past maxRawInsertBytes the documents go in several commands, in order; when
// unordered, every command is sent whatever the write errors of the ones
// before, as InsertMany does, and the error holds them all.
func (c *Collection) InsertRaw(ctx context.Context, docs []bson.Raw, ordered bool) error {
	var all mongo.BulkWriteException
	for base := 0; base < len(docs); {
		n, size := 0, 0
		for base+n < len(docs) && (n == 0 || size+len(docs[base+n]) <= maxRawInsertBytes) {
			size += len(docs[base+n])
			n++
		}
		err := c.insertRaw(ctx, docs[base:base+n], ordered, size)
		if err != nil && !ordered && retryableInsert(err) {
			// Once, as the driver's retryable writes would have for
			// InsertMany (RunCommand never retries). Unordered, a document
			// the first attempt stored comes back as a duplicate, which
			// OnlyDuplicates counts as stored.
			err = c.insertRaw(ctx, docs[base:base+n], ordered, size)
		}
		bwe, ok := err.(mongo.BulkWriteException) //nolint:errorlint // insertRaw returns it unwrapped
		switch {
		case err == nil:
		case !ok || ordered:
			return err
		default:
			for _, we := range bwe.WriteErrors {
				we.Index += base
				all.WriteErrors = append(all.WriteErrors, we)
			}
			if bwe.WriteConcernError != nil {
				all.WriteConcernError = bwe.WriteConcernError
			}
		}
		base += n
	}
	if len(all.WriteErrors) > 0 || all.WriteConcernError != nil {
		return all
	}
	return nil
}

func (c *Collection) insertRaw(ctx context.Context, docs []bson.Raw, ordered bool, size int) error {
	idx, cmd := bsoncore.AppendDocumentStart(make([]byte, 0, size+16*len(docs)+128))
	cmd = bsoncore.AppendStringElement(cmd, "insert", c.c.Name())
	var arr int32
	arr, cmd = bsoncore.AppendArrayElementStart(cmd, "documents")
	for i, d := range docs {
		cmd = append(cmd, byte(bsoncore.TypeEmbeddedDocument))
		cmd = appendIndex(cmd, i)
		cmd = append(cmd, 0)
		cmd = append(cmd, d...)
	}
	cmd, _ = bsoncore.AppendArrayEnd(cmd, arr)
	cmd = bsoncore.AppendBooleanElement(cmd, "ordered", ordered)
	cmd = appendWriteConcern(cmd, writeConcernOf(c.c.Database().Client()))
	cmd, _ = bsoncore.AppendDocumentEnd(cmd, idx)

	err := c.c.Database().RunCommand(ctx, bson.Raw(cmd)).Err()
	var we mongo.WriteException
	if !errors.As(err, &we) {
		return err
	}
	// RunCommand reports the write errors of an insert (which come with
	// ok: 1) as a WriteException; InsertMany as a BulkWriteException.
	bwe := mongo.BulkWriteException{WriteConcernError: we.WriteConcernError, Labels: we.Labels}
	for _, e := range we.WriteErrors {
		bwe.WriteErrors = append(bwe.WriteErrors, mongo.BulkWriteError{WriteError: e})
	}
	return bwe
}

// retryableInsert reports whether an insert that failed with err may be
// sent again at once: the server was unreachable or stepping down, or it
// labelled the error retryable.
func retryableInsert(err error) bool {
	var se mongo.ServerError
	if errors.As(err, &se) && se.HasErrorLabel("RetryableWriteError") {
		return true
	}
	return isUnreachable(err)
}

// appendIndex appends i in decimal: an array key.
func appendIndex(b []byte, i int) []byte {
	if i >= 10 {
		b = appendIndex(b, i/10)
	}
	return append(b, byte('0'+i%10))
}

// writeConcerns holds the write concern of each client Connect opened with
// one in its connection string: the driver keeps it to itself, and
// InsertRaw's command must name it.
var writeConcerns sync.Map // *mongo.Client -> *writeconcern.WriteConcern

func rememberWriteConcern(c *mongo.Client, wc *writeconcern.WriteConcern) {
	if wc != nil {
		writeConcerns.Store(c, wc)
	}
}

func forgetWriteConcern(c *mongo.Client) { writeConcerns.Delete(c) }

func writeConcernOf(c *mongo.Client) *writeconcern.WriteConcern {
	if wc, ok := writeConcerns.Load(c); ok {
		return wc.(*writeconcern.WriteConcern) //nolint:forcetypeassert // only rememberWriteConcern stores
	}
	return nil
}

// appendWriteConcern appends {writeConcern: {w, j}} for wc, nothing for nil
// or an empty one (the server's default then applies, as for InsertMany).
func appendWriteConcern(cmd []byte, wc *writeconcern.WriteConcern) []byte {
	if wc == nil || (wc.W == nil && wc.Journal == nil) {
		return cmd
	}
	idx, cmd := bsoncore.AppendDocumentElementStart(cmd, "writeConcern")
	switch w := wc.W.(type) {
	case int:
		cmd = bsoncore.AppendInt32Element(cmd, "w", int32(w)) //nolint:gosec // the driver refuses w outside int32 when it parses the URI
	case string:
		cmd = bsoncore.AppendStringElement(cmd, "w", w)
	}
	if wc.Journal != nil {
		cmd = bsoncore.AppendBooleanElement(cmd, "j", *wc.Journal)
	}
	cmd, _ = bsoncore.AppendDocumentEnd(cmd, idx)
	return cmd
}
