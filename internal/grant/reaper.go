package grant

import (
	"context"
	"errors"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/permission-mongo/permission-mongo/internal/store"
)

// Reaper revokes expired grants and reconciles the server with the ledger.
// With several proxies side by side only the holder of a lease in MongoDB
// reaps, so two proxies never race to drop the same user.
type Reaper struct {
	M *Manager
	// Leases holds one document per lease name.
	Leases *mongo.Collection
	// Holder identifies this proxy (random per process).
	Holder string
	// LeaseTTL is how long a lease lasts without renewal.
	LeaseTTL time.Duration
	// MaxAttempts failed revocations flag a grant for a person to look at.
	MaxAttempts int
	// PendingAfter is how old a pending entry must be before it counts as a
	// crashed issue (an issue in progress is younger).
	PendingAfter time.Duration
	// Databases are reconciled besides those named in the ledger.
	Databases []string
}

// Report says what one pass did.
type Report struct {
	Acquired bool
	Revoked  int // expired grants revoked
	Cleaned  int // pending (crashed) grants rolled back
	Orphans  int // our users or roles with no active ledger entry, dropped
	Flagged  int // grants that could not be revoked MaxAttempts times
	Failures int
}

const leaseName = "grant-reaper"

// AcquireLease takes or renews the reaper lease; false when another holder
// has a lease that has not expired.
func (r *Reaper) AcquireLease(ctx context.Context) (bool, error) {
	now := r.M.now()
	until := now.Add(r.LeaseTTL)
	res, err := r.Leases.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: leaseName}, {Key: "$or", Value: bson.A{
			bson.D{{Key: "until", Value: bson.D{{Key: "$lt", Value: now}}}},
			bson.D{{Key: "holder", Value: r.Holder}},
		}}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "holder", Value: r.Holder}, {Key: "until", Value: until}}}})
	if err != nil {
		return false, err
	}
	if res.MatchedCount == 1 {
		return true, nil
	}
	_, err = r.Leases.InsertOne(ctx, bson.D{{Key: "_id", Value: leaseName}, {Key: "holder", Value: r.Holder}, {Key: "until", Value: until}})
	if mongo.IsDuplicateKeyError(err) {
		return false, nil
	}
	return err == nil, err
}

// RunOnce makes one pass if it holds the lease.
func (r *Reaper) RunOnce(ctx context.Context) (Report, error) {
	var rep Report
	ok, err := r.AcquireLease(ctx)
	if err != nil || !ok {
		return rep, err
	}
	rep.Acquired = true
	now := r.M.now()

	// Expired grants, and revocations that failed before.
	cur, err := r.M.Ledger.Find(ctx, bson.D{{Key: "$or", Value: bson.A{
		bson.D{{Key: "status", Value: Active}, {Key: "expires_at", Value: bson.D{{Key: "$lte", Value: now}}}},
		bson.D{{Key: "status", Value: Revoking}},
	}}})
	if err != nil {
		return rep, err
	}
	var due []Record
	if err := cur.All(ctx, &due); err != nil {
		return rep, err
	}
	for i := range due {
		r.revokeOrFlag(ctx, &due[i], &rep, &rep.Revoked)
	}

	// Pending entries older than an issue takes: the proxy crashed mid-issue.
	cur, err = r.M.Ledger.Find(ctx, bson.D{{Key: "status", Value: Pending}, {Key: "created_at", Value: bson.D{{Key: "$lt", Value: now.Add(-r.PendingAfter)}}}})
	if err != nil {
		return rep, err
	}
	var stale []Record
	if err := cur.All(ctx, &stale); err != nil {
		return rep, err
	}
	for i := range stale {
		r.revokeOrFlag(ctx, &stale[i], &rep, &rep.Cleaned)
	}

	err = r.reconcile(ctx, &rep)
	return rep, err
}

func (r *Reaper) revokeOrFlag(ctx context.Context, rec *Record, rep *Report, counter *int) {
	if err := r.M.revoke(ctx, rec); err != nil {
		rep.Failures++
		if rec.Attempts+1 >= r.MaxAttempts {
			_, _ = r.M.Ledger.UpdateOne(ctx, bson.D{{Key: "_id", Value: rec.ID}}, bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: Flagged}}}})
			rep.Flagged++
		}
		return
	}
	*counter++
}

// reconcile drops users and roles carrying our marker that no active
// ledger entry accounts for (a crash after createUser, a lost ledger write).
func (r *Reaper) reconcile(ctx context.Context, rep *Report) error {
	dbs := map[string]bool{}
	for _, d := range r.Databases {
		dbs[d] = true
	}
	var list []string
	if err := r.M.Ledger.Distinct(ctx, "database", bson.D{}).Decode(&list); err != nil {
		return err
	}
	for _, d := range list {
		dbs[d] = true
	}
	for d := range dbs {
		db := r.M.Client.Database(d)
		var users struct {
			Users []struct {
				User       string `bson:"user"`
				CustomData bson.M `bson:"customData"`
			} `bson:"users"`
		}
		if err := store.RunAdminCommand(ctx, db, bson.D{{Key: "usersInfo", Value: 1}, {Key: "showCustomData", Value: true}}).Decode(&users); err != nil {
			return err
		}
		for _, u := range users.Users {
			if u.CustomData[Marker] != true || !strings.HasPrefix(u.User, UserPrefix) {
				continue
			}
			id := strings.TrimPrefix(u.User, UserPrefix)
			if r.activeEntry(ctx, id) {
				continue
			}
			err := ignoreNotFound(store.RunAdminCommand(ctx, db, DropUserCmd(u.User)).Err())
			if err == nil {
				err = ignoreNotFound(store.RunAdminCommand(ctx, db, DropRoleCmd(RolePrefix+id)).Err())
			}
			if err != nil {
				rep.Failures++
				continue
			}
			rep.Orphans++
		}
		var roles struct {
			Roles []struct {
				Role string `bson:"role"`
			} `bson:"roles"`
		}
		if err := store.RunAdminCommand(ctx, db, bson.D{{Key: "rolesInfo", Value: 1}}).Decode(&roles); err != nil {
			return err
		}
		for _, ro := range roles.Roles {
			if !strings.HasPrefix(ro.Role, RolePrefix) || r.activeEntry(ctx, strings.TrimPrefix(ro.Role, RolePrefix)) {
				continue
			}
			if err := ignoreNotFound(store.RunAdminCommand(ctx, db, DropRoleCmd(ro.Role)).Err()); err != nil {
				rep.Failures++
				continue
			}
			rep.Orphans++
		}
	}
	return nil
}

func (r *Reaper) activeEntry(ctx context.Context, id string) bool {
	var rec Record
	err := r.M.Ledger.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&rec)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false
	}
	// On a ledger read error, keep the user: dropping a live credential by
	// mistake is worse than reaping it on the next pass.
	return err != nil || rec.Status == Active || rec.Status == Pending
}

// Loop runs a pass every interval until ctx ends, backing off after errors.
func (r *Reaper) Loop(ctx context.Context, interval time.Duration, onPass func(Report, error)) {
	wait := interval
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		rep, err := r.RunOnce(ctx)
		if onPass != nil {
			onPass(rep, err)
		}
		if err != nil || rep.Failures > 0 {
			wait = min(wait*2, 16*interval)
		} else {
			wait = interval
		}
	}
}
