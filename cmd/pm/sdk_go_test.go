package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	pmsdk "github.com/permission-mongo/permission-mongo/sdk/go"
)

// The Go SDK (its own module, sdk/go, imported through go.mod's replace
// directive) against a real proxy on the test engine: the same server and
// policy as the Python suite (sdk_server_test.go).
func TestGoSDK(t *testing.T) {
	s := startSDKServer(t)
	a := pmsdk.New(s.url, s.keys["tenant-a"])
	b := pmsdk.New(s.url, s.keys["tenant-b"])
	admin := pmsdk.New(s.url, s.keys["admin"])
	ctx := t.Context()

	t.Run("crud", func(t *testing.T) {
		var created pmsdk.Doc
		if err := a.Insert(ctx, "notes", pmsdk.M{"_id": "n1", "text": "hello", "email": "ann@x.io",
			"at": time.Date(2024, 3, 4, 10, 0, 0, 123e6, time.UTC)}, &created); err != nil {
			t.Fatal(err)
		}
		if created["tenant_id"] != "ta" || created["email"] != "a**@x.io" {
			t.Fatalf("preset and mask: %v", created)
		}
		if _, ok := created["created_at"].(time.Time); !ok {
			t.Fatalf("created_at decodes to time.Time: %#v", created["created_at"])
		}
		var got struct {
			ID   string     `json:"_id"`
			Text string     `json:"text"`
			At   pmsdk.Date `json:"at"`
		}
		if err := a.Get(ctx, "notes", "n1", &got); err != nil || got.Text != "hello" ||
			!got.At.Equal(time.Date(2024, 3, 4, 10, 0, 0, 123e6, time.UTC)) {
			t.Fatalf("%+v %v", got, err)
		}
		// Servers before ETag support send none (""); with ETags, a stale
		// If-Match is refused and writes nothing.
		if tag, err := a.GetWithETag(ctx, "notes", "n1", nil); err != nil {
			t.Fatal(err)
		} else if tag != "" {
			if err := a.Update(pmsdk.WithIfMatch(ctx, tag), "notes", "n1", pmsdk.M{"n": 0}, nil); err != nil {
				t.Fatal(err)
			}
			if err := a.Update(pmsdk.WithIfMatch(ctx, tag), "notes", "n1", pmsdk.M{"n": 5}, nil); !errors.Is(err, pmsdk.ErrPreconditionFailed) {
				t.Fatalf("stale If-Match: %v", err)
			}
			if err := a.Update(ctx, "notes", "n1", pmsdk.M{"$unset": pmsdk.M{"n": ""}}, nil); err != nil {
				t.Fatal(err)
			}
		}
		var only pmsdk.Doc
		if err := a.Get(ctx, "notes", "n1", &only, "text"); err != nil || only["at"] != nil || only["text"] != "hello" {
			t.Fatalf("fields: %v %v", only, err)
		}
		if err := b.Get(ctx, "notes", "n1", &got); !errors.Is(err, pmsdk.ErrNotFound) {
			t.Fatalf("another tenant's document: %v", err)
		}
		var upd pmsdk.Doc
		if err := a.Update(ctx, "notes", "n1", pmsdk.M{"$set": pmsdk.M{"text": "bye"}, "$inc": pmsdk.M{"n": 2}}, &upd); err != nil ||
			upd["text"] != "bye" || upd["n"] != int64(2) {
			t.Fatalf("%v %v", upd, err)
		}
		err := a.Update(ctx, "notes", "n1", pmsdk.M{"$set": pmsdk.M{"locked": true}}, nil)
		var e *pmsdk.Error
		if !errors.Is(err, pmsdk.ErrForbidden) || !errors.As(err, &e) || e.Status != 403 || e.RequestID == "" {
			t.Fatalf("deny_write: %v", err)
		}
		if err := a.Replace(ctx, "notes", "n1", pmsdk.M{"text": "whole", "tenant_id": "ta"}, &upd); err != nil || upd["n"] != nil {
			t.Fatalf("replace: %v %v", upd, err)
		}
		if err := a.Delete(ctx, "notes", "n1"); err != nil {
			t.Fatal(err)
		}
		if err := a.Delete(ctx, "notes", "n1"); !pmsdk.IsNotFound(err) {
			t.Fatalf("second delete: %v", err)
		}
		bad := pmsdk.New(s.url, "pm_0000000000000000_nope")
		if err := bad.Get(ctx, "notes", "x", nil); !errors.Is(err, pmsdk.ErrUnauthenticated) {
			t.Fatalf("bad key: %v", err)
		}
	})

	t.Run("find, count, aggregate, batches", func(t *testing.T) {
		var docs []pmsdk.M
		for i := 0; i < 45; i++ {
			docs = append(docs, pmsdk.M{"_id": fmt.Sprintf("p%02d", i), "grp": "f", "n": i})
		}
		res, err := a.BatchCreate(ctx, "notes", docs)
		if err != nil || len(res.Created) != 45 || len(res.Failed) != 0 || res.Created[3] != "p03" {
			t.Fatalf("%+v %v", res, err)
		}
		if err := b.Insert(ctx, "notes", pmsdk.M{"_id": "other", "grp": "f", "n": 1}, nil); err != nil {
			t.Fatal(err)
		}
		res, err = a.BatchCreate(ctx, "notes", []pmsdk.M{{"grp": "g"}, {"locked": true}})
		if err != nil || len(res.Created) != 1 || len(res.Failed) != 1 || res.Failed[0].Index != 1 || res.Failed[0].Error.Code != "FORBIDDEN" {
			t.Fatalf("%+v %v", res, err)
		}
		if _, ok := res.Created[0].(pmsdk.ObjectID); !ok {
			t.Fatalf("a generated id is an ObjectID: %#v", res.Created[0])
		}

		it := a.Find(ctx, "notes", pmsdk.M{"grp": "f"}, pmsdk.FindOptions{Sort: []string{"-n"}, PageSize: 7})
		var seen []int
		for it.Next() {
			var d struct{ N int }
			if err := it.Decode(&d); err != nil {
				t.Fatal(err)
			}
			seen = append(seen, d.N)
		}
		if it.Err() != nil || len(seen) != 45 || seen[0] != 44 || seen[44] != 0 {
			t.Fatalf("every visible document once, sorted: %v %v", seen, it.Err())
		}
		var capped []pmsdk.Doc
		if err := a.Find(ctx, "notes", pmsdk.M{"grp": "f"}, pmsdk.FindOptions{Sort: []string{"n"}, PageSize: 4, MaxDocs: 10}).All(&capped); err != nil ||
			len(capped) != 10 || capped[9].ID() != "p09" {
			t.Fatalf("MaxDocs: %d %v", len(capped), err)
		}
		page, err := a.FindPage(ctx, "notes", pmsdk.M{"grp": "f"}, pmsdk.PageOptions{Sort: []string{"n"}, Limit: 5})
		if err != nil || len(page.Data) != 5 || !page.HasMore {
			t.Fatalf("%+v %v", page, err)
		}
		if _, err := a.FindPage(ctx, "notes", pmsdk.M{"grp": "other"}, pmsdk.PageOptions{Limit: 5, Cursor: page.Cursor}); !errors.Is(err, pmsdk.ErrInvalidCursor) {
			t.Fatalf("a cursor of another query: %v", err)
		}

		n, err := a.Count(ctx, "notes", pmsdk.M{"grp": "f", "n": pmsdk.M{"$gte": 40}})
		if err != nil || n != 5 {
			t.Fatalf("count %d %v", n, err)
		}
		var rows []struct{ Total int }
		if err := a.Aggregate(ctx, "notes", pmsdk.A{pmsdk.M{"$match": pmsdk.M{"grp": "f", "n": pmsdk.M{"$lt": 10}}}, pmsdk.M{"$count": "total"}}, &rows); err != nil ||
			len(rows) != 1 || rows[0].Total != 10 {
			t.Fatalf("%v %v", rows, err)
		}
		upd, err := a.BatchUpdate(ctx, "notes", pmsdk.Selector{IDs: []any{"p00", "p01", "other"}}, pmsdk.M{"$set": pmsdk.M{"s": 1}})
		if err != nil || upd.Matched != 2 || upd.Modified != 2 {
			t.Fatalf("%+v %v", upd, err)
		}
		if _, err := a.BatchUpdate(ctx, "notes", pmsdk.Selector{Filter: pmsdk.M{"grp": "f"}}, pmsdk.M{"$set": pmsdk.M{"locked": 1}}); !pmsdk.IsForbidden(err) {
			t.Fatalf("deny_write in a batch: %v", err)
		}
		del, err := a.BatchDelete(ctx, "notes", pmsdk.Selector{Filter: pmsdk.M{"grp": "f"}})
		if err != nil || del != 45 {
			t.Fatalf("deleted %d %v", del, err)
		}
		if n, _ := b.Count(ctx, "notes", pmsdk.M{"grp": "f"}); n != 1 {
			t.Fatalf("tenant B's document was touched: %d", n)
		}
	})

	t.Run("import", func(t *testing.T) {
		var lines, sent int64
		body := strings.Repeat(`{"grp": "imp", "n": 1}`+"\n", 200) + `{"grp": "imp", "locked": true}` + "\n"
		res, err := a.Import(ctx, "notes", strings.NewReader(body), pmsdk.ImportOptions{Progress: func(l, b int64) { lines, sent = l, b }})
		if err != nil || res.Inserted != 200 || len(res.Failed) != 1 || res.Failed[0].Line != 201 || res.ImportID == "" {
			t.Fatalf("%+v %v", res, err)
		}
		if lines != 201 || sent != int64(len(body)) {
			t.Fatalf("progress %d lines %d bytes", lines, sent)
		}
		docs := func(yield func(any) bool) {
			for i := 0; i < 500; i++ {
				if !yield(pmsdk.M{"grp": "imp2", "at": time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}) {
					return
				}
			}
		}
		res, err = a.ImportDocs(ctx, "notes", docs, pmsdk.ImportOptions{})
		if err != nil || res.Inserted != 500 {
			t.Fatalf("%+v %v", res, err)
		}
		if n, _ := a.Count(ctx, "notes", pmsdk.M{"grp": "imp2", "at": time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}); n != 500 {
			t.Fatalf("dates imported as dates: %d", n)
		}
	})

	t.Run("versions", func(t *testing.T) {
		if err := a.Insert(ctx, "notes", pmsdk.M{"_id": "v1", "text": "v0"}, nil); err != nil {
			t.Fatal(err)
		}
		for _, txt := range []string{"v1", "v2"} {
			if err := a.Update(ctx, "notes", "v1", pmsdk.M{"text": txt}, nil); err != nil {
				t.Fatal(err)
			}
		}
		vs, err := a.Versions(ctx, "notes", "v1")
		if err != nil || len(vs) != 2 || vs[0].Version != 2 || vs[0].UpdatedBy != "ua" {
			t.Fatalf("%+v %v", vs, err)
		}
		var old pmsdk.Doc
		if err := a.GetVersion(ctx, "notes", "v1", 1, &old); err != nil || old["text"] != "v0" {
			t.Fatalf("%v %v", old, err)
		}
		if err := a.RestoreVersion(ctx, "notes", "v1", 1, &old); err != nil || old["text"] != "v0" {
			t.Fatalf("%v %v", old, err)
		}
		if err := a.GetVersion(ctx, "notes", "v1", 99, &old); !pmsdk.IsNotFound(err) {
			t.Fatalf("missing version: %v", err)
		}
	})

	t.Run("audit", func(t *testing.T) {
		since := time.Now().Add(-time.Minute)
		if _, err := a.Audit(ctx, pmsdk.AuditQuery{}); !pmsdk.IsForbidden(err) {
			t.Fatalf("a member reads the audit log: %v", err)
		}
		deadline := time.Now().Add(30 * time.Second)
		var entries []pmsdk.AuditEntry
		for { // entries are written asynchronously
			entries = entries[:0]
			for e, err := range admin.AuditAll(ctx, pmsdk.AuditQuery{Actor: "ua", Action: "create", From: since, Limit: 2}) {
				if err != nil {
					t.Fatal(err)
				}
				entries = append(entries, e)
			}
			if len(entries) >= 2 || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if len(entries) < 2 || entries[0].Actor.ID != "ua" || entries[0].Outcome != "allowed" || entries[0].Hash == "" {
			t.Fatalf("%+v", entries)
		}
		v, err := admin.VerifyAudit(ctx, time.Time{}, time.Time{})
		if err != nil || !v.OK || v.Checked == 0 {
			t.Fatalf("%+v %v", v, err)
		}
	})

	t.Run("api keys", func(t *testing.T) {
		k, err := admin.CreateAPIKey(ctx, "go-sdk", pmsdk.Principal{ID: "u-go", TenantID: "ta", Roles: []string{"member"}}, time.Hour)
		if err != nil || !strings.HasPrefix(k.Key, "pm_") || k.ExpiresAt == nil {
			t.Fatalf("%+v %v", k, err)
		}
		var d pmsdk.Doc
		if err := pmsdk.New(s.url, k.Key).Insert(ctx, "notes", pmsdk.M{"_id": "by-new-key"}, &d); err != nil || d["created_by"] != "u-go" {
			t.Fatalf("%v %v", d, err)
		}
		keys, err := admin.ListAPIKeys(ctx)
		found := false
		for _, x := range keys {
			found = found || (x.ID == k.ID && x.Key == "")
		}
		if err != nil || !found {
			t.Fatalf("listed without its secret: %+v %v", keys, err)
		}
		if err := admin.RevokeAPIKey(ctx, k.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := a.ListAPIKeys(ctx); !pmsdk.IsForbidden(err) {
			t.Fatalf("a member lists keys: %v", err)
		}
	})

	t.Run("grants and explain", func(t *testing.T) {
		g, err := admin.CreateGrant(ctx, pmsdk.GrantRequest{Database: s.database, Collections: []string{"notes"}, Actions: []string{"find"}, TTL: "10m"})
		if !s.grants {
			var e *pmsdk.Error
			if !errors.Is(err, pmsdk.ErrNotSupported) || !errors.As(err, &e) || e.Details["capability"] == nil {
				t.Fatalf("an engine without user management: want 501 naming the capability, got %v", err)
			}
		} else {
			if err != nil || g.Password == "" || g.URI == "" {
				t.Fatalf("%+v %v", g, err)
			}
			got, err := admin.GetGrant(ctx, g.GrantID)
			if err != nil || got.Password != "" {
				t.Fatalf("%+v %v", got, err)
			}
			if _, err := admin.RenewGrant(ctx, g.GrantID, "20m"); err != nil {
				t.Fatal(err)
			}
			if err := admin.RevokeGrant(ctx, g.GrantID); err != nil {
				t.Fatal(err)
			}
		}
		ex, err := a.Explain(ctx, "notes", "read")
		if err != nil || !ex.Allowed || !strings.Contains(fmt.Sprint(ex.Filter), "tenant_id") {
			t.Fatalf("%+v %v", ex, err)
		}
	})
}
