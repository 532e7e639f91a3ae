package permissionmongo_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	pm "github.com/permission-mongo/permission-mongo/sdk/go"
)

// These examples compile with the package's tests; they need a running
// server (`make run` prints the demo keys), so they have no Output lines.

type Employee struct {
	ID    string `json:"_id"`
	Name  string `json:"name"`
	Title string `json:"title"`
	Email string `json:"email"`
}

func Example() {
	ctx := context.Background()
	c := pm.New("http://127.0.0.1:8080", os.Getenv("KEY_hana"))

	var created pm.Doc
	err := c.Insert(ctx, "employees", pm.M{"_id": "emp-zoe", "name": "Zoe Zimmer", "title": "Engineer",
		"owner": "zoe", "public": true, "start": time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC)}, &created)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(created["tenant_id"], created["created_at"]) // the preset and a server stamp

	var e Employee
	if err := c.Get(ctx, "employees", "emp-zoe", &e); err != nil {
		log.Fatal(err)
	}
	if err := c.Update(ctx, "employees", "emp-zoe", pm.M{"$set": pm.M{"title": "Staff Engineer"}}, &e); err != nil {
		log.Fatal(err)
	}
	if err := c.Delete(ctx, "employees", "emp-zoe"); err != nil {
		log.Fatal(err)
	}
}

func ExampleClient_Find() {
	ctx := context.Background()
	c := pm.New("http://127.0.0.1:8080", os.Getenv("KEY_hana"))

	// 200 documents per request, at most 1,000 in all.
	it := c.Find(ctx, "employees", pm.M{"department": "eng"}, pm.FindOptions{
		Sort: []string{"name"}, Fields: []string{"name", "title"}, PageSize: 200, MaxDocs: 1000})
	for it.Next() {
		var e Employee
		if err := it.Decode(&e); err != nil {
			log.Fatal(err)
		}
		fmt.Println(e.Name, e.Title)
	}
	if err := it.Err(); err != nil {
		log.Fatal(err)
	}
}

func ExampleClient_FindPage() {
	ctx := context.Background()
	c := pm.New("http://127.0.0.1:8080", os.Getenv("KEY_hana"))
	opts := pm.PageOptions{Sort: []string{"-created_at"}, Limit: 20}
	for {
		page, err := c.FindPage(ctx, "employees", nil, opts)
		if err != nil {
			log.Fatal(err)
		}
		var batch []pm.Doc
		if err := page.Decode(&batch); err != nil {
			log.Fatal(err)
		}
		fmt.Println(len(batch))
		if !page.HasMore {
			break
		}
		opts.Cursor = page.Cursor
	}
}

func ExampleClient_Update_errors() {
	ctx := context.Background()
	c := pm.New("http://127.0.0.1:8080", os.Getenv("KEY_alice"))
	err := c.Update(ctx, "employees", "emp-alice", pm.M{"$set": pm.M{"salary": 1}}, nil)
	var e *pm.Error
	switch {
	case errors.Is(err, pm.ErrForbidden): // deny_write, hidden field, out of scope
		errors.As(err, &e)
		fmt.Println("refused:", e.Message, e.RequestID)
	case errors.Is(err, pm.ErrNotFound): // no such document, or one you may not see
	case errors.Is(err, pm.ErrPreconditionFailed): // If-Match (pm.WithIfMatch) no longer matches
	case err != nil:
		log.Fatal(err)
	}
}

func ExampleClient_BatchCreate() {
	ctx := context.Background()
	c := pm.New("http://127.0.0.1:8080", os.Getenv("KEY_hana"))
	res, err := c.BatchCreate(ctx, "employees", []pm.M{{"name": "A", "owner": "a"}, {"name": "B", "owner": "b"}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(res.Created), "created;", len(res.Failed), "refused")

	upd, err := c.BatchUpdate(ctx, "employees", pm.Selector{Filter: pm.M{"name": pm.M{"$in": pm.A{"A", "B"}}}},
		pm.M{"$set": pm.M{"department": "eng"}})
	if err != nil {
		log.Fatal(err)
	}
	n, err := c.BatchDelete(ctx, "employees", pm.Selector{IDs: res.Created})
	fmt.Println(upd.Modified, n, err)
}

func ExampleClient_Import() {
	ctx := context.Background()
	c := pm.New("http://127.0.0.1:8080", os.Getenv("KEY_hana"))
	ndjson := strings.NewReader(`{"name": "Imported 1", "owner": "i1"}` + "\n" + `{"name": "Imported 2", "owner": "i2"}` + "\n")
	res, err := c.Import(ctx, "employees", ndjson, pm.ImportOptions{
		Progress: func(lines, bytes int64) { fmt.Println(lines, "lines sent") }})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Inserted, "inserted;", len(res.Failed), "refused")
}

func ExampleClient_Versions() {
	ctx := context.Background()
	c := pm.New("http://127.0.0.1:8080", os.Getenv("PM_API_KEY")) // a collection with versioning on
	vs, err := c.Versions(ctx, "notes", "n1")
	if err != nil {
		log.Fatal(err)
	}
	var old pm.Doc
	if len(vs) > 0 {
		err = c.RestoreVersion(ctx, "notes", "n1", vs[len(vs)-1].Version, &old)
	}
	fmt.Println(old, err)
}

func ExampleClient_AuditAll() {
	ctx := context.Background()
	c := pm.New("http://127.0.0.1:8080", os.Getenv("PM_AUDITOR_KEY"))
	for e, err := range c.AuditAll(ctx, pm.AuditQuery{Collection: "employees", Outcome: "denied", Limit: 100}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(e.TS, e.Actor.ID, e.Action, e.ErrorCode)
	}
	v, err := c.VerifyAudit(ctx, time.Time{}, time.Time{})
	fmt.Println(v.OK, v.Checked, err)
}

func ExampleClient_CreateGrant() {
	ctx := context.Background()
	c := pm.New("http://127.0.0.1:8080", os.Getenv("PM_API_KEY"))
	g, err := c.CreateGrant(ctx, pm.GrantRequest{Database: "app", Collections: []string{"orders"}, Actions: []string{"find"}, TTL: "1h"})
	if errors.Is(err, pm.ErrNotSupported) {
		fmt.Println("this MongoDB cannot issue credentials")
		return
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(g.URI, g.ExpiresAt)
	_ = c.RevokeGrant(ctx, g.GrantID)
}

func ExampleNew_options() {
	c := pm.New("http://127.0.0.1:8080", os.Getenv("PM_API_KEY"),
		pm.WithRetry(pm.RetryPolicy{MaxRetries: 5, Backoff: time.Second, MaxBackoff: 20 * time.Second,
			MaxRetryAfter: time.Minute, RetryOn: []int{429, 502, 503, 504}}),
		pm.WithHeader("X-Tenant-Hint", "acme"),
		pm.WithHook(func(e pm.Event) {
			log.Printf("%s %s -> %d in %s (attempt %d)", e.Method, e.URL, e.Status, e.Elapsed, e.Attempt)
		}))
	ctx := pm.WithRequestHeader(context.Background(), "X-Request-ID", "abc-123")
	ex, err := c.Explain(ctx, "orders", "read")
	fmt.Println(ex, err)
}
