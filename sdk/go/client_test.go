package permissionmongo_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/api"
	"github.com/permission-mongo/permission-mongo/internal/auth"
	"github.com/permission-mongo/permission-mongo/internal/cursor"
	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/principal"
	"github.com/permission-mongo/permission-mongo/internal/query"
	"github.com/permission-mongo/permission-mongo/internal/service"
	"github.com/permission-mongo/permission-mongo/internal/store"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
	pm "github.com/permission-mongo/permission-mongo/sdk/go"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const sdkPolicy = `roles: {member: {}}
policies:
  notes:
    member:
      actions: [create, read, update, delete, aggregate]
      when: "resource.tenant_id == user.tenant_id"
      fields: {deny_write: [locked], mask: {email: email}}
    presets: {tenant_id: user.tenant_id}
`

// server starts a real proxy on the embedded backend and returns clients for
// two tenants.
func server(t *testing.T) (*pm.Client, *pm.Client) {
	t.Helper()
	pf := filepath.Join(t.TempDir(), "p.yml")
	require.NoError(t, os.WriteFile(pf, []byte(sdkPolicy), 0o600))
	set, err := policy.Load(pf)
	require.NoError(t, err)
	_, db := testenv.Mongo(t)
	codec := cursor.NewCodec([]byte(strings.Repeat("k", 32)))
	codec.Order = cursor.OrderOf(testenv.Backend())
	docs := store.NewDocuments(db, 10*time.Second)
	svc := service.New(service.Params{Store: docs, Policies: set, Cursors: codec,
		Limits: service.Limits{DefaultLimit: 20, MaxLimit: 100, MaxBatch: 100, Filter: query.DefaultLimits}})
	var keys []auth.StaticKey
	var full []string
	for _, tenant := range []string{"t1", "t2"} {
		id, key, hash := auth.GenerateKey()
		keys = append(keys, auth.StaticKey{Name: tenant, KeyID: id, KeySHA256: hash,
			Principal: principal.Principal{ID: "u-" + tenant, TenantID: tenant, Roles: []string{"member"}}})
		full = append(full, key)
	}
	static, err := auth.NewStaticKeys(keys)
	require.NoError(t, err)
	srv := httptest.NewServer(api.New(api.Params{Service: svc, Auth: &auth.Authenticator{Keys: static}}))
	t.Cleanup(srv.Close)
	return pm.New(srv.URL, full[0]), pm.New(srv.URL, full[1])
}

func TestClientCRUDFindAndErrors(t *testing.T) {
	c1, c2 := server(t)
	ctx := context.Background()

	var created bson.M
	require.NoError(t, c1.Insert(ctx, "notes", bson.D{{Key: "_id", Value: "n1"}, {Key: "text", Value: "hello"}, {Key: "email", Value: "ann@x.io"}}, &created))
	require.Equal(t, "t1", created["tenant_id"], "the preset comes from the caller")
	require.Equal(t, "a**@x.io", created["email"], "masks apply to what the SDK reads back")

	var got bson.M
	require.NoError(t, c1.Get(ctx, "notes", "n1", &got))
	require.Equal(t, "hello", got["text"])
	err := c2.Get(ctx, "notes", "n1", &got)
	require.True(t, pm.IsNotFound(err), "another tenant's document is not found: %v", err)

	var updated bson.M
	require.NoError(t, c1.Update(ctx, "notes", "n1", bson.D{{Key: "$set", Value: bson.D{{Key: "text", Value: "bye"}}}}, &updated))
	require.Equal(t, "bye", updated["text"])
	err = c1.Update(ctx, "notes", "n1", bson.D{{Key: "$set", Value: bson.D{{Key: "locked", Value: true}}}}, nil)
	require.True(t, pm.IsForbidden(err), "deny_write is a typed 403: %v", err)
	var perr *pm.Error
	require.ErrorAs(t, err, &perr)
	require.Equal(t, 403, perr.Status)
	require.NotEmpty(t, perr.RequestID)

	for i := 0; i < 45; i++ {
		require.NoError(t, c1.Insert(ctx, "notes", bson.D{{Key: "_id", Value: fmt.Sprintf("p%02d", i)}, {Key: "n", Value: int32(i)}}, nil))
	}
	require.NoError(t, c2.Insert(ctx, "notes", bson.D{{Key: "_id", Value: "other"}, {Key: "n", Value: int32(1)}}, nil))

	n, err := c1.Count(ctx, "notes", bson.D{{Key: "n", Value: bson.D{{Key: "$gte", Value: 40}}}})
	require.NoError(t, err)
	require.EqualValues(t, 5, n)

	// The iterator follows the server's cursor across pages of 7.
	it := c1.Find(ctx, "notes", bson.D{{Key: "n", Value: bson.D{{Key: "$exists", Value: true}}}}, pm.FindOptions{Sort: []string{"-n"}, Limit: 7})
	var seen []int32
	for it.Next() {
		var d struct {
			N int32 `bson:"n"`
		}
		require.NoError(t, it.Decode(&d))
		seen = append(seen, d.N)
	}
	require.NoError(t, it.Err())
	require.Len(t, seen, 45, "every visible document once, none of the other tenant's")
	for i := 1; i < len(seen); i++ {
		require.Greater(t, seen[i-1], seen[i])
	}

	var groups []bson.M
	require.NoError(t, c1.Aggregate(ctx, "notes", bson.A{
		bson.D{{Key: "$match", Value: bson.D{{Key: "n", Value: bson.D{{Key: "$lt", Value: 10}}}}}},
		bson.D{{Key: "$count", Value: "total"}},
	}, &groups))
	require.Len(t, groups, 1)
	require.EqualValues(t, 10, groups[0]["total"])

	require.NoError(t, c1.Delete(ctx, "notes", "n1"))
	require.True(t, pm.IsNotFound(c1.Get(ctx, "notes", "n1", &got)))

	bad := pm.New(c1.BaseURL, "pm_0000000000000000_nope")
	err = bad.Get(ctx, "notes", "p01", &got)
	require.ErrorAs(t, err, &perr)
	require.Equal(t, "UNAUTHENTICATED", perr.Code)
}
