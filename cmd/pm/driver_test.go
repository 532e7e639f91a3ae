package main

import (
	"context"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/permission-mongo/permission-mongo/internal/app"
	"github.com/permission-mongo/permission-mongo/internal/store"
)

// driverDB is a's database through a driver client of the test's own, for
// tests that read or tamper with stored data directly: the app itself
// reaches the database only through store's handles.
func driverDB(t testing.TB, a *app.App) *mongo.Database {
	t.Helper()
	c, err := store.Connect(context.Background(), a.URI())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Disconnect(ctx)
	})
	return c.Database(a.Database().Name())
}
