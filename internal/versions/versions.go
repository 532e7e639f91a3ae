// Package versions keeps the previous states of documents: before every
// update, replace, delete and restore of a versioned collection the service
// stores the document as it was, so that it can be listed, read (with the
// caller's read rules applied by the service) and restored.
package versions

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/store"
)

// Version is one stored previous state of a document.
type Version struct {
	Collection string        `bson:"collection"`
	DocID      bson.RawValue `bson:"doc_id"`
	Version    int64         `bson:"version"`
	Op         string        `bson:"op"` // update | replace | delete | restore
	Doc        bson.Raw      `bson:"doc"`
	UpdatedBy  string        `bson:"updated_by"`
	UpdatedAt  time.Time     `bson:"updated_at"`
}

// Summary is what a version list shows.
type Summary struct {
	Version   int64     `json:"version"`
	Op        string    `json:"op"`
	UpdatedBy string    `json:"updated_by"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Store writes and reads versions in one collection shared by every
// versioned collection.
type Store struct {
	Coll *store.Collection
	// Keep bounds the versions kept per document (0 = all); the oldest are
	// dropped after each save. Retention in time is a TTL index (EnsureIndexes).
	Keep int
}

// EnsureIndexes creates the unique (collection, doc_id, version) index that
// makes version numbers safe under concurrent saves, and, when retention > 0,
// a TTL index on updated_at. ttl reports whether the TTL index exists: a
// backend without TTL indexes (FerretDB) keeps versions by count only (Keep).
func (s *Store) EnsureIndexes(ctx context.Context, retention time.Duration) (ttl bool, err error) {
	err = s.Coll.CreateIndex(ctx, store.Index{
		Name: "pm_versions_key", Unique: true,
		Keys: bson.D{{Key: "collection", Value: 1}, {Key: "doc_id", Value: 1}, {Key: "version", Value: -1}},
	})
	if err != nil || retention <= 0 {
		return false, store.Translate(err)
	}
	secs := int32(retention.Seconds())
	err = s.Coll.CreateIndex(ctx, store.Index{Name: "pm_versions_ttl", Keys: bson.D{{Key: "updated_at", Value: 1}}, ExpireAfterSeconds: &secs})
	if err = store.Translate(err); apperr.KindOf(err) == apperr.KindNotSupported {
		return false, nil
	}
	return err == nil, err
}

func idValue(id any) (bson.RawValue, error) {
	t, b, err := bson.MarshalValue(id)
	if err != nil {
		return bson.RawValue{}, apperr.Invalid("bad document id")
	}
	return bson.RawValue{Type: t, Value: b}, nil
}

// Save stores prev, the state before op, as the next version of the document
// and returns its number. Concurrent saves of the same document get distinct
// numbers: a duplicate-key conflict on the unique index retries, and so does
// a transient conflict between the racing inserts (DocumentDB answers some
// of them with a deadlock error).
func (s *Store) Save(ctx context.Context, collection string, docID any, prev bson.Raw, op, actor string, at time.Time) (int64, error) {
	id, err := idValue(docID)
	if err != nil {
		return 0, err
	}
	for attempt := 0; attempt < 8; attempt++ {
		last, err := s.latest(ctx, collection, id)
		if err != nil {
			return 0, err
		}
		v := Version{Collection: collection, DocID: id, Version: last + 1, Op: op, Doc: prev, UpdatedBy: actor, UpdatedAt: at.UTC()}
		err = s.Coll.InsertOne(ctx, v)
		if store.IsDuplicateKey(err) || store.IsTransientConflict(err) {
			continue
		}
		if err != nil {
			return 0, store.Translate(err)
		}
		if s.Keep > 0 && v.Version > int64(s.Keep) {
			_, _ = s.Coll.DeleteMany(ctx, bson.D{{Key: "collection", Value: collection}, {Key: "doc_id", Value: id},
				{Key: "version", Value: bson.D{{Key: "$lte", Value: v.Version - int64(s.Keep)}}}})
		}
		return v.Version, nil
	}
	return 0, apperr.New(apperr.KindConflict, "too many concurrent changes to this document")
}

func (s *Store) latest(ctx context.Context, collection string, id bson.RawValue) (int64, error) {
	var v Version
	err := s.Coll.FindOne(ctx, bson.D{{Key: "collection", Value: collection}, {Key: "doc_id", Value: id}},
		store.Find{Sort: bson.D{{Key: "version", Value: -1}}, Projection: bson.D{{Key: "version", Value: 1}}}, &v)
	if errors.Is(err, store.ErrNoDocuments) {
		return 0, nil
	}
	return v.Version, store.Translate(err)
}

// List returns the versions of a document, newest first.
func (s *Store) List(ctx context.Context, collection string, docID any, limit int64) ([]Summary, error) {
	// A listing shows no states: leaving them on the server keeps a long
	// history of large documents cheap to list.
	vs, err := s.history(ctx, collection, docID, limit, bson.D{{Key: "doc", Value: 0}})
	if err != nil {
		return nil, err
	}
	out := make([]Summary, len(vs))
	for i := range vs {
		out[i] = vs[i].Summary()
	}
	return out, nil
}

// ListDocs returns the versions of a document with their stored states,
// newest first, for callers that must judge each state.
func (s *Store) ListDocs(ctx context.Context, collection string, docID any, limit int64) ([]Version, error) {
	return s.history(ctx, collection, docID, limit, nil)
}

// history reads up to limit versions of a document, newest first, with the
// fields projection leaves (all when nil).
func (s *Store) history(ctx context.Context, collection string, docID any, limit int64, projection bson.D) ([]Version, error) {
	id, err := idValue(docID)
	if err != nil {
		return nil, err
	}
	var vs []Version
	err = s.Coll.FindAll(ctx, bson.D{{Key: "collection", Value: collection}, {Key: "doc_id", Value: id}},
		store.Find{Sort: bson.D{{Key: "version", Value: -1}}, Limit: limit, Projection: projection}, &vs)
	if err != nil {
		return nil, store.Translate(err)
	}
	return vs, nil
}

// Summary is the list entry of a version.
func (v *Version) Summary() Summary {
	return Summary{Version: v.Version, Op: v.Op, UpdatedBy: v.UpdatedBy, UpdatedAt: v.UpdatedAt}
}

// Get returns one version; NOT_FOUND when it does not exist.
func (s *Store) Get(ctx context.Context, collection string, docID any, version int64) (*Version, error) {
	id, err := idValue(docID)
	if err != nil {
		return nil, err
	}
	var v Version
	err = s.Coll.FindOne(ctx, bson.D{{Key: "collection", Value: collection}, {Key: "doc_id", Value: id}, {Key: "version", Value: version}}, store.Find{}, &v)
	if errors.Is(err, store.ErrNoDocuments) {
		return nil, apperr.NotFound("no such version")
	}
	if err != nil {
		return nil, store.Translate(err)
	}
	return &v, nil
}
