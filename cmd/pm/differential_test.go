package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/policytest"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// `pm policy test` decides with the in-memory check, but reads, updates and
// deletes are enforced by the filter the server evaluates. This test stores
// every example case's document on a real server and checks that the
// injected filter finds it exactly when the in-memory check accepts it, so a
// green `pm policy test` also vouches for what the server will return.
func TestExampleCasesAgreeWithServer(t *testing.T) {
	set, err := policy.Load(examplePolicies)
	require.NoError(t, err)
	files, err := policytest.CaseFiles(filepath.Join(examplePolicies, "tests"))
	require.NoError(t, err)
	require.NotEmpty(t, files)

	_, db := testenv.Mongo(t)
	coll := db.Collection("docs")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	now := time.Now()
	n := 0
	for _, f := range files {
		cases, broken, probs := policytest.ParseFile(f, now)
		require.Zero(t, broken, "%v", probs)
		for _, tc := range cases {
			d := set.Decide(tc.User.Roles, tc.User, tc.Collection, tc.Action, tc.Now)
			if !d.Granted {
				continue // refused before any query is sent
			}
			// One document at a time: case documents reuse _ids.
			_, err := coll.DeleteMany(ctx, bson.D{})
			require.NoError(t, err)
			_, err = coll.InsertOne(ctx, tc.Doc)
			require.NoError(t, err, tc.Name)
			filter := d.Filter()
			if filter == nil { // Always: nothing injected
				filter, _ = bson.Marshal(bson.D{})
			}
			found, err := coll.CountDocuments(ctx, filter)
			require.NoError(t, err, tc.Name)
			require.Equal(t, d.Match(tc.Doc), found == 1,
				"%s:%d %s: filter %s and in-memory check disagree", tc.File, tc.Line, tc.Name, filter)
			n++
		}
	}
	require.Greater(t, n, 20)
}
