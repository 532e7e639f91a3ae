package store

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Backend names reported by Probe. They name the engine for logs and for
// documented behaviour differences; what a server can do is never inferred
// from its name but probed (Capabilities).
const (
	BackendMongoDB = "mongodb"
	// BackendFerretDB is FerretDB v1 (the embedded SQLite backend): buildInfo
	// carries a "ferretdbVersion" string.
	BackendFerretDB = "ferretdb"
	// BackendDocumentDB is FerretDB v2 on PostgreSQL with the DocumentDB
	// extension: buildInfo carries a "ferretdb" document.
	BackendDocumentDB = "documentdb"
)

// Capability names, as used in NOT_SUPPORTED messages and by
// testenv.RequireCapability.
const (
	CapLookup         = "lookup"
	CapUserManagement = "user_management"
	CapCustomRoles    = "custom_roles"
	CapTransactions   = "transactions"
)

// probeCollection is never created: aggregating a missing collection reads
// nothing on MongoDB, and is still parsed (and refused) by servers that lack
// a stage.
const probeCollection = "pm_capability_probe"

// Capabilities is what the connected server can do, as it answered when
// asked. Features that depend on one are switched off (answering 501) rather
// than failing with a driver error on the first request.
type Capabilities struct {
	// Lookup: the aggregation stage $lookup runs.
	Lookup bool
	// UserManagement: usersInfo runs, so createUser/dropUser can be expected
	// to. False also when the proxy's own user is not authorized to manage
	// users: grants cannot work either way.
	UserManagement bool
	// CustomRoles: rolesInfo runs, so createRole can be expected to. Without
	// it a created user could only get a built-in role, never one limited to
	// the granted collections and actions, so grants are refused.
	CustomRoles bool
	// Transactions: the server is a replica set member or mongos (hello
	// reports setName or msg "isdbgrid"), the precondition for transactions.
	Transactions bool
	// Backend is BackendFerretDB, BackendDocumentDB or BackendMongoDB, from
	// the shape of buildInfo's answer.
	Backend string
	// Version is the server's version from buildInfo (FerretDB's own version
	// for FerretDB v1).
	Version string
}

// Has reports whether the named capability (CapLookup, ...) is present.
// Unknown names are absent, so a typo fails closed.
func (c Capabilities) Has(name string) bool {
	switch name {
	case CapLookup:
		return c.Lookup
	case CapUserManagement:
		return c.UserManagement
	case CapCustomRoles:
		return c.CustomRoles
	case CapTransactions:
		return c.Transactions
	}
	return false
}

// LookupByIDOnly reports a server that answers a find without reading the
// whole collection only when the filter is exactly {_id: <ObjectId or
// string>}: FerretDB v1 on SQLite pushes that one shape down to SQL and
// evaluates every other filter, and every sort, in memory over all the
// documents. Readers then ask it for that shape and apply the rest
// themselves (service.Params.LookupByIDOnly).
func (c Capabilities) LookupByIDOnly() bool { return c.Backend == BackendFerretDB }

// GrantsMissing names the first capability credential grants need that the
// server lacks, or "" when grants can be issued. A grant is a user holding
// one custom role limited to the granted collections and actions; a server
// that can create users but not roles could only hand out users with
// whatever rights it gives by default, which is not a least-privilege
// credential, so it is refused like a server without users at all.
func (c Capabilities) GrantsMissing() string {
	switch {
	case !c.UserManagement:
		return CapUserManagement
	case !c.CustomRoles:
		return CapCustomRoles
	}
	return ""
}

// Probe asks the server behind client what it supports, by running cheap
// commands in database and reading their answer codes (NotImplemented,
// CommandNotFound); nothing is inferred from the server's name. It writes
// nothing. An error means the server could not be asked (it is translated);
// a capability that the server refuses is false, not an error.
func Probe(ctx context.Context, client *mongo.Client, database string) (Capabilities, error) {
	var caps Capabilities
	admin := client.Database("admin")

	var build bson.M
	if err := admin.RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&build); err != nil {
		return caps, Translate(err)
	}
	caps.Backend = BackendMongoDB
	caps.Version, _ = build["version"].(string)
	if v, ok := build["ferretdbVersion"].(string); ok {
		caps.Backend = BackendFerretDB
		caps.Version = v
	} else if build["ferretdb"] != nil {
		caps.Backend = BackendDocumentDB
	}

	var hello struct {
		SetName string `bson:"setName"`
		Msg     string `bson:"msg"`
	}
	if err := admin.RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&hello); err != nil {
		return caps, Translate(err)
	}
	caps.Transactions = hello.SetName != "" || hello.Msg == "isdbgrid"

	db := client.Database(database)
	lookup := mongo.Pipeline{{{Key: "$lookup", Value: bson.D{
		{Key: "from", Value: probeCollection},
		{Key: "localField", Value: "_id"},
		{Key: "foreignField", Value: "_id"},
		{Key: "as", Value: "x"},
	}}}}
	err := func() error {
		cur, err := db.Collection(probeCollection).Aggregate(ctx, lookup)
		if err != nil {
			return err
		}
		return cur.Close(ctx)
	}()
	if caps.Lookup, err = answered(err); err != nil {
		return caps, err
	}

	if caps.UserManagement, err = adminAnswered(ctx, db, "usersInfo"); err != nil || !caps.UserManagement {
		return caps, err
	}
	caps.CustomRoles, err = adminAnswered(ctx, db, "rolesInfo")
	return caps, err
}

// adminAnswered probes a user or role management command (answered). A
// server that has it but will not let the proxy run it (Unauthorized) does
// not have it, as far as the proxy can tell.
func adminAnswered(ctx context.Context, db *mongo.Database, cmd string) (bool, error) {
	err := RunAdminCommand(ctx, db, bson.D{{Key: cmd, Value: 1}}).Err()
	if hasCode(err, codeUnauthorized) {
		return false, nil
	}
	return answered(err)
}

// RunAdminCommand runs a user or role management command (usersInfo,
// createUser, rolesInfo, ...) bounded by ctx's deadline without sending that
// deadline to the server. The driver turns a context deadline into a maxTimeMS
// field, which some servers (FerretDB v2) reject on these commands as an
// unsupported field; a cancel-only context keeps the bound on the client side.
func RunAdminCommand(ctx context.Context, db *mongo.Database, cmd bson.D) *mongo.SingleResult {
	deadline, ok := ctx.Deadline()
	if !ok {
		return db.RunCommand(ctx, cmd)
	}
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stopParent := context.AfterFunc(ctx, cancel)
	defer stopParent()
	timer := time.AfterFunc(time.Until(deadline), cancel)
	defer timer.Stop()
	return db.RunCommand(cctx, cmd)
}

// codeUnauthorized is the server's answer to a command the user may not run.
const codeUnauthorized = 13

// answered turns a probe's outcome into a capability: present when it ran,
// absent when the server says it does not implement it, and unknown (a
// translated error) otherwise, e.g. when the server is unreachable, which says
// nothing about what it supports.
func answered(err error) (bool, error) {
	switch {
	case err == nil:
		return true, nil
	case hasCode(err, CodeNotImplemented, CodeCommandNotFound):
		return false, nil
	}
	return false, Translate(err)
}
