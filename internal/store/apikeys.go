package store

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/permission-mongo/permission-mongo/internal/auth"
	"github.com/permission-mongo/permission-mongo/internal/principal"
)

// APIKeysCollection is the default collection of API keys created at run
// time (POST /admin/api-keys). Its pm_ prefix keeps it out of the document
// API.
const APIKeysCollection = "pm_api_keys"

// APIKeys stores API keys in a MongoDB collection. It implements
// auth.KeyStore. Only the SHA-256 of each secret is stored.
type APIKeys struct {
	coll *mongo.Collection
	deadline
}

// NewAPIKeys returns the key store on coll. timeout <= 0 means 5s.
func NewAPIKeys(coll *mongo.Collection, timeout time.Duration) *APIKeys {
	return &APIKeys{coll: coll, deadline: newDeadline(timeout, 5*time.Second)}
}

// keyDoc is the stored form of a key.
type keyDoc struct {
	ID           string         `bson:"_id"`
	Name         string         `bson:"name"`
	SecretSHA256 string         `bson:"secret_sha256"`
	PrincipalID  string         `bson:"principal_id"`
	TenantID     string         `bson:"tenant_id,omitempty"`
	Roles        []string       `bson:"roles"`
	Claims       map[string]any `bson:"claims,omitempty"`
	CreatedBy    string         `bson:"created_by,omitempty"`
	CreatedAt    time.Time      `bson:"created_at"`
	ExpiresAt    *time.Time     `bson:"expires_at,omitempty"`
	RevokedAt    *time.Time     `bson:"revoked_at,omitempty"`
}

// StoredKey is a key record with who created it.
type StoredKey struct {
	auth.KeyRecord
	CreatedBy string
}

func (d *keyDoc) record() (*StoredKey, error) {
	claims, err := principal.NormalizeClaims(d.Claims)
	if err != nil {
		return nil, err
	}
	return &StoredKey{KeyRecord: auth.KeyRecord{
		ID: d.ID, Name: d.Name, SecretSHA256: d.SecretSHA256,
		Principal: principal.Principal{ID: d.PrincipalID, TenantID: d.TenantID, Roles: d.Roles, Claims: claims},
		CreatedAt: d.CreatedAt.UTC(), ExpiresAt: utc(d.ExpiresAt), RevokedAt: utc(d.RevokedAt),
	}, CreatedBy: d.CreatedBy}, nil
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// Get implements auth.KeyStore.
func (k *APIKeys) Get(ctx context.Context, id string) (*auth.KeyRecord, error) {
	if !auth.ValidKeyID(id) {
		return nil, auth.ErrKeyNotFound
	}
	ctx, cancel := k.ctx(ctx)
	defer cancel()
	var d keyDoc
	err := k.coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, auth.ErrKeyNotFound
	}
	if err != nil {
		return nil, Translate(err)
	}
	sk, err := d.record()
	if err != nil {
		return nil, err
	}
	return &sk.KeyRecord, nil
}

// Create stores a new key record.
func (k *APIKeys) Create(ctx context.Context, r *auth.KeyRecord, createdBy string) error {
	ctx, cancel := k.ctx(ctx)
	defer cancel()
	d := keyDoc{
		ID: r.ID, Name: r.Name, SecretSHA256: r.SecretSHA256,
		PrincipalID: r.Principal.ID, TenantID: r.Principal.TenantID, Roles: r.Principal.Roles, Claims: r.Principal.Claims,
		CreatedBy: createdBy, CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt,
	}
	if d.Roles == nil {
		d.Roles = []string{}
	}
	_, err := k.coll.InsertOne(ctx, d)
	return Translate(err)
}

// List returns the keys of a tenant, newest first (at most limit).
func (k *APIKeys) List(ctx context.Context, tenantID string, limit int64) ([]*StoredKey, error) {
	ctx, cancel := k.ctx(ctx)
	defer cancel()
	cur, err := k.coll.Find(ctx, bson.D{{Key: "tenant_id", Value: tenantID}},
		options.Find().SetSort(bson.D{{Key: "created_at", Value: -1}, {Key: "_id", Value: 1}}).SetLimit(limit))
	if err != nil {
		return nil, Translate(err)
	}
	defer cur.Close(ctx)
	var out []*StoredKey
	for cur.Next(ctx) {
		var d keyDoc
		if err := cur.Decode(&d); err != nil {
			return nil, Translate(err)
		}
		sk, err := d.record()
		if err != nil {
			return nil, err
		}
		out = append(out, sk)
	}
	return out, Translate(cur.Err())
}

// Revoke marks the key of a tenant as revoked at now. It reports false when
// the tenant has no such key. Revoking twice keeps the first time.
func (k *APIKeys) Revoke(ctx context.Context, tenantID, id string, now time.Time) (bool, error) {
	if !auth.ValidKeyID(id) {
		return false, nil
	}
	ctx, cancel := k.ctx(ctx)
	defer cancel()
	filter := bson.D{{Key: "_id", Value: id}, {Key: "tenant_id", Value: tenantID}}
	res, err := k.coll.UpdateOne(ctx, append(filter, bson.E{Key: "revoked_at", Value: nil}),
		bson.D{{Key: "$set", Value: bson.D{{Key: "revoked_at", Value: now}}}})
	if err != nil {
		return false, Translate(err)
	}
	if res.MatchedCount == 1 {
		return true, nil
	}
	n, err := k.coll.CountDocuments(ctx, filter)
	return n == 1, Translate(err)
}
