package service_test

import (
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/principal"
	"github.com/permission-mongo/permission-mongo/internal/service"
	"github.com/permission-mongo/permission-mongo/internal/store"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

const importPolicy = `
version: "1"
roles:
  hr: {}
  reader: {}
policies:
  staff:
    hr:
      actions: [create, read]
      when: "resource.tenant_id == user.tenant_id"
      fields:
        deny_write: [salary]
    reader:
      actions: [read]
    presets:
      tenant_id: user.tenant_id
`

// items is an ImportSource over a fixed list; after the list it returns
// end (io.EOF when nil).
type items struct {
	list  []service.ImportItem
	end   error
	reads int
}

func (s *items) Next() (service.ImportItem, error) {
	s.reads++
	if len(s.list) == 0 {
		if s.end != nil {
			return service.ImportItem{}, s.end
		}
		return service.ImportItem{}, io.EOF
	}
	it := s.list[0]
	s.list = s.list[1:]
	return it, nil
}

func doc(kv ...any) bson.D {
	out := bson.D{}
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, bson.E{Key: kv[i].(string), Value: kv[i+1]})
	}
	return out
}

// plainStore hides InsertUnordered: the import falls back to one Insert per
// document.
type plainStore struct{ service.Store }

func importSetup(t *testing.T, plain bool) (*service.Service, *store.Database) {
	t.Helper()
	db := testenv.Store(t)
	var st service.Store = db.Documents(5 * time.Second)
	if plain {
		st = plainStore{st}
	}
	return newService(t, importPolicy, st), db
}

var importer = &principal.Principal{ID: "h", TenantID: "t1", Roles: []string{"hr"}}

func TestImportChecksEachLineAndWritesInChunks(t *testing.T) {
	for _, plain := range []bool{false, true} {
		name := "bulk"
		if plain {
			name = "one-by-one"
		}
		t.Run(name, func(t *testing.T) {
			svc, db := importSetup(t, plain)
			src := &items{list: []service.ImportItem{
				{Line: 1, Doc: doc("_id", "a", "name", "A")},
				{Line: 2, Err: apperr.Invalid("malformed JSON")},
				{Line: 4, Doc: doc("_id", "b", "salary", 1)},          // deny_write
				{Line: 5, Doc: doc("_id", "c", "tenant_id", "t2")},    // other tenant
				{Line: 6, Doc: doc("_id", "d", "created_by", "x")},    // stamp
				{Line: 7, Doc: doc("_id", "a", "name", "dup")},        // duplicate, same chunk
				{Line: 8, Doc: doc("_id", "e", "tenant_id", "t1")},    // echoes the preset
				{Line: 9, Doc: doc("_id", "f", "$where", "1")},        // $-key
				{Line: 10, Doc: doc("_id", "g")},                      // next chunk
				{Line: 11, Doc: doc("_id", "e", "name", "dup again")}, // duplicate, other chunk
			}}
			res, err := svc.Import(t.Context(), importer, "staff", src, service.ImportOptions{Chunk: 2})
			if err != nil {
				t.Fatal(err)
			}
			if res.Inserted != 3 || res.FailedCount != 7 || len(res.Failed) != 7 || res.ImportID == "" || res.LastLine != 11 || res.AuditID != "" {
				t.Fatalf("result %+v", res)
			}
			want := map[int64]apperr.Kind{2: apperr.KindInvalid, 4: apperr.KindForbidden, 5: apperr.KindForbidden,
				6: apperr.KindInvalid, 7: apperr.KindConflict, 9: apperr.KindInvalid, 11: apperr.KindConflict}
			for i, f := range res.Failed {
				if i > 0 && res.Failed[i-1].Line >= f.Line {
					t.Fatalf("failures out of line order: %+v", res.Failed)
				}
				if k, ok := want[f.Line]; !ok || apperr.KindOf(f.Err) != k {
					t.Fatalf("line %d: %v (kind %v)", f.Line, f.Err, apperr.KindOf(f.Err))
				}
			}
			n, _ := db.Collection("staff").Count(t.Context(), bson.D{})
			if n != 3 {
				t.Fatalf("%d documents stored", n)
			}
			var a bson.M
			if err := db.Collection("staff").FindOne(t.Context(), bson.D{{Key: "_id", Value: "a"}}, store.Find{}, &a); err != nil {
				t.Fatal(err)
			}
			if a["tenant_id"] != "t1" || a["created_by"] != "h" || a["name"] != "A" || a["created_at"] == nil {
				t.Fatalf("stored %v", a)
			}
		})
	}
}

func TestImportFailureListIsCapped(t *testing.T) {
	svc, _ := importSetup(t, false)
	src := &items{}
	for i := 1; i <= 7; i++ {
		src.list = append(src.list, service.ImportItem{Line: int64(i), Err: apperr.Invalid("bad")})
	}
	res, err := svc.Import(t.Context(), importer, "staff", src, service.ImportOptions{MaxFailures: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.FailedCount != 7 || len(res.Failed) != 3 || res.Failed[2].Line != 3 {
		t.Fatalf("%+v", res)
	}
}

func TestImportNeedsCreateBeforeReading(t *testing.T) {
	svc, _ := importSetup(t, false)
	src := &items{list: []service.ImportItem{{Line: 1, Doc: doc("x", 1)}}}
	reader := &principal.Principal{ID: "r", TenantID: "t1", Roles: []string{"reader"}}
	_, err := svc.Import(t.Context(), reader, "staff", src, service.ImportOptions{})
	if apperr.KindOf(err) != apperr.KindForbidden || src.reads != 0 {
		t.Fatalf("err %v, %d reads", err, src.reads)
	}
}

// A source that fails mid-stream stops the import: the chunks written stay
// (counted in Inserted), the pending one is dropped.
func TestImportStopsWhenTheSourceFails(t *testing.T) {
	svc, db := importSetup(t, false)
	src := &items{end: errors.New("client went away")}
	for i := 1; i <= 5; i++ {
		src.list = append(src.list, service.ImportItem{Line: int64(i), Doc: doc("n", i)})
	}
	res, err := svc.Import(t.Context(), importer, "staff", src, service.ImportOptions{Chunk: 3})
	if err == nil || res == nil || res.Inserted != 3 || res.LastLine != 5 {
		t.Fatalf("res %+v, err %v", res, err)
	}
	n, _ := db.Collection("staff").Count(t.Context(), bson.D{})
	if n != 3 {
		t.Fatalf("%d documents stored, want the 3 reported", n)
	}
}

// TestImportFailuresInLineOrder: a duplicate found when its chunk is
// written is listed before the bad lines read after it, also when the list
// is capped and when the import stops early.
func TestImportFailuresInLineOrder(t *testing.T) {
	svc, _ := importSetup(t, false)
	ctx := t.Context()
	if res, err := svc.Import(ctx, importer, "staff", &items{list: []service.ImportItem{{Line: 1, Doc: doc("_id", "a")}}}, service.ImportOptions{}); err != nil || res.Inserted != 1 {
		t.Fatalf("seed: %+v %v", res, err)
	}
	lines := func() []service.ImportItem {
		return []service.ImportItem{
			{Line: 1, Doc: doc("_id", "a")}, // duplicate: known only when the chunk is written
			{Line: 2, Err: apperr.Invalid("malformed JSON")},
			{Line: 3, Doc: doc("_id", "b")},
			{Line: 4, Doc: doc("_id", "c", "salary", 1)}, // deny_write
		}
	}
	order := func(res *service.ImportResult) []int64 {
		var out []int64
		for _, f := range res.Failed {
			out = append(out, f.Line)
		}
		return out
	}
	res, err := svc.Import(ctx, importer, "staff", &items{list: lines()}, service.ImportOptions{})
	if err != nil || res.FailedCount != 3 || !slices.Equal(order(res), []int64{1, 2, 4}) || apperr.KindOf(res.Failed[0].Err) != apperr.KindConflict {
		t.Fatalf("failures %v (count %d), err %v", order(res), res.FailedCount, err)
	}
	res, err = svc.Import(ctx, importer, "staff", &items{list: lines()}, service.ImportOptions{MaxFailures: 2})
	if err != nil || res.FailedCount != 4 || !slices.Equal(order(res), []int64{1, 2}) { // b is a duplicate now too
		t.Fatalf("capped: %v (count %d), err %v", order(res), res.FailedCount, err)
	}
	// The source fails after line 4: the chunk is dropped, the failures
	// read so far are still listed.
	res, err = svc.Import(ctx, importer, "staff", &items{list: lines(), end: errors.New("connection reset")}, service.ImportOptions{})
	if err == nil || res.Inserted != 0 || !slices.Equal(order(res), []int64{2, 4}) {
		t.Fatalf("stopped: %v, inserted %d, err %v", order(res), res.Inserted, err)
	}
}
