package store_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/store"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

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
