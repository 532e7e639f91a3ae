package pipeline

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestStageAfterIDless(t *testing.T) {
	for body, want := range map[string]string{
		`[{"$count": "c"}, {"$project": {"tenant_id": 0}}]`: "$project",
		`[{"$count": "c"}]`: "",
		`[{"$project": {"_id": 0, "a": 1}}, {"$sort": {"a": 1}}]`:            "$sort",
		`[{"$project": {"_id": 1, "a": 1}}, {"$sort": {"a": 1}}]`:            "",
		`[{"$unset": "_id"}, {"$limit": 1}]`:                                 "$limit",
		`[{"$unset": ["a", "_id"]}, {"$limit": 1}]`:                          "$limit",
		`[{"$unset": ["a"]}, {"$limit": 1}]`:                                 "",
		`[{"$match": {}}, {"$group": {"_id": "$a"}}, {"$sort": {"_id": 1}}]`: "",
	} {
		var d bson.D
		if err := bson.UnmarshalExtJSON([]byte(`{"p": `+body+`}`), false, &d); err != nil {
			t.Fatal(err)
		}
		if got := StageAfterIDless(d[0].Value.(bson.A)); got != want {
			t.Errorf("%s: got %q, want %q", body, got, want)
		}
	}
}
