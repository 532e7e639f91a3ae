package store

import (
	"context"
	"errors"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// InsertUnordered stores docs with one unordered insert (InsertMany with
// ordered: false), for streamed imports: a document the server refuses
// (duplicate _id, validation) does not stop the others.
//
// failed maps an index in docs to the translated error of that document;
// every other document was written. err is set when the insert failed as a
// whole (database unreachable, timeout, write concern error): which
// documents of docs were written is then unknown.
func (d *Documents) InsertUnordered(ctx context.Context, coll string, docs []bson.Raw) (failed map[int]error, err error) {
	if len(docs) == 0 {
		return nil, nil
	}
	ctx, cancel := d.ctx(ctx)
	defer cancel()
	_, err = d.coll(coll).InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err == nil {
		return nil, nil
	}
	var bwe mongo.BulkWriteException
	if errors.As(err, &bwe) && bwe.WriteConcernError == nil && len(bwe.WriteErrors) > 0 {
		failed = make(map[int]error, len(bwe.WriteErrors))
		for _, we := range bwe.WriteErrors {
			if we.Index < 0 || we.Index >= len(docs) {
				// Not attributable to a document: the outcome is unknown.
				return nil, Translate(err)
			}
			failed[we.Index] = Translate(we.WriteError)
		}
		return failed, nil
	}
	return nil, Translate(err)
}
