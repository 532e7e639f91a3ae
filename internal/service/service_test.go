package service_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/principal"
	"github.com/permission-mongo/permission-mongo/internal/service"
	"github.com/permission-mongo/permission-mongo/internal/store"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

const testPolicy = `
version: "1"
roles:
  hr: {}
policies:
  staff:
    hr:
      actions: [create, read, update, delete]
      when: "resource.tenant_id == user.tenant_id"
      fields:
        deny_write: [salary]
    presets:
      tenant_id: user.tenant_id
`

// racingStore runs a concurrent write just before the service's write, to
// exercise the compare-and-swap.
type racingStore struct {
	*store.Documents
	before func()
}

func (r *racingStore) UpdateOne(ctx context.Context, coll string, filter, update any) (bson.Raw, error) {
	if r.before != nil {
		r.before()
	}
	return r.Documents.UpdateOne(ctx, coll, filter, update)
}

func (r *racingStore) ReplaceOne(ctx context.Context, coll string, filter, doc any) (bson.Raw, error) {
	if r.before != nil {
		f := r.before
		r.before = nil // the undo of a refused update is not raced
		f()
	}
	return r.Documents.ReplaceOne(ctx, coll, filter, doc)
}

func setup(t *testing.T) (*service.Service, *racingStore, *store.Database) {
	t.Helper()
	db := testenv.Store(t)
	rs := &racingStore{Documents: db.Documents(5 * time.Second)}
	return newService(t, testPolicy, rs), rs, db
}

var hr = &principal.Principal{ID: "h", TenantID: "t1", Roles: []string{"hr"}}

func kind(err error) apperr.Kind { return apperr.KindOf(err) }

// createA creates staff document "a" as hr.
func createA(t *testing.T, svc *service.Service) {
	t.Helper()
	if _, err := svc.Create(t.Context(), hr, "staff", bson.D{{Key: "_id", Value: "a"}, {Key: "n", Value: 1}}); err != nil {
		t.Fatal(err)
	}
}

// concurrentWrite arms rs to write field, and an updated_at an hour ahead,
// into staff document "a" right before the service's next write: the
// change its compare-and-swap must notice.
func concurrentWrite(t *testing.T, rs *racingStore, db *store.Database, field bson.E) {
	t.Helper()
	rs.before = func() {
		rs.before = nil
		_, err := db.Collection("staff").UpdateOne(t.Context(), bson.D{{Key: "_id", Value: "a"}},
			bson.D{{Key: "$set", Value: bson.D{field, {Key: "updated_at", Value: bson.NewDateTimeFromTime(time.Now().Add(time.Hour))}}}})
		if err != nil {
			t.Error(err)
		}
	}
}

func TestPatchConcurrentChangeIsConflict(t *testing.T) {
	svc, rs, db := setup(t)
	ctx := t.Context()
	createA(t, svc)
	concurrentWrite(t, rs, db, bson.E{Key: "n", Value: 99})
	_, err := svc.Patch(ctx, hr, "staff", "a", bson.D{{Key: "n", Value: 2}})
	if kind(err) != apperr.KindConflict {
		t.Fatalf("err = %v, want conflict", err)
	}
	var m bson.M
	_ = db.Collection("staff").FindOne(ctx, bson.D{{Key: "_id", Value: "a"}}, store.Find{}, &m)
	if m["n"] != int32(99) {
		t.Fatalf("concurrent write lost: %v", m)
	}
}

func TestReplaceConcurrentChangeIsConflict(t *testing.T) {
	svc, rs, db := setup(t)
	ctx := t.Context()
	createA(t, svc)
	concurrentWrite(t, rs, db, bson.E{Key: "salary", Value: 5})
	_, err := svc.Replace(ctx, hr, "staff", "a", bson.D{{Key: "tenant_id", Value: "t1"}, {Key: "n", Value: 2}})
	if kind(err) != apperr.KindConflict {
		t.Fatalf("err = %v, want conflict", err)
	}
}

func TestRefusedUpdateIsUndone(t *testing.T) {
	svc, _, db := setup(t)
	ctx := t.Context()
	createA(t, svc)
	var before, after bson.Raw
	_ = db.Collection("staff").FindOne(ctx, bson.D{{Key: "_id", Value: "a"}}, store.Find{}, &before)
	_, err := svc.Patch(ctx, hr, "staff", "a", bson.D{{Key: "$set", Value: bson.D{{Key: "tenant_id", Value: "t2"}, {Key: "n", Value: 5}}}})
	if kind(err) != apperr.KindForbidden {
		t.Fatalf("err = %v, want forbidden", err)
	}
	_ = db.Collection("staff").FindOne(ctx, bson.D{{Key: "_id", Value: "a"}}, store.Find{}, &after)
	if !bytes.Equal(before, after) {
		t.Fatalf("not restored:\n%v\n%v", before, after)
	}
}

func TestDecisionsAndIDs(t *testing.T) {
	svc, _, _ := setup(t)
	ctx := t.Context()
	nobody := &principal.Principal{ID: "x", TenantID: "t1", Roles: []string{"nobody"}}
	if _, err := svc.Get(ctx, nobody, "staff", "a", nil); kind(err) != apperr.KindForbidden {
		t.Fatalf("ungranted get: %v", err)
	}
	// A caller without a tenant matches nothing: 404, never a query on
	// owner-less documents.
	noTenant := &principal.Principal{ID: "x", Roles: []string{"hr"}}
	if _, err := svc.Get(ctx, noTenant, "staff", "a", nil); kind(err) != apperr.KindNotFound {
		t.Fatalf("tenantless get: %v", err)
	}
	if _, err := svc.Create(ctx, noTenant, "staff", bson.D{{Key: "n", Value: 1}}); kind(err) != apperr.KindForbidden {
		t.Fatalf("tenantless create: %v", err)
	}
	page, err := svc.Find(ctx, noTenant, "staff", service.FindRequest{})
	if err != nil || len(page.Docs) != 0 {
		t.Fatalf("tenantless find: %v %v", page, err)
	}
	id, err := service.ParseID("0123456789abcdef01234567")
	if _, ok := id.(bson.ObjectID); !ok || err != nil {
		t.Fatalf("24-hex id: %T %v", id, err)
	}
	id, _ = service.ParseID("0123456789abcdef0123456z")
	if _, ok := id.(string); !ok {
		t.Fatalf("non-hex id: %T", id)
	}
	if _, err := service.ParseID(""); !errors.Is(err, err) || kind(err) != apperr.KindInvalid {
		t.Fatalf("empty id: %v", err)
	}
}
