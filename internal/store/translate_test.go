package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/store"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// requireKind asserts the translated error's kind and message, and that the
// message carries none of the driver's text (which stays in Cause).
func requireKind(t *testing.T, err error, kind apperr.Kind, message string) *apperr.Error {
	t.Helper()
	require.Error(t, err)
	var ae *apperr.Error
	require.True(t, errors.As(err, &ae), "not an *apperr.Error: %T %v", err, err)
	require.Equal(t, kind, ae.Kind, "kind of %v", err)
	require.Equal(t, message, ae.Message)
	require.NotNil(t, ae.Cause, "driver error must be kept as Cause for the log")
	return ae
}

func TestTranslateDuplicateKeyFromServer(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	coll := testenv.Collection(t, "users")
	_, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "email", Value: 1}},
		Options: options.Index().SetUnique(true),
	})
	require.NoError(t, err)
	_, err = coll.InsertOne(ctx, bson.D{{Key: "email", Value: "a@example.com"}})
	require.NoError(t, err)

	cases := map[string]func() error{
		"insert one": func() error {
			_, err := coll.InsertOne(ctx, bson.D{{Key: "email", Value: "a@example.com"}})
			return err
		},
		"insert many": func() error {
			_, err := coll.InsertMany(ctx, []any{
				bson.D{{Key: "email", Value: "b@example.com"}},
				bson.D{{Key: "email", Value: "a@example.com"}},
			})
			return err
		},
		"update": func() error {
			_, err := coll.InsertOne(ctx, bson.D{{Key: "email", Value: "c@example.com"}})
			require.NoError(t, err)
			_, err = coll.UpdateOne(ctx, bson.D{{Key: "email", Value: "c@example.com"}},
				bson.D{{Key: "$set", Value: bson.D{{Key: "email", Value: "a@example.com"}}}})
			return err
		},
	}
	for name, run := range cases {
		t.Run(name, func(t *testing.T) {
			raw := run()
			require.Error(t, raw)
			ae := requireKind(t, store.Translate(raw), apperr.KindConflict, "duplicate key")
			require.NotContains(t, ae.Message, "a@example.com")
		})
	}
}

func TestTranslateNotImplementedFromServer(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := testenv.DB(t)
	testenv.RequireMissing(t, testenv.CapLookup)
	_, err := db.Collection("orders").InsertOne(ctx, bson.D{{Key: "n", Value: 1}})
	require.NoError(t, err)
	_, raw := db.Collection("orders").Aggregate(ctx, mongo.Pipeline{{{Key: "$lookup", Value: bson.D{
		{Key: "from", Value: "customers"}, {Key: "localField", Value: "c"},
		{Key: "foreignField", Value: "_id"}, {Key: "as", Value: "customer"},
	}}}})
	require.Error(t, raw)

	requireKind(t, store.Translate(raw), apperr.KindNotSupported, "the database backend does not support this operation")
	ae := requireKind(t, store.TranslateFor(raw, "$lookup"), apperr.KindNotSupported, "the database backend does not support $lookup")
	require.Equal(t, map[string]any{"capability": "$lookup"}, ae.Details)
}

func TestTranslateCommandNotFoundFromServer(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	client, _ := testenv.Mongo(t)
	// No server has this command, so this holds on MongoDB and FerretDB alike.
	raw := client.Database("admin").RunCommand(ctx, bson.D{{Key: "pmNoSuchCommand", Value: 1}}).Err()
	require.Error(t, raw)
	requireKind(t, store.TranslateFor(raw, "pmNoSuchCommand"), apperr.KindNotSupported,
		"the database backend does not support pmNoSuchCommand")
}

func TestTranslateBadQueryFromServer(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := testenv.DB(t)
	_, err := db.Collection("c").InsertOne(ctx, bson.D{{Key: "n", Value: 1}})
	require.NoError(t, err)

	cases := map[string]bson.D{
		"unknown top-level operator": {{Key: "$pmNope", Value: 1}},
		"$in needs an array":         {{Key: "n", Value: bson.D{{Key: "$in", Value: 1}}}},
	}
	for name, filter := range cases {
		t.Run(name, func(t *testing.T) {
			cur, raw := db.Collection("c").Find(ctx, filter)
			if raw == nil {
				raw = cur.All(ctx, &[]bson.M{})
			}
			require.Error(t, raw)
			requireKind(t, store.Translate(raw), apperr.KindInvalid, "the database rejected the request as invalid")
		})
	}
}

func TestTranslateNoDocumentsAndTimeoutFromServer(t *testing.T) {
	t.Parallel()
	db := testenv.DB(t)

	raw := db.Collection("empty").FindOne(t.Context(), bson.D{}).Err()
	requireKind(t, store.Translate(raw), apperr.KindNotFound, "not found")

	ctx, cancel := context.WithTimeout(t.Context(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	raw = db.Collection("empty").FindOne(ctx, bson.D{}).Err()
	requireKind(t, store.Translate(raw), apperr.KindUnavailable, "query timed out")
}

func TestTranslateWithoutServer(t *testing.T) {
	t.Parallel()
	plain := errors.New("driver said: secret internals")
	already := apperr.Forbidden("no")

	require.NoError(t, store.Translate(nil))
	require.Same(t, already, store.Translate(already))
	ae := requireKind(t, store.Translate(plain), apperr.KindInternal, "internal error")
	require.Same(t, plain, ae.Cause)

	cases := []struct {
		name    string
		code    int32
		kind    apperr.Kind
		message string
	}{
		{"duplicate key", 11000, apperr.KindConflict, "duplicate key"},
		{"duplicate key on update", 11001, apperr.KindConflict, "duplicate key"},
		{"duplicate key capped", 12582, apperr.KindConflict, "duplicate key"},
		{"write conflict", 112, apperr.KindConflict, "concurrent modification, retry the request"},
		{"max time expired", 50, apperr.KindUnavailable, "query timed out"},
		{"not implemented", 238, apperr.KindNotSupported, "the database backend does not support this operation"},
		{"command not found", 59, apperr.KindNotSupported, "the database backend does not support this operation"},
		{"bad value", 2, apperr.KindInvalid, "the database rejected the request as invalid"},
		{"failed to parse", 9, apperr.KindInvalid, "the database rejected the request as invalid"},
		{"type mismatch", 14, apperr.KindInvalid, "the database rejected the request as invalid"},
		{"document validation", 121, apperr.KindValidation, "document failed the database's validation"},
		{"shutting down", 91, apperr.KindUnavailable, "database unavailable"},
		{"not primary", 10107, apperr.KindUnavailable, "database unavailable"},
		{"unauthorized", 13, apperr.KindInternal, "internal error"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// The message deliberately names another kind: only the code may count.
			raw := mongo.CommandError{Code: c.code, Message: "E11000 timed out not implemented"}
			ae := requireKind(t, store.Translate(raw), c.kind, c.message)
			require.NotContains(t, ae.Message, "E11000")
		})
	}
}

func TestTranslateUnreachableServer(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	e, err := store.StartEmbedded(ctx, t.TempDir(), nil)
	require.NoError(t, err)
	client, err := store.Connect(ctx, e.URI())
	require.NoError(t, err)
	defer func() { _ = client.Disconnect(ctx) }()
	e.Close()

	start := time.Now()
	_, raw := client.Database("d").Collection("c").InsertOne(ctx, bson.D{{Key: "n", Value: 1}})
	require.Error(t, raw)
	requireKind(t, store.Translate(raw), apperr.KindUnavailable, "database unavailable")
	require.Less(t, time.Since(start), store.ServerSelectionTimeout+5*time.Second)

	require.NoError(t, client.Disconnect(ctx))
	_, raw = client.Database("d").Collection("c").InsertOne(ctx, bson.D{{Key: "n", Value: 1}})
	ae := requireKind(t, store.Translate(raw), apperr.KindUnavailable, "database unavailable")
	require.False(t, strings.Contains(ae.Message, "disconnected"))
}

// DocumentDB's packed SQLSTATE codes are PostgreSQL's MAKE_SQLSTATE of the
// states they name, so the constants cannot drift from the documentation.
func TestDocumentDBSQLStateCodes(t *testing.T) {
	pack := func(s string) int {
		n := 0
		for i := len(s) - 1; i >= 0; i-- {
			n = n<<6 | int(s[i]-'0')&0x3f
		}
		return n
	}
	require.Equal(t, pack("40P01"), store.CodeDocumentDBDeadlock)
	require.Equal(t, pack("40001"), store.CodeDocumentDBSerialization)
}

// While PostgreSQL recovers from a crash, FerretDB v2 answers every command
// with InternalError (1) and PostgreSQL's fixed text (seen on the DocumentDB
// engine after its backend crashed): unavailable, 503, not a 500. Another
// InternalError stays internal.
func TestTranslateStorageRestarting(t *testing.T) {
	for _, msg := range []string{
		"the database system is not yet accepting connections",
		"the database system is in recovery mode",
	} {
		err := store.Translate(mongo.CommandError{Code: 1, Name: "InternalError", Message: msg})
		require.Equal(t, apperr.KindUnavailable, apperr.KindOf(err), msg)
	}
	err := store.Translate(mongo.CommandError{Code: 1, Name: "InternalError", Message: "something else"})
	require.Equal(t, apperr.KindInternal, apperr.KindOf(err))
}

// Client mistakes that reach the server come back as client errors, on
// whichever engine the test runs. Each case provokes the mistake for real
// and checks the code the server answered is one Translate names, so a
// server that changes its code fails here instead of turning into a 500.
func TestTranslateClientMistakesFromServer(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	coll := testenv.Collection(t, "mistakes")
	_, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "s", Value: "str"}, {Key: "arr", Value: bson.A{1, 2}}})
	require.NoError(t, err)

	find := func(filter bson.D) error {
		cur, err := coll.Find(ctx, filter)
		if err != nil {
			return err
		}
		var out []bson.Raw
		return cur.All(ctx, &out)
	}
	set := func(path string) func() error {
		return func() error {
			_, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: path, Value: 1}}}})
			return err
		}
	}
	regex := func(p string) func() error {
		return func() error { return find(bson.D{{Key: "s", Value: bson.D{{Key: "$regex", Value: p}}}}) }
	}
	cases := []struct {
		name    string
		run     func() error
		codes   []int
		message string
	}{
		{"unbalanced parenthesis", regex("("), []int{store.CodeInvalidRegex}, "the regular expression is invalid"},
		{"invalid pattern in a delete", func() error {
			_, err := coll.DeleteMany(ctx, bson.D{{Key: "s", Value: bson.D{{Key: "$regex", Value: "("}}}})
			return err
		}, []int{store.CodeInvalidRegex, store.CodeDocumentDBInvalidRegexInWrite}, "the regular expression is invalid"},
		{"unterminated class", regex("[a"), []int{store.CodeInvalidRegex}, "the regular expression is invalid"},
		{"nothing to repeat", regex("*a"), []int{store.CodeInvalidRegex}, "the regular expression is invalid"},
		{"$set through a string", set("s.x"), []int{store.CodePathNotViable}, ""},
		{"$set index through a string", set("s.0"), []int{store.CodePathNotViable}, ""},
		{"$set through an int element", set("arr.0.x"), []int{store.CodePathNotViable}, ""},
		// FerretDB v1 answers PathNotViable, MongoDB and DocumentDB BadValue.
		{"positional without a match", set("arr.$"), []int{store.CodePathNotViable, store.CodeBadValue}, ""},
		{"positional on a string", set("s.$[]"), []int{store.CodePathNotViable, store.CodeBadValue}, ""},
		{"filtered positional without filter", set("arr.$[x]"), []int{store.CodePathNotViable, store.CodeBadValue}, ""},
		{"positional on a missing field", set("nope.$[]"), []int{store.CodeBadValue}, ""},
		{"overlapping paths", func() error {
			_, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "a.x", Value: 1}, {Key: "a.x.y", Value: 1}}}})
			return err
		}, []int{store.CodeConflictingUpdateOperators}, "the database rejected the request as invalid"},
		{"$inc on a string", func() error {
			_, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "s", Value: 1}}}})
			return err
		}, []int{store.CodeTypeMismatch}, "the database rejected the request as invalid"},
		{"$push on a string", func() error {
			_, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$push", Value: bson.D{{Key: "s", Value: 1}}}})
			return err
		}, []int{store.CodeBadValue}, "the database rejected the request as invalid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw := c.run()
			require.Error(t, raw)
			var se mongo.ServerError
			require.True(t, errors.As(raw, &se), "not a server error: %v", raw)
			known := false
			for _, code := range c.codes {
				known = known || se.HasErrorCode(code)
			}
			require.True(t, known, "server answered %v, want one of codes %v", raw, c.codes)
			var ae *apperr.Error
			require.True(t, errors.As(store.Translate(raw), &ae))
			require.Equal(t, apperr.KindInvalid, ae.Kind, "%v", raw)
			if c.message != "" {
				require.Equal(t, c.message, ae.Message)
			}
			require.NotContains(t, ae.Cause.Error(), "str", "the cause keeps no server text")
		})
	}
	var out bson.M
	require.NoError(t, coll.FindOne(ctx, bson.D{{Key: "_id", Value: 1}}).Decode(&out))
	require.Equal(t, "str", out["s"])
	require.Nil(t, out["a"])
}

// A document that fails the collection's validator is a validation error:
// code 121 on MongoDB, 525074461 on DocumentDB.
func TestTranslateValidationFailureFromServer(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := testenv.DB(t)
	// create, then collMod: DocumentDB accepts a validator given to create
	// without enforcing it, and enforces one set by collMod.
	require.NoError(t, db.CreateCollection(ctx, "validated"))
	err := db.RunCommand(ctx, bson.D{{Key: "collMod", Value: "validated"},
		{Key: "validator", Value: bson.D{{Key: "n", Value: bson.D{{Key: "$type", Value: "int"}}}}}}).Err()
	if store.Translate(err) != nil && apperr.KindOf(store.Translate(err)) == apperr.KindNotSupported {
		t.Skipf("capability collection_validators missing on backend %s (collMod answers NotImplemented)", testenv.Backend())
	}
	require.NoError(t, err)
	_, raw := db.Collection("validated").InsertOne(ctx, bson.D{{Key: "n", Value: "not an int"}})
	if raw == nil {
		t.Skipf("capability collection_validators missing on backend %s (the validator is accepted but not enforced)", testenv.Backend())
	}
	var se mongo.ServerError
	require.True(t, errors.As(raw, &se))
	require.True(t, se.HasErrorCode(store.CodeDocumentValidationFailure) || se.HasErrorCode(store.CodeDocumentDBValidationFailure), "%v", raw)
	requireKind(t, store.Translate(raw), apperr.KindValidation, "document failed the database's validation")
}

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
