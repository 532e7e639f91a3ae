package grant

import (
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// The command documents sent to MongoDB. They are built here, apart from the
// code that sends them, so that tests can pin exactly what each grant,
// renewal and revocation asks of the server.

// majority is the write concern of every user-management command: a
// credential must not survive a failover that forgot its revocation.
var majority = bson.D{{Key: "w", Value: "majority"}}

// CreateRoleCmd is the custom role of a grant: exactly the requested
// privileges on each collection, no inherited roles, and the client networks
// as an authentication restriction.
func CreateRoleCmd(roleName string, a *Approved) bson.D {
	privs := bson.A{}
	for _, c := range a.Collections {
		acts := bson.A{}
		for _, x := range a.Actions {
			acts = append(acts, x)
		}
		privs = append(privs, bson.D{
			{Key: "resource", Value: bson.D{{Key: "db", Value: a.Database}, {Key: "collection", Value: c}}},
			{Key: "actions", Value: acts},
		})
	}
	cmd := bson.D{
		{Key: "createRole", Value: roleName},
		{Key: "privileges", Value: privs},
		{Key: "roles", Value: bson.A{}},
	}
	if len(a.ClientSource) > 0 {
		cmd = append(cmd, bson.E{Key: "authenticationRestrictions", Value: restrictions(a)})
	}
	return append(cmd, bson.E{Key: "writeConcern", Value: majority})
}

func restrictions(a *Approved) bson.A {
	src := bson.A{}
	for _, p := range a.ClientSource {
		src = append(src, p.String())
	}
	return bson.A{bson.D{{Key: "clientSource", Value: src}}}
}

// CreateUserCmd is the user of a grant: only the grant's role (which carries
// the network restriction), SCRAM-SHA-256 only, and customData marking it as ours so the reaper can find it even if
// the ledger lost it.
func CreateUserCmd(username, password, roleName, grantID string, a *Approved, expires time.Time) bson.D {
	cmd := bson.D{
		{Key: "createUser", Value: username},
		{Key: "pwd", Value: password},
		{Key: "roles", Value: bson.A{bson.D{{Key: "role", Value: roleName}, {Key: "db", Value: a.Database}}}},
		{Key: "customData", Value: customData(grantID, expires)},
		{Key: "mechanisms", Value: bson.A{"SCRAM-SHA-256"}},
		{Key: "writeConcern", Value: majority},
	}
	return cmd
}

func customData(grantID string, expires time.Time) bson.D {
	return bson.D{
		{Key: Marker, Value: true},
		{Key: "grant_id", Value: grantID},
		{Key: "expires_at", Value: bson.NewDateTimeFromTime(expires)},
	}
}

// RenewUserCmd moves the expiry recorded on the user.
func RenewUserCmd(username, grantID string, expires time.Time) bson.D {
	return bson.D{
		{Key: "updateUser", Value: username},
		{Key: "customData", Value: customData(grantID, expires)},
		{Key: "writeConcern", Value: majority},
	}
}

// DropUserCmd and DropRoleCmd revoke a grant.
func DropUserCmd(username string) bson.D {
	return bson.D{{Key: "dropUser", Value: username}, {Key: "writeConcern", Value: majority}}
}

// DropRoleCmd drops a grant's role.
func DropRoleCmd(roleName string) bson.D {
	return bson.D{{Key: "dropRole", Value: roleName}, {Key: "writeConcern", Value: majority}}
}

// Marker is the customData key that marks users as issued by permission-mongo.
const Marker = "pm_grant"

// RolePrefix and UserPrefix start the names of everything a grant creates.
const (
	RolePrefix = "pm_grant_role_"
	UserPrefix = "pm_grant_user_"
)
