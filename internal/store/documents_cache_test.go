package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The handle cache returns the same handle for a name, and stops growing at
// maxCachedCollections while still answering with the right collection.
func TestDocumentsCollectionHandlesAreCachedAndBounded(t *testing.T) {
	// No server is needed: handles are built without talking to one.
	client, err := mongo.Connect(options.Client().ApplyURI("mongodb://127.0.0.1:1").SetServerSelectionTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	d := NewDocuments(client.Database("cachetest"), 0)

	if a, b := d.coll("employees"), d.coll("employees"); a != b {
		t.Fatal("two handles for one collection")
	}
	for i := 0; i < maxCachedCollections+50; i++ {
		name := fmt.Sprintf("c%d", i)
		if got := d.coll(name).Name(); got != name {
			t.Fatalf("handle for %q names %q", name, got)
		}
	}
	n := 0
	d.colls.Range(func(any, any) bool { n++; return true })
	if n != maxCachedCollections || int(d.cached.Load()) != maxCachedCollections {
		t.Fatalf("cache holds %d handles (counter %d), want at most %d", n, d.cached.Load(), maxCachedCollections)
	}
	if got := d.coll("beyond-the-cache").Name(); got != "beyond-the-cache" {
		t.Fatalf("uncached handle names %q", got)
	}
}
