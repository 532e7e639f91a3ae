package store

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Backend names reported by Probe.
const (
	BackendMongoDB  = "mongodb"
	BackendFerretDB = "ferretdb"
)

// Capability names, as used in NOT_SUPPORTED messages and by
// testenv.RequireCapability.
const (
	CapLookup         = "lookup"
	CapUserManagement = "user_management"
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
	// UserManagement: usersInfo runs, so createUser/createRole (credential
	// grants) can be expected to. False also when the proxy's own user is not
	// authorized to manage users: grants cannot work either way.
	UserManagement bool
	// Transactions: the server is a replica set member or mongos (hello
	// reports setName or msg "isdbgrid"), the precondition for transactions.
	Transactions bool
	// Backend is BackendFerretDB when buildInfo reports a FerretDB version,
	// BackendMongoDB otherwise.
	Backend string
	// Version is the server's version from buildInfo (FerretDB's own version
	// for FerretDB).
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
	case CapTransactions:
		return c.Transactions
	}
	return false
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

	err = db.RunCommand(ctx, bson.D{{Key: "usersInfo", Value: 1}}).Err()
	if hasCode(err, codeUnauthorized) {
		// The server has user management but will not let the proxy use it.
		return caps, nil
	}
	if caps.UserManagement, err = answered(err); err != nil {
		return caps, err
	}
	return caps, nil
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
