package pipeline

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// e2ePeople are stored for two tenants. Everything in e2eSecrets is either
// in a hidden or masked field of a t1 document, or in a t2 document: none
// of it may ever reach a t1 member.
var e2ePeople = []any{
	bson.D{{Key: "_id", Value: 1}, {Key: "tenant_id", Value: "t1"}, {Key: "name", Value: "Ann"}, {Key: "dept", Value: "eng"}, {Key: "age", Value: 30},
		{Key: "ssn", Value: "ssn-111"}, {Key: "email", Value: "ann@example.com"}, {Key: "phone", Value: "+1 555-0101"},
		{Key: "bank", Value: bson.D{{Key: "iban", Value: "IBAN-ANN"}, {Key: "bic", Value: "BIC1"}}}, {Key: "tags", Value: bson.A{"a", "b"}}},
	bson.D{{Key: "_id", Value: 2}, {Key: "tenant_id", Value: "t1"}, {Key: "name", Value: "Bob"}, {Key: "dept", Value: "ops"}, {Key: "age", Value: 40},
		{Key: "ssn", Value: "ssn-222"}, {Key: "email", Value: "bob@example.com"},
		{Key: "bank", Value: bson.A{bson.D{{Key: "iban", Value: "IBAN-BOB"}, {Key: "bic", Value: "BIC2"}}, bson.D{{Key: "iban", Value: "IBAN-BOB2"}}}}, {Key: "tags", Value: bson.A{"b"}}},
	bson.D{{Key: "_id", Value: 3}, {Key: "tenant_id", Value: "t1"}, {Key: "name", Value: "Cid"}, {Key: "dept", Value: "eng"}, {Key: "age", Value: 50},
		{Key: "ssn", Value: "ssn-333"}, {Key: "tags", Value: bson.A{}}},
	bson.D{{Key: "_id", Value: 4}, {Key: "tenant_id", Value: "t2"}, {Key: "name", Value: "Eve"}, {Key: "dept", Value: "eng"}, {Key: "age", Value: 60},
		{Key: "ssn", Value: "ssn-444"}, {Key: "email", Value: "eve@other.org"}, {Key: "tags", Value: bson.A{"a"}}},
	bson.D{{Key: "_id", Value: 5}, {Key: "tenant_id", Value: "t2"}, {Key: "name", Value: "Mal"}, {Key: "dept", Value: "sec"}, {Key: "age", Value: 70},
		{Key: "ssn", Value: "ssn-555"}},
}

var e2eCards = []any{
	bson.D{{Key: "_id", Value: 1}, {Key: "tenant_id", Value: "t1"}, {Key: "name", Value: "Ann"}, {Key: "number", Value: "CARD-4111"},
		{Key: "contact", Value: bson.D{{Key: "city", Value: "Oslo"}, {Key: "zip", Value: "ZIP-0150"}, {Key: "street", Value: "STREET-1"}}}},
	bson.D{{Key: "_id", Value: 2}, {Key: "tenant_id", Value: "t2"}, {Key: "name", Value: "Eve"}, {Key: "number", Value: "CARD-5500"}},
}

var e2eSecrets = []string{
	"ssn", "iban", "IBAN-", "ann@example.com", "bob@example.com", "555-0101", // hidden or masked in t1
	"Eve", "Mal", "eve@other.org", `"t2"`, // tenant t2
	"CARD-", "ZIP-0150", "STREET-", // cards: outside the allow list, or masked
}

func e2eDB(t *testing.T) (*mongo.Database, context.Context) {
	t.Helper()
	db := testenv.DB(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	_, err := db.Collection("people").InsertMany(ctx, e2ePeople)
	require.NoError(t, err)
	_, err = db.Collection("cards").InsertMany(ctx, e2eCards)
	require.NoError(t, err)
	return db, ctx
}

// aggregate rewrites a client pipeline for a t1 member and runs it.
func aggregate(t *testing.T, db *mongo.Database, ctx context.Context, coll, js string) []bson.D {
	t.Helper()
	out, err := Rewrite(coll, parsePipeline(t, js), member(t), Limits{MaxLimit: 100})
	require.NoError(t, err)
	cur, err := db.Collection(coll).Aggregate(ctx, out)
	require.NoError(t, err, "rewritten pipeline: %s", toJSON(t, out))
	var docs []bson.D
	require.NoError(t, cur.All(ctx, &docs))
	js2, err := bson.MarshalExtJSON(bson.D{{Key: "r", Value: docs}}, false, false)
	require.NoError(t, err)
	for _, s := range e2eSecrets {
		require.NotContains(t, string(js2), s, "result leaks %q: %s", s, js2)
	}
	return docs
}

func field(d bson.D, k string) any {
	v, _ := get(d, k)
	return v
}

func names(docs []bson.D) []string {
	var out []string
	for _, d := range docs {
		s, _ := field(d, "name").(string)
		out = append(out, s)
	}
	return out
}

// TestEndToEnd runs one rewritten pipeline per stage the embedded backend
// runs ($match $sort $project $unwind $addFields $set $unset $count $limit
// $skip $group $sum) and checks, on every result, that no hidden or masked
// value and no other tenant's document appears.
func TestEndToEnd(t *testing.T) {
	db, ctx := e2eDB(t)
	run := func(js string) []bson.D { return aggregate(t, db, ctx, "people", js) }

	t.Run("no stages", func(t *testing.T) {
		docs := run(`[]`)
		require.Len(t, docs, 3)
		for _, d := range docs {
			if _, has := get(d, "email"); has && field(d, "name") != "Cid" {
				require.Equal(t, MaskedValue, field(d, "email"))
			}
			bank, _ := field(d, "bank").(bson.D)
			if field(d, "name") == "Ann" {
				require.Equal(t, "BIC1", field(bank, "bic"), "a visible sibling of a hidden field stays")
			}
			if field(d, "name") == "Bob" {
				// bank.iban is removed inside every element of the array.
				accounts, _ := field(d, "bank").(bson.A)
				require.Equal(t, bson.A{bson.D{{Key: "bic", Value: "BIC2"}}, bson.D{}}, accounts)
			}
		}
	})
	t.Run("$match", func(t *testing.T) {
		require.ElementsMatch(t, []string{"Ann", "Cid"}, names(run(`[{"$match": {"dept": "eng"}}]`)))
	})
	t.Run("$sort", func(t *testing.T) {
		require.Equal(t, []string{"Cid", "Bob", "Ann"}, names(run(`[{"$sort": {"age": -1}}]`)))
	})
	t.Run("$project", func(t *testing.T) {
		docs := run(`[{"$project": {"name": 1, "dept": 1}}, {"$sort": {"name": 1}}]`)
		require.Equal(t, []string{"Ann", "Bob", "Cid"}, names(docs))
		require.Len(t, docs[0], 3)
	})
	t.Run("$unwind", func(t *testing.T) {
		docs := run(`[{"$unwind": "$tags"}, {"$sort": {"tags": 1, "_id": 1}}]`)
		var ids []any
		for _, d := range docs {
			ids = append(ids, field(d, "_id"))
		}
		require.EqualValues(t, []any{int32(1), int32(1), int32(2)}, ids)
		// FerretDB v1.24 differs from MongoDB here: its $unwind output keeps
		// only _id and the unwound field, so names are checked on MongoDB only.
		if testenv.Backend() != testenv.BackendFerretDB {
			require.Equal(t, []string{"Ann", "Ann", "Bob"}, names(docs))
		}
	})
	t.Run("$addFields", func(t *testing.T) {
		docs := run(`[{"$addFields": {"flag": "x", "n": 1}}, {"$sort": {"flag": 1, "age": 1}}]`)
		require.Equal(t, []string{"Ann", "Bob", "Cid"}, names(docs))
		require.Equal(t, "x", field(docs[0], "flag"))
		// FerretDB v1.24 differs from MongoDB here: $addFields stores a field
		// path such as "$age" as the literal string, so computed values are
		// checked on MongoDB only.
		if testenv.Backend() != testenv.BackendFerretDB {
			docs = run(`[{"$addFields": {"years": "$age"}}, {"$sort": {"years": 1}}]`)
			require.EqualValues(t, 30, field(docs[0], "years"))
		}
	})
	t.Run("$set", func(t *testing.T) {
		docs := run(`[{"$set": {"email": "overwritten"}}, {"$sort": {"email": 1, "age": -1}}]`)
		require.Equal(t, []string{"Cid", "Bob", "Ann"}, names(docs))
		require.Equal(t, "overwritten", field(docs[0], "email"))
		if testenv.Backend() != testenv.BackendFerretDB { // see $addFields
			docs = run(`[{"$set": {"copy": "$name"}}, {"$sort": {"copy": -1}}]`)
			require.Equal(t, []string{"Cid", "Bob", "Ann"}, names(docs))
		}
	})
	t.Run("$unset", func(t *testing.T) {
		docs := run(`[{"$unset": ["age", "tags"]}]`)
		require.Len(t, docs, 3)
		for _, d := range docs {
			require.Nil(t, field(d, "age"))
		}
	})
	t.Run("$count", func(t *testing.T) {
		docs := run(`[{"$count": "n"}]`)
		require.Len(t, docs, 1)
		require.EqualValues(t, 3, field(docs[0], "n"))
	})
	t.Run("$limit", func(t *testing.T) {
		require.Equal(t, []string{"Ann", "Bob"}, names(run(`[{"$sort": {"age": 1}}, {"$limit": 2}]`)))
	})
	t.Run("$skip", func(t *testing.T) {
		require.Equal(t, []string{"Bob", "Cid"}, names(run(`[{"$sort": {"age": 1}}, {"$skip": 1}]`)))
	})
	// FerretDB v1.24 differs from MongoDB here: with two $sum accumulators
	// in one $group the second one is always 0, so each is run on its own.
	t.Run("$group $sum count", func(t *testing.T) {
		docs := run(`[{"$group": {"_id": "$dept", "n": {"$sum": 1}}}, {"$sort": {"_id": 1}}]`)
		require.Len(t, docs, 2, "no t2-only department appears")
		require.Equal(t, "eng", field(docs[0], "_id"))
		require.EqualValues(t, 2, field(docs[0], "n"), "no t2 document is counted")
	})
	t.Run("$group $sum field", func(t *testing.T) {
		docs := run(`[{"$group": {"_id": null, "ages": {"$sum": "$age"}}}]`)
		require.Len(t, docs, 1)
		require.EqualValues(t, 120, field(docs[0], "ages"), "no t2 age is summed")
	})
	t.Run("$group $$ROOT", func(t *testing.T) {
		testenv.RequireCapability(t, testenv.CapGroupPush)
		docs := run(`[{"$group": {"_id": null, "docs": {"$push": "$$ROOT"}}}]`)
		require.Len(t, docs, 1)
	})
	t.Run("result cap", func(t *testing.T) {
		out, err := Rewrite("people", bson.A{}, member(t), Limits{MaxLimit: 2})
		require.NoError(t, err)
		cur, err := db.Collection("people").Aggregate(ctx, out)
		require.NoError(t, err)
		var docs []bson.D
		require.NoError(t, cur.All(ctx, &docs))
		require.Len(t, docs, 2)
	})
}

// The allow-list strip ($project of allowed dotted paths, then the masked
// sub-field) runs on the backend too. This test found that FerretDB answers
// {$set: {"contact.zip": "****"}} by adding a top-level "contact.zip" field
// and leaving the real value in place.
func TestEndToEndAllowList(t *testing.T) {
	db, ctx := e2eDB(t)
	docs := aggregate(t, db, ctx, "cards", `[{"$match": {"contact.city": "Oslo"}}]`)
	require.Len(t, docs, 1)
	contact, _ := field(docs[0], "contact").(bson.D)
	require.Equal(t, "Oslo", field(contact, "city"))
	// A masked sub-field is removed (see stripStages): FerretDB cannot set it.
	require.Nil(t, field(contact, "zip"))
	require.Len(t, contact, 1)
	require.Nil(t, field(docs[0], "number"))
	keys := []string{}
	for _, e := range docs[0] {
		keys = append(keys, e.Key)
	}
	require.ElementsMatch(t, []string{"_id", "tenant_id", "name", "contact"}, keys, strings.Join(keys, ","))
}

// The two policy $match forms that are not a tenant filter run on the
// backend: {} for a collection the caller reads without restriction, and
// the match-nothing filter for a caller who can never match a rule.
func TestEndToEndPolicyForms(t *testing.T) {
	db := testenv.DB(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for _, c := range []string{"public", "mine"} {
		_, err := db.Collection(c).InsertMany(ctx, []any{
			bson.D{{Key: "_id", Value: 1}, {Key: "owner", Value: ""}},
			bson.D{{Key: "_id", Value: 2}, {Key: "owner", Value: "u1"}},
		})
		require.NoError(t, err)
	}
	count := func(acc Access, coll string) int {
		out, err := Rewrite(coll, parsePipeline(t, `[{"$sort": {"_id": 1}}]`), acc, Limits{})
		require.NoError(t, err)
		cur, err := db.Collection(coll).Aggregate(ctx, out)
		require.NoError(t, err)
		var docs []bson.D
		require.NoError(t, cur.All(ctx, &docs))
		return len(docs)
	}
	require.Equal(t, 2, count(member(t), "public"))
	require.Equal(t, 1, count(member(t), "mine"))
	anonymous := member(t)
	anonymous.caller.ID = "" // an owner-less document must not match a caller without an id
	require.Equal(t, 0, count(anonymous, "mine"))
}
