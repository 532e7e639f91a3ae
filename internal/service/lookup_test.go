package service_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/cursor"
	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/principal"
	"github.com/permission-mongo/permission-mongo/internal/service"
	"github.com/permission-mongo/permission-mongo/internal/store"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

// lookupPolicy has one role per policy shape: a plain tenant filter with a
// denied field, an $or over the caller's id, a null comparison on a dotted
// path (where engines disagree with MongoDB over arrays, so the by-_id
// shapes must not be taken), and two roles whose field rules differ by
// document.
const lookupPolicy = `
roles: {tenant: {}, mine: {}, live: {}, both: {}, pub: {}}
policies:
  docs:
    tenant:
      actions: [read]
      when: "resource.tenant_id == user.tenant_id"
      fields: {deny: [ssn]}
    mine:
      actions: [read]
      when: "resource.tenant_id == user.tenant_id && (resource.owner == user.id || resource.public == true)"
    live:
      actions: [read]
      when: "resource.tenant_id == user.tenant_id && resource.meta.archived == nil"
    both:
      actions: [read]
      when: "resource.owner == user.id"
      fields: {deny: [email]}
    pub:
      actions: [read]
      when: "resource.public == true"
      fields: {deny: [ssn]}
`

// recordingStore is the real store, noting which calls reads make.
type recordingStore struct {
	*store.Documents
	mu      sync.Mutex
	findOne []string // filters of FindOne, as Extended JSON
}

func (r *recordingStore) FindOne(ctx context.Context, coll string, filter any) (bson.Raw, error) {
	b, err := bson.MarshalExtJSON(filter, false, false)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.findOne = append(r.findOne, string(b))
	r.mu.Unlock()
	return r.Documents.FindOne(ctx, coll, filter)
}

func (r *recordingStore) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.findOne = nil
}

// lookupSetup stores a mix of documents and returns two services on them:
// one with the by-_id shapes (LookupByIDOnly), one without, and the ids.
func lookupSetup(t *testing.T) (byID *service.Service, rec *recordingStore, plain *service.Service, ids []string) {
	t.Helper()
	set, err := policy.Parse(map[string][]byte{"p.yml": []byte(lookupPolicy)})
	require.NoError(t, err)
	_, db := testenv.Mongo(t)
	var docs []any
	for i := 0; i < 40; i++ {
		var id any = bson.NewObjectID()
		if i%5 == 4 {
			id = fmt.Sprintf("s%02d", i) // string ids sort after ObjectIds
		}
		d := bson.D{{Key: "_id", Value: id}, {Key: "tenant_id", Value: []string{"t1", "t2"}[i%2]},
			{Key: "owner", Value: []string{"u1", "u2", "u3"}[i%3]}, {Key: "public", Value: i%4 == 0},
			{Key: "email", Value: fmt.Sprintf("e%d@x", i)}, {Key: "ssn", Value: "123"}, {Key: "n", Value: int32(i)}}
		switch i % 6 {
		case 1:
			d = append(d, bson.E{Key: "meta", Value: bson.D{{Key: "archived", Value: true}}})
		case 2:
			// The null-path difference: an array of documents without archived.
			d = append(d, bson.E{Key: "meta", Value: bson.A{bson.D{{Key: "x", Value: 1}}}})
		case 3:
			d = append(d, bson.E{Key: "meta", Value: bson.A{}})
		case 4:
			d = append(d, bson.E{Key: "meta", Value: bson.A{int32(1), bson.D{{Key: "archived", Value: nil}}}})
		case 5:
			d = append(d, bson.E{Key: "meta", Value: bson.A{bson.D{{Key: "archived", Value: true}}, bson.D{{Key: "x", Value: 1}}}})
		case 0:
			d = append(d, bson.E{Key: "meta", Value: bson.A{"x"}})
		}
		docs = append(docs, d)
		switch v := id.(type) {
		case bson.ObjectID:
			ids = append(ids, v.Hex())
		case string:
			ids = append(ids, v)
		}
	}
	_, err = db.Collection("docs").InsertMany(context.Background(), docs)
	require.NoError(t, err)
	codec := cursor.NewCodec([]byte(strings.Repeat("s", 32)))
	codec.Order = cursor.OrderOf(testenv.Backend())
	rec = &recordingStore{Documents: store.NewDocuments(db, 10*time.Second)}
	byID = service.New(service.Params{Store: rec, Policies: set, Cursors: codec, LookupByIDOnly: true})
	plain = service.New(service.Params{Store: store.NewDocuments(db, 10*time.Second), Policies: set, Cursors: codec})
	return byID, rec, plain, append(ids, "missing", bson.NewObjectID().Hex())
}

var lookupCallers = []*principal.Principal{
	{ID: "u1", TenantID: "t1", Roles: []string{"tenant"}},
	{ID: "u1", TenantID: "t1", Roles: []string{"mine"}},
	{ID: "u2", TenantID: "t1", Roles: []string{"live"}},
	{ID: "u1", TenantID: "t1", Roles: []string{"both", "pub"}},
}

// The by-_id shapes answer exactly what the policy filter answers: for every
// caller and document, the same document with the same fields, or the same
// 404.
func TestLookupByIDOnlyGetAnswersLikeTheFilter(t *testing.T) {
	byID, rec, plain, ids := lookupSetup(t)
	ctx := context.Background()
	shown, hidden := 0, 0
	for _, p := range lookupCallers {
		for _, id := range ids {
			got, gotErr := byID.Get(ctx, p, "docs", id, nil)
			want, wantErr := plain.Get(ctx, p, "docs", id, nil)
			require.Equal(t, apperr.KindOf(wantErr), apperr.KindOf(gotErr), "%v reading %s: %v vs %v", p.Roles, id, gotErr, wantErr)
			require.Equal(t, want.String(), got.String(), "%v reading %s", p.Roles, id)
			if gotErr == nil {
				shown++
				if p.Roles[0] == "tenant" {
					require.Nil(t, got.Lookup("ssn").Value, "ssn is denied to the tenant role")
				}
			} else {
				require.Equal(t, apperr.KindNotFound, apperr.KindOf(gotErr))
				hidden++
			}
		}
	}
	require.NotZero(t, shown)
	require.NotZero(t, hidden)

	// Another tenant's document is a 404, though the server was asked by _id
	// alone and returned it.
	rec.reset()
	_, err := byID.Get(ctx, lookupCallers[0], "docs", ids[1], nil) // tenant t2
	require.Equal(t, apperr.KindNotFound, apperr.KindOf(err))
	require.Len(t, rec.findOne, 1)
	require.NotContains(t, rec.findOne[0], "tenant_id", "the lookup is by _id alone")
	require.Contains(t, rec.findOne[0], ids[1])

	// A policy comparing a dotted path with null keeps the filter query.
	rec.reset()
	_, _ = byID.Get(ctx, lookupCallers[2], "docs", ids[1], nil)
	require.Len(t, rec.findOne, 1)
	require.Contains(t, rec.findOne[0], "$and", "the policy filter goes to the server")
}
