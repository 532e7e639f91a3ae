package httpfuzz

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"net/http"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/app"
	"github.com/permission-mongo/permission-mongo/internal/app/apptest"
	"github.com/permission-mongo/permission-mongo/internal/config"
	"github.com/permission-mongo/permission-mongo/internal/service"
	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// fuzzPolicy gives the generator every kind of field rule to aim at:
// hidden fields at the top, in a sub-document, in array elements and in
// arrays of arrays; masks of three kinds; deny_write at the same depths; an
// allow list for a second role; and a side collection for $lookup and
// $unionWith with its own hidden field.
const fuzzPolicy = `
version: "1"
roles:
  clerk: {}
  viewer: {}
policies:
  recs:
    clerk:
      actions: [create, read, update, delete, aggregate]
      when: "resource.tenant_id == user.tenant_id"
      fields:
        deny: [secret, nested.hid, items.hid, grid.hid]
        deny_write: [tenant_id, locked, nested.lock, items.lock]
        mask: {email: email, card: partial, nested.code: redact}
    viewer:
      actions: [read, aggregate]
      when: "resource.tenant_id == user.tenant_id"
      fields:
        allow: [name, n, tags, items.name, items.qty, email, grid.name, tenant_id]
        mask: {email: email}
    presets:
      tenant_id: user.tenant_id
  side:
    clerk:
      actions: [read, aggregate]
      when: "resource.tenant_id == user.tenant_id"
      fields:
        deny: [secret]
    viewer:
      actions: [read, aggregate]
      when: "resource.tenant_id == user.tenant_id"
      fields:
        deny: [secret]
defaults:
  deny_unlisted_collections: true
`

// Field sets of the policy, as the checks need them. hiddenAll are hidden
// (or masked, which hides the stored value) for every principal; the twin
// documents differ only there.
var (
	protectedPaths = []string{"secret", "nested.hid", "items.hid", "grid.hid", "email", "card", "nested.code"}
	denyWritePaths = []string{"tenant_id", "locked", "nested.lock", "items.lock"}
)

// world is one proxy over one database.
type world struct {
	name string // "A" or "B"
	*apptest.Server
}

func newWorld(t *testing.T, name, policyPath string, ks *testenv.Keys) *world {
	t.Helper()
	cfg := apptest.Config(t, policyPath)
	cfg.CursorSecret = strings.Repeat("c", 32)
	cfg.Limits = config.Limits{MaxBodyBytes: 64 << 10, DefaultLimit: 20, MaxLimit: 50, MaxBatch: 10, QueryTimeout: 20 * time.Second,
		MaxFilterDepth: 16, MaxRegexLength: 128}
	// The server's log names the database error behind a 500 (code and
	// name, scrubbed); PM_FUZZ_HTTP_LOG=1 shows it while chasing a finding.
	logOut := io.Discard
	if os.Getenv("PM_FUZZ_HTTP_LOG") != "" {
		logOut = os.Stderr
	}
	s := apptest.Start(t, cfg, app.Options{
		Logger:  slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Keys:    ks,
		NoAudit: true,
		Service: func(p *service.Params) { p.Limits.Filter.MaxInItems = 100 },
	})
	return &world{name: name, Server: s}
}

// caller is a principal and its key.
type caller struct {
	name   string
	key    string
	viewer bool // sees only the viewer role's allow list
}

// reply is one HTTP answer.
type reply struct {
	status int
	body   []byte
	err    error // transport failure or timeout: a hang is a finding too
}

var httpClient = &http.Client{Timeout: 90 * time.Second}

func (w *world) send(r request, key string) reply {
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequest(r.method, w.URL+r.path, body)
	if err != nil {
		return reply{err: err}
	}
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("X-API-Key", key)
	res, err := httpClient.Do(req)
	if err != nil {
		return reply{err: err}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return reply{status: res.StatusCode, body: b, err: err}
}

// Documents. Visible fields are equal in both worlds; hidden fields differ
// (absent, null, scalar, number, object, array); masked fields differ only
// in the characters their masks hide. Every hidden or masked value carries a
// marker (HIDSENT, MASKSENT, 7777xxx) so a leak is a substring search;
// documents of the other tenant carry OTHERSENT everywhere; fields only the
// viewer role cannot see carry VWHID or 8888xxx.

const oidHex = "64b000000000000000000004"

var seededIDs = []any{"d0", "d1", "d2", "d3", mustOID(oidHex)}

func mustOID(h string) bson.ObjectID {
	id, err := bson.ObjectIDFromHex(h)
	if err != nil {
		panic(err)
	}
	return id
}

// hiddenVariant returns a hidden value of kind k, or (nil, false) for absent.
func hiddenVariant(k int, w string, i int, field string) (any, bool) {
	s := fmt.Sprintf("HIDSENT_%s%d_%s", w, i, strings.ReplaceAll(field, ".", "_"))
	num := int32(7777000 + i*10 + len(field))
	if w == "B" {
		num += 500
	}
	switch k {
	case 0:
		return nil, false
	case 1:
		return nil, true
	case 2:
		return s, true
	case 3:
		return num, true
	case 4:
		return bson.D{{Key: "x", Value: s}, {Key: "y", Value: num}}, true
	case 5:
		return bson.A{s, bson.D{{Key: "z", Value: s + "_el"}}}, true
	default:
		return true, true
	}
}

const hiddenKinds = 7

// twinKinds picks two different hidden kinds, one per world.
func twinKinds(r *rand.Rand) (int, int) {
	a := r.Intn(hiddenKinds)
	b := (a + 1 + r.Intn(hiddenKinds-1)) % hiddenKinds
	return a, b
}

func put(d bson.D, k string, v any, ok bool) bson.D {
	if !ok {
		return d
	}
	return append(d, bson.E{Key: k, Value: v})
}

// seedDocs builds both worlds' documents from one random source.
func seedDocs(r *rand.Rand, arraysOfArrays bool) (a, b []bson.D) {
	names := []string{"alpha", "beta", "gamma", "delta"}
	for i, id := range seededIDs {
		common := bson.D{
			{Key: "_id", Value: id},
			{Key: "tenant_id", Value: "t1"},
			{Key: "name", Value: names[r.Intn(len(names))]},
		}
		if r.Intn(5) != 0 {
			common = append(common, bson.E{Key: "n", Value: int32(r.Intn(5))})
		}
		tags := bson.A{}
		for _, t := range []string{"a", "b", "c"} {
			if r.Intn(2) == 0 {
				tags = append(tags, t)
			}
		}
		common = append(common,
			bson.E{Key: "tags", Value: tags},
			bson.E{Key: "public", Value: r.Intn(2) == 0},
			bson.E{Key: "locked", Value: fmt.Sprintf("VWHID_locked%d", i)},
		)
		nItems := 2 + r.Intn(2)
		kinds := make([][2]int, 0, 8)
		for j := 0; j < 3+nItems+1; j++ {
			ka, kb := twinKinds(r)
			kinds = append(kinds, [2]int{ka, kb})
		}
		for wi, w := range []string{"A", "B"} {
			d := append(bson.D{}, common...)
			k := func(j int) int { return kinds[j][wi] }
			v, ok := hiddenVariant(k(0), w, i, "secret")
			d = put(d, "secret", v, ok)
			d = append(d,
				bson.E{Key: "email", Value: fmt.Sprintf("mMASKSENT_%s%d@mask.example", w, i)},
				bson.E{Key: "card", Value: fmt.Sprintf("zzMASKSENT_%s%d_zz", w, i)},
			)
			nested := bson.D{{Key: "vis", Value: int32(8888000 + i)}}
			v, ok = hiddenVariant(k(1), w, i, "nested.hid")
			nested = put(nested, "hid", v, ok)
			nested = append(nested,
				bson.E{Key: "code", Value: fmt.Sprintf("MASKSENT_%s%d_code", w, i)},
				bson.E{Key: "lock", Value: int32(5)})
			d = append(d, bson.E{Key: "nested", Value: nested})
			items := bson.A{}
			for j := 0; j < nItems; j++ {
				it := bson.D{{Key: "name", Value: fmt.Sprintf("it%d", j)}, {Key: "qty", Value: int32(j + 1)}}
				v, ok = hiddenVariant(k(2+j), w, i, fmt.Sprintf("items%d.hid", j))
				it = put(it, "hid", v, ok)
				it = append(it, bson.E{Key: "lock", Value: int32(j)})
				items = append(items, it)
			}
			d = append(d, bson.E{Key: "items", Value: items})
			if arraysOfArrays {
				g := bson.D{{Key: "name", Value: "g"}}
				v, ok = hiddenVariant(k(2+nItems), w, i, "grid.hid")
				g = put(g, "hid", v, ok)
				d = append(d, bson.E{Key: "grid", Value: bson.A{bson.A{g}}})
			}
			if wi == 0 {
				a = append(a, d)
			} else {
				b = append(b, d)
			}
		}
	}
	// The other tenant's documents: equal in both worlds, never visible.
	for i := 0; i < 2; i++ {
		o := bson.D{
			{Key: "_id", Value: fmt.Sprintf("o%d", i)},
			{Key: "tenant_id", Value: "t2"},
			{Key: "name", Value: fmt.Sprintf("OTHERSENT_name%d", i)},
			{Key: "n", Value: int32(i)},
			{Key: "tags", Value: bson.A{"a", "OTHERSENT_tag"}},
			{Key: "public", Value: true},
			{Key: "secret", Value: "OTHERSENT_secret"},
			{Key: "email", Value: "OTHERSENT@mask.example"},
			{Key: "nested", Value: bson.D{{Key: "vis", Value: "OTHERSENT_vis"}, {Key: "lock", Value: int32(5)}}},
			{Key: "items", Value: bson.A{bson.D{{Key: "name", Value: "OTHERSENT_it"}, {Key: "qty", Value: int32(1)}, {Key: "lock", Value: int32(0)}}}},
		}
		a, b = append(a, o), append(b, o)
	}
	return a, b
}

// sideDocs are the $lookup / $unionWith target: k matches names of recs.
func sideDocs() []bson.D {
	return []bson.D{
		{{Key: "_id", Value: "s0"}, {Key: "tenant_id", Value: "t1"}, {Key: "k", Value: "alpha"}, {Key: "secret", Value: "HIDSENT_side0"}},
		{{Key: "_id", Value: "s1"}, {Key: "tenant_id", Value: "t1"}, {Key: "k", Value: "beta"}},
		{{Key: "_id", Value: "s2"}, {Key: "tenant_id", Value: "t2"}, {Key: "k", Value: "alpha"}, {Key: "secret", Value: "OTHERSENT_side"}},
	}
}

// reseed replaces both collections of a world.
func (w *world) reseed(ctx context.Context, recs []bson.D) error {
	for coll, docs := range map[string][]bson.D{"recs": recs, "side": sideDocs()} {
		c := w.DB.Collection(coll)
		if _, err := c.DeleteMany(ctx, bson.D{}); err != nil {
			return fmt.Errorf("%s: clear %s: %w", w.name, coll, err)
		}
		any := make([]any, len(docs))
		for i, d := range docs {
			any[i] = d
		}
		if _, err := c.InsertMany(ctx, any); err != nil {
			return fmt.Errorf("%s: seed %s: %w", w.name, coll, err)
		}
	}
	return nil
}

// snapshot reads every document of recs straight from the database, keyed
// by a printable _id.
func (w *world) snapshot(ctx context.Context) (map[string]bson.D, error) {
	cur, err := w.DB.Collection("recs").Find(ctx, bson.D{})
	if err != nil {
		return nil, err
	}
	var docs []bson.D
	if err := cur.All(ctx, &docs); err != nil {
		return nil, err
	}
	out := make(map[string]bson.D, len(docs))
	for _, d := range docs {
		out[fmt.Sprint(lookup(d, "_id"))] = d
	}
	return out, nil
}

func lookup(d bson.D, k string) any {
	for _, e := range d {
		if e.Key == k {
			return e.Value
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
