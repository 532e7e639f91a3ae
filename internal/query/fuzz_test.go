package query

import (
	"errors"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
)

var fuzzSeeds = []string{
	`{}`,
	`{"a": 1, "b.c": "x", "d.0.e": null}`,
	`{"owner": {"$ne": null}}`,
	`{"secret": {"$exists": true}}`,
	`{"$or": [{"a": {"$in": [1, 2, {"$regularExpression": {"pattern": "^x", "options": "i"}}]}}, {"b": {"$not": {"$gt": 5}}}]}`,
	`{"$and": [{"$nor": [{"a": {"$type": ["string", 1]}}]}]}`,
	`{"items": {"$elemMatch": {"sku": "a", "qty": {"$gte": 2}, "$or": [{"x": 1}]}}}`,
	`{"scores": {"$elemMatch": {"$gte": 80, "$lt": 85}}, "tags": {"$all": ["a", {"$elemMatch": {"$eq": "b"}}], "$size": 2}}`,
	`{"n": {"$mod": [4, 1]}, "s": {"$regex": "a.*b", "$options": "si"}}`,
	`{"at": {"$gte": {"$date": "2020-01-01T00:00:00Z"}}, "id": {"$oid": "5f0000000000000000000000"}, "d": {"$numberDecimal": "1.5"}}`,
	`{"$where": "1"}`,
	`{"a": {"$expr": 1}}`,
	`{"$or": {}}`,
	`{"a": {"b": {"$gt": 1}}}`,
	`{"a": {"$gt": 1, "b": 1}}`,
	`{"名前": {"$regex": "値"}}`,
	`{"a": {"$not": {"$regularExpression": {"pattern": "x", "options": "m"}}}}`,
	`{"a": [1, [2, {"b": 3}]], "c": {"d": {"e": true}}}`,
	`{"a": {"$numberLong": "9223372036854775807"}, "b": {"$numberDouble": "NaN"}, "c": {"$binary": {"base64": "AA==", "subType": "00"}}}`,
}

func fuzzReadable(p string) bool { return policyAllows(p) }

// FuzzCheckFilter: no input panics, every error is a classified 400/403/413,
// and a filter accepted once is accepted again, with the same paths, after
// a BSON round trip (what the driver does before the server sees it).
func FuzzCheckFilter(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	lim := Limits{MaxDepth: 12, MaxRegexLength: 64, MaxInItems: 8}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := ParseJSONDoc(data)
		if err != nil {
			requireClassified(t, err, apperr.KindInvalid)
			return
		}
		err = CheckFilter(doc, lim, fuzzReadable)
		paths, perr := FilterPaths(doc)
		if err != nil {
			requireClassified(t, err, apperr.KindInvalid, apperr.KindForbidden, apperr.KindTooLarge)
			if perr != nil {
				requireClassified(t, perr, apperr.KindInvalid, apperr.KindTooLarge)
			}
			return
		}
		raw, err := bson.Marshal(doc)
		if err != nil {
			t.Fatalf("accepted filter does not marshal: %v", err)
		}
		var again bson.D
		if err := bson.Unmarshal(raw, &again); err != nil {
			t.Fatalf("unmarshal: %v", err)
		}
		if err := CheckFilter(again, lim, fuzzReadable); err != nil {
			t.Fatalf("accepted %s, refused after round trip: %v", data, err)
		}
		if perr != nil {
			// DefaultLimits are at least as generous as lim in every field.
			t.Fatalf("CheckFilter accepted but FilterPaths refused: %v", perr)
		}
		paths2, err := FilterPaths(again)
		if err != nil || !equalStrings(paths, paths2) {
			t.Fatalf("paths changed in round trip: %q vs %q (%v)", paths, paths2, err)
		}
		for _, p := range paths {
			if !fuzzReadable(p) {
				t.Fatalf("accepted filter uses unreadable path %q", p)
			}
		}
	})
}

// FuzzParseUpdate: no panics, classified errors, and every written path is
// reported (a denied one makes CheckWritable fail).
func FuzzParseUpdate(f *testing.F) {
	for _, s := range []string{
		`{"a": 1}`, `{"$set": {"items.$.x": 1}}`, `{"$rename": {"a": "b"}}`,
		`{"$push": {"items": {"$each": [{"k": 1}], "$sort": {"k": 1}}}}`,
		`{"$pull": {"items": {"secret": {"$gt": 1}}}}`, `{"$setOnInsert": {"a": 1}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		u, err := ParseUpdateJSON(data)
		if err != nil {
			requireClassified(t, err, apperr.KindInvalid, apperr.KindTooLarge)
			return
		}
		if len(u.Paths) == 0 {
			t.Fatalf("accepted update %s writes no path", data)
		}
		if err := CheckWritable(u.Paths, fuzzReadable); err != nil {
			requireClassified(t, err, apperr.KindForbidden)
		}
	})
}

func requireClassified(t *testing.T, err error, kinds ...apperr.Kind) {
	t.Helper()
	var ae *apperr.Error
	if !errors.As(err, &ae) {
		t.Fatalf("unclassified error %T: %v", err, err)
	}
	for _, k := range kinds {
		if ae.Kind == k {
			if ae.Message == "" {
				t.Fatal("empty error message")
			}
			return
		}
	}
	t.Fatalf("error kind %d not in %v: %v", ae.Kind, kinds, err)
}
