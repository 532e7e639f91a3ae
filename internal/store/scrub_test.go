package store_test

import (
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/store"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

// A server error that quotes the document (PathNotViable names it, hidden
// fields included) must not carry that text into the translated error, whose
// cause is logged.
func TestTranslatedErrorsDoNotQuoteDocuments(t *testing.T) {
	ctx := t.Context()
	coll := testenv.Collection(t, "scrub")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: "secret-value-42"}}); err != nil {
		t.Fatal(err)
	}
	_, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "a.b", Value: 1}}}})
	if err == nil {
		t.Skip("capability missing: this server accepts a $set below a string field (no PathNotViable error), so there is no error text to scrub")
	}
	if !strings.Contains(err.Error(), "secret-value-42") {
		t.Logf("note: this server does not quote the document: %v", err)
	}
	got := store.Translate(err)
	if strings.Contains(got.Error(), "secret-value-42") {
		t.Fatalf("translated error quotes the document: %v", got)
	}
}
