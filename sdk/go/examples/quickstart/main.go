// Quickstart against `make run` (pm dev): export the demo keys it prints,
// then from sdk/go: go run ./examples/quickstart
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	pm "github.com/permission-mongo/permission-mongo/sdk/go"
)

type Employee struct {
	ID    string `json:"_id"`
	Name  string `json:"name"`
	Title string `json:"title"`
	Email string `json:"email"`
}

func main() {
	ctx := context.Background()
	url := "http://127.0.0.1:8080"
	if u := os.Getenv("PM_URL"); u != "" {
		url = u
	}

	// hana is HR at acme: every acme employee, and she may create and delete.
	hana := pm.New(url, os.Getenv("KEY_hana"))
	it := hana.Find(ctx, "employees", pm.M{"department": "eng"}, pm.FindOptions{Sort: []string{"name"}, PageSize: 100})
	for it.Next() {
		var e Employee
		if err := it.Decode(&e); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%-12s %-20s %s\n", e.ID, e.Name, e.Title)
	}
	if err := it.Err(); err != nil {
		log.Fatal(err)
	}

	var zoe pm.Doc
	if err := hana.Insert(ctx, "employees", pm.M{"name": "Zoe Zimmer", "owner": "zoe", "title": "Engineer", "public": true}, &zoe); err != nil {
		log.Fatal(err)
	}
	fmt.Println("created", zoe.ID(), "in tenant", zoe["tenant_id"]) // the preset comes from hana's key
	if err := hana.Update(ctx, "employees", zoe.ID(), pm.M{"$set": pm.M{"title": "Staff Engineer"}}, &zoe); err != nil {
		log.Fatal(err)
	}
	n, err := hana.Count(ctx, "employees", nil)
	fmt.Println("acme employees:", n, err)
	if err := hana.Delete(ctx, "employees", zoe.ID()); err != nil {
		log.Fatal(err)
	}

	// alice is an employee: her salary is deny_write, bob's record is not hers.
	alice := pm.New(url, os.Getenv("KEY_alice"))
	err = alice.Update(ctx, "employees", "emp-alice", pm.M{"$set": pm.M{"salary": 1}}, nil)
	var e *pm.Error
	if errors.As(err, &e) && errors.Is(err, pm.ErrForbidden) {
		fmt.Println("refused:", e.Message)
	}
	if err := alice.Get(ctx, "employees", "emp-bob", nil); pm.IsNotFound(err) {
		fmt.Println("emp-bob: not found (or not visible)")
	}
	ex, err := alice.Explain(ctx, "employees", "read")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("alice reads employees where", ex.Filter)
}
