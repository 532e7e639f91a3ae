package grant

import (
	"context"
	"errors"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/store"
)

// Reaper revokes expired grants and reconciles the server with the ledger.
// With several proxies side by side only the holder of a lease in MongoDB
// reaps, so two proxies never race to drop the same user.
type Reaper struct {
	M *Manager
	// Leases holds one document per lease name.
	Leases *store.Collection
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
	matched, err := r.Leases.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: leaseName}, {Key: "$or", Value: bson.A{
			bson.D{{Key: "until", Value: bson.D{{Key: "$lt", Value: now}}}},
			bson.D{{Key: "holder", Value: r.Holder}},
		}}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "holder", Value: r.Holder}, {Key: "until", Value: until}}}})
	if err != nil {
		return false, err
	}
	if matched == 1 {
		return true, nil
	}
	err = r.Leases.InsertOne(ctx, bson.D{{Key: "_id", Value: leaseName}, {Key: "holder", Value: r.Holder}, {Key: "until", Value: until}})
	if store.IsDuplicateKey(err) {
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
	var due []Record
	err = r.M.Ledger.FindAll(ctx, bson.D{{Key: "$or", Value: bson.A{
		bson.D{{Key: "status", Value: Active}, {Key: "expires_at", Value: bson.D{{Key: "$lte", Value: now}}}},
		bson.D{{Key: "status", Value: Revoking}},
	}}}, store.Find{}, &due)
	if err != nil {
		return rep, err
	}
	for i := range due {
		r.revokeOrFlag(ctx, &due[i], &rep, &rep.Revoked)
	}

	// Pending entries older than an issue takes: the proxy crashed mid-issue.
	var stale []Record
	err = r.M.Ledger.FindAll(ctx, bson.D{{Key: "status", Value: Pending}, {Key: "created_at", Value: bson.D{{Key: "$lt", Value: now.Add(-r.PendingAfter)}}}}, store.Find{}, &stale)
	if err != nil {
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
	if err := r.M.Ledger.Distinct(ctx, "database", bson.D{}, &list); err != nil {
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
		if err := db.RunAdmin(ctx, bson.D{{Key: "usersInfo", Value: 1}, {Key: "showCustomData", Value: true}}, &users); err != nil {
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
			err := ignoreNotFound(db.RunAdmin(ctx, DropUserCmd(u.User), nil))
			if err == nil {
				err = ignoreNotFound(db.RunAdmin(ctx, DropRoleCmd(RolePrefix+id), nil))
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
		if err := db.RunAdmin(ctx, bson.D{{Key: "rolesInfo", Value: 1}}, &roles); err != nil {
			return err
		}
		for _, ro := range roles.Roles {
			if !strings.HasPrefix(ro.Role, RolePrefix) || r.activeEntry(ctx, strings.TrimPrefix(ro.Role, RolePrefix)) {
				continue
			}
			if err := ignoreNotFound(db.RunAdmin(ctx, DropRoleCmd(ro.Role), nil)); err != nil {
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
	err := r.M.Ledger.FindOne(ctx, bson.D{{Key: "_id", Value: id}}, store.Find{}, &rec)
	if errors.Is(err, store.ErrNoDocuments) {
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
