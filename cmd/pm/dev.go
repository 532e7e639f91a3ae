package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/app"
	"github.com/permission-mongo/permission-mongo/internal/auth"
	"github.com/permission-mongo/permission-mongo/internal/config"
	"github.com/permission-mongo/permission-mongo/internal/principal"
	"github.com/permission-mongo/permission-mongo/internal/store"
)

func init() {
	commands["dev"] = command{
		summary: "run the proxy on the embedded database with demo data and demo API keys",
		run:     runDev,
	}
}

// demoUser is a caller of the example policies in policies/.
type demoUser struct {
	name string
	p    principal.Principal
	note string
}

var demoUsers = []demoUser{
	{"alice", principal.Principal{ID: "alice", TenantID: "acme", Roles: []string{"employee"}}, "employee at acme: her own record, the public directory"},
	{"mona", principal.Principal{ID: "mona", TenantID: "acme", Roles: []string{"manager"}}, "manager at acme: also her direct reports"},
	{"hana", principal.Principal{ID: "hana", TenantID: "acme", Roles: []string{"hr"}}, "HR at acme: every acme employee"},
	{"carl", principal.Principal{ID: "carl", TenantID: "acme", Roles: []string{"customer"}}, "customer at acme: his orders and those shared with him"},
	{"sam", principal.Principal{ID: "sam", TenantID: "acme", Roles: []string{"support"}, Claims: map[string]any{"regions": []any{"eu"}}}, "support at acme, region eu: open orders"},
	{"gina", principal.Principal{ID: "gina", TenantID: "globex", Roles: []string{"hr"}}, "HR at globex: sees nothing of acme"},
	{"ada", principal.Principal{ID: "ada", TenantID: "acme", Roles: []string{"admin"}}, "admin at acme: the audit log and API keys (try her in the console)"},
}

// runDev implements `pm dev`: everything needed to try the proxy, on one
// machine, with nothing installed but Go.
func runDev(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("pm dev", "[--listen ADDR] [--data DIR | --temp] [--policies PATH]", stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "HTTP address")
	data := fs.String("data", "./data", "folder of the embedded database")
	temp := fs.Bool("temp", false, "keep the database in a temporary folder removed on exit")
	policies := fs.String("policies", "./policies", "policy file or folder")
	if code, stop := parseNoArgs(fs, args); stop {
		return code
	}
	cfg := config.Default()
	cfg.Listen, cfg.Policies, cfg.MongoDB.EmbeddedDir = *listen, *policies, *data
	if *temp {
		dir, err := os.MkdirTemp("", "pm-dev-")
		if err != nil {
			fmt.Fprintf(stderr, "pm dev: %v\n", err)
			return exitFail
		}
		defer func() { _ = os.RemoveAll(dir) }()
		cfg.MongoDB.EmbeddedDir = dir
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	cfg.CursorSecret = hex.EncodeToString(secret)
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "pm dev: %v\n", err)
		return exitFail
	}

	// Demo keys are new on every start and exist only in memory: nothing
	// usable is ever written to disk.
	keys := make([]auth.StaticKey, len(demoUsers))
	full := make([]string, len(demoUsers))
	for i, u := range demoUsers {
		id, key, hash := auth.GenerateKey()
		keys[i] = auth.StaticKey{Name: "demo-" + u.name, KeyID: id, KeySHA256: hash, Principal: u.p}
		full[i] = key
	}
	demoKeys, err := auth.NewStaticKeys(keys)
	if err != nil {
		fmt.Fprintf(stderr, "pm dev: %v\n", err)
		return exitFail
	}

	logger := newLogger(config.Log{Level: "info"}, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := app.New(ctx, cfg, app.Options{Logger: logger, Keys: demoKeys})
	if err != nil {
		fmt.Fprintf(stderr, "pm dev: %v\n", err)
		return exitFail
	}
	defer a.Close()
	if err := seedDemo(ctx, a.Database()); err != nil {
		fmt.Fprintf(stderr, "pm dev: demo data: %v\n", err)
		return exitFail
	}
	a.Start(ctx)
	err = a.Serve(ctx, func(addr string) { printDemo(stdout, baseURL(addr), full) })
	if err != nil {
		fmt.Fprintf(stderr, "pm dev: %v\n", err)
		return exitFail
	}
	return exitOK
}

func printDemo(w io.Writer, base string, keys []string) {
	fmt.Fprintf(w, "\npermission-mongo dev server on %s (embedded FerretDB, policies from ./policies)\n\n", base)
	fmt.Fprintln(w, "Demo API keys (new on every start):")
	for i, u := range demoUsers {
		fmt.Fprintf(w, "  export KEY_%s=%s   # %s\n", u.name, keys[i], u.note)
	}
	fmt.Fprintf(w, "\nWeb console: %s/console/ (sign in by pasting one of the keys)\n", base)
	fmt.Fprintln(w, "\nTry:")
	fmt.Fprintf(w, "  curl -s %s/collections/employees -H \"X-API-Key: $KEY_alice\"\n", base)
	fmt.Fprintf(w, "  curl -s %s/collections/employees -H \"X-API-Key: $KEY_hana\"\n", base)
	fmt.Fprintf(w, "  curl -s %s/collections/employees -H \"X-API-Key: $KEY_gina\"\n", base)
	fmt.Fprintf(w, "  curl -s %s/collections/employees/emp-bob -H \"X-API-Key: $KEY_alice\"        # 404: not hers, not public\n", base)
	fmt.Fprintf(w, "  curl -s -X PATCH %s/collections/employees/emp-alice -H \"X-API-Key: $KEY_alice\" -H 'Content-Type: application/json' -d '{\"$set\":{\"salary\":1}}'   # 403 deny_write\n", base)
	fmt.Fprintf(w, "  curl -s -X POST %s/collections/employees/find -H \"X-API-Key: $KEY_alice\" -H 'Content-Type: application/json' -d '{\"filter\":{\"ssn\":{\"$exists\":true}}}'   # 403 hidden field\n", base)
	fmt.Fprintf(w, "  curl -s '%s/collections/orders?sort=-total&limit=2' -H \"X-API-Key: $KEY_carl\"\n", base)
	fmt.Fprintf(w, "  curl -s %s/collections/orders -H \"X-API-Key: $KEY_sam\"\n", base)
	fmt.Fprintf(w, "  curl -s -X POST %s/explain -H \"X-API-Key: $KEY_sam\" -H 'Content-Type: application/json' -d '{\"collection\":\"orders\",\"action\":\"read\"}'\n\n", base)
}

// seedDemo writes the demo documents once; documents already there (from an
// earlier run on the same data folder) are left as they are.
func seedDemo(ctx context.Context, db *store.Database) error {
	now := bson.NewDateTimeFromTime(time.Now().UTC().Truncate(time.Millisecond))
	// sub builds an embedded document; d a stored one, with its stamps.
	sub := func(kv ...any) bson.D {
		out := bson.D{}
		for i := 0; i+1 < len(kv); i += 2 {
			out = append(out, bson.E{Key: kv[i].(string), Value: kv[i+1]})
		}
		return out
	}
	d := func(kv ...any) bson.D {
		return append(sub(kv...), bson.E{Key: "created_at", Value: now}, bson.E{Key: "updated_at", Value: now})
	}
	seed := map[string][]bson.D{
		"employees": {
			d("_id", "emp-alice", "tenant_id", "acme", "owner", "alice", "name", "Alice Archer", "title", "Engineer",
				"department", "eng", "email", "alice@acme.io", "phone", "+1 555-010-1234", "salary", 85000, "ssn", "123-45-6789",
				"public", true, "manager_id", "mona"),
			d("_id", "emp-bob", "tenant_id", "acme", "owner", "bob", "name", "Bob Baker", "title", "Engineer",
				"department", "eng", "email", "bob@acme.io", "phone", "+1 555-010-5678", "salary", 82000, "ssn", "987-65-4321",
				"public", false, "manager_id", "mona"),
			d("_id", "emp-mona", "tenant_id", "acme", "owner", "mona", "name", "Mona Moss", "title", "Engineering Manager",
				"department", "eng", "email", "mona@acme.io", "salary", 120000, "public", true),
			d("_id", "emp-gus", "tenant_id", "globex", "owner", "gus", "name", "Gus Grant", "title", "Analyst",
				"email", "gus@globex.example", "salary", 70000, "public", true),
		},
		"departments": {
			d("_id", "dep-eng", "tenant_id", "acme", "name", "Engineering", "head", "mona", "budget", 2500000),
			d("_id", "dep-ops", "tenant_id", "globex", "name", "Operations", "head", "gus", "budget", 900000),
		},
		"orders": {
			d("_id", "ord-1", "tenant_id", "acme", "owner", "carl", "status", "open", "region", "eu", "total", 120.5,
				"items", bson.A{sub("sku", "A-1", "qty", 2)}, "shared_with", bson.A{"dana"}, "customer_email", "carl@example.com",
				"payment", sub("method", "card", "card_fingerprint", "fp_9c1e")),
			d("_id", "ord-2", "tenant_id", "acme", "owner", "carl", "status", "shipped", "region", "us", "total", 42.0,
				"shared_with", bson.A{}, "customer_email", "carl@example.com"),
			d("_id", "ord-3", "tenant_id", "acme", "owner", "dana", "status", "pending", "region", "eu", "total", 999.99,
				"shared_with", bson.A{"carl"}, "customer_email", "dana@example.com"),
			d("_id", "ord-4", "tenant_id", "globex", "owner", "carl", "status", "open", "region", "eu", "total", 5.0,
				"shared_with", bson.A{}),
		},
	}
	for coll, docs := range seed {
		for _, doc := range docs {
			err := db.Collection(coll).InsertOne(ctx, doc)
			if err != nil && !store.IsDuplicateKey(err) {
				return fmt.Errorf("%s: %w", coll, err)
			}
		}
	}
	return nil
}
