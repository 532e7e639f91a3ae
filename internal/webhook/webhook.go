// Package webhook delivers change events to the URLs of a policy's `hooks:`
// section, at least once, from an outbox collection in MongoDB.
//
// The service appends one outbox entry per (change, webhook) right after the
// change is written (Outbox.Enqueue). Any number of proxy processes run a
// Deliverer on the same outbox: an entry is claimed with a lease (an atomic
// findOneAndUpdate), so one process delivers it at a time, and a process
// that dies mid-delivery leaves the entry to be claimed again once the lease
// ends. A failed delivery (network error, timeout, non-2xx answer) is
// retried with exponential backoff; after MaxAttempts the entry is dead
// (kept, never retried, visible to admins).
//
// Each POST carries the JSON body {id, event, collection, document_id,
// actor, ts}, the same bytes on every attempt, with X-PM-Event-Id (the id,
// for de-duplication by the receiver) and X-PM-Signature: sha256=<hex HMAC
// of the body with the secret>.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/store"
)

// Collection is the default outbox collection (pm_ names are the proxy's own
// and unreachable through the document API).
const Collection = "pm_outbox"

// Delivery states.
const (
	StatePending   = "pending"
	StateDelivered = "delivered"
	StateDead      = "dead"
)

// Entry is one event for one webhook, as stored in the outbox.
type Entry struct {
	ID         bson.ObjectID `bson:"_id" json:"id"`
	Event      string        `bson:"event" json:"event"`
	Collection string        `bson:"collection" json:"collection"`
	DocumentID any           `bson:"document_id" json:"document_id"`
	Actor      string        `bson:"actor" json:"actor"`
	TS         time.Time     `bson:"ts" json:"ts"`
	URL        string        `bson:"url" json:"url"`
	SecretEnv  string        `bson:"secret_env" json:"-"`

	State       string     `bson:"state" json:"state"`
	Attempts    int        `bson:"attempts" json:"attempts"`
	NextAt      time.Time  `bson:"next_at" json:"next_at"`
	LeaseUntil  time.Time  `bson:"lease_until" json:"-"`
	LeaseOwner  string     `bson:"lease_owner" json:"-"`
	LastError   string     `bson:"last_error,omitempty" json:"last_error,omitempty"`
	LastStatus  int        `bson:"last_status,omitempty" json:"last_status,omitempty"`
	DeliveredAt *time.Time `bson:"delivered_at,omitempty" json:"delivered_at,omitempty"`
	// Redeliveries counts the times an admin sent the entry again
	// (redeliver.go).
	Redeliveries int `bson:"redeliveries,omitempty" json:"redeliveries,omitempty"`

	// TenantID is the actor's tenant: the delivery's audit entries go to
	// that tenant's chain, where its auditors find them.
	TenantID string `bson:"tenant_id,omitempty" json:"tenant_id,omitempty"`
}

// Body is what the receiver gets: always the same bytes for an entry.
func (e *Entry) Body() []byte {
	id := e.DocumentID
	if oid, ok := id.(bson.ObjectID); ok {
		id = oid.Hex()
	}
	b, _ := json.Marshal(struct {
		ID         string `json:"id"`
		Event      string `json:"event"`
		Collection string `json:"collection"`
		DocumentID any    `json:"document_id"`
		Actor      string `json:"actor"`
		TS         string `json:"ts"`
	}{e.ID.Hex(), e.Event, e.Collection, id, e.Actor, e.TS.UTC().Format(time.RFC3339Nano)})
	return b
}

// Sign is the X-PM-Signature value of body under secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Outbox appends entries.
type Outbox struct {
	coll *store.Collection
}

// NewOutbox returns the outbox kept in coll.
func NewOutbox(coll *store.Collection) *Outbox { return &Outbox{coll: coll} }

// Target is a webhook an event goes to.
type Target struct {
	URL       string
	SecretEnv string
}

// Enqueue appends one pending entry per target, due now (EnqueueChange
// without a tenant).
func (o *Outbox) Enqueue(ctx context.Context, event, coll string, docID any, actor string, at time.Time, targets []Target) error {
	return o.EnqueueChange(ctx, Change{Event: event, Collection: coll, DocumentID: docID, Actor: actor, At: at}, targets)
}

// Change is one change of one document, as the outbox records it.
type Change struct {
	Event, Collection string
	DocumentID        any
	Actor, TenantID   string
	At                time.Time
}

// EnqueueChange appends one pending entry of c per target, due now.
func (o *Outbox) EnqueueChange(ctx context.Context, c Change, targets []Target) error {
	if len(targets) == 0 {
		return nil
	}
	docs := make([]any, len(targets))
	for i, t := range targets {
		docs[i] = Entry{ID: bson.NewObjectID(), Event: c.Event, Collection: c.Collection, DocumentID: c.DocumentID, Actor: c.Actor,
			TenantID: c.TenantID, TS: c.At.UTC().Truncate(time.Millisecond), URL: t.URL, SecretEnv: t.SecretEnv, State: StatePending,
			NextAt: c.At.UTC(), LeaseUntil: time.Unix(0, 0).UTC()}
	}
	return o.coll.InsertMany(ctx, docs, true)
}

// List returns this outbox's entries (see List).
func (o *Outbox) List(ctx context.Context, state string, limit int64) ([]Entry, error) {
	return List(ctx, o.coll, state, limit)
}

// EnsureIndexes creates the index the delivery loop claims by.
func EnsureIndexes(ctx context.Context, coll *store.Collection) error {
	return coll.CreateIndex(ctx, store.Index{Name: "pm_outbox_due", Keys: bson.D{{Key: "state", Value: 1}, {Key: "next_at", Value: 1}}})
}

// List returns entries, newest first, optionally in one state: the delivery
// status admins see.
func List(ctx context.Context, coll *store.Collection, state string, limit int64) ([]Entry, error) {
	f := bson.D{}
	if state != "" {
		f = bson.D{{Key: "state", Value: state}}
	}
	out := []Entry{}
	if err := coll.FindAll(ctx, f, store.Find{Sort: bson.D{{Key: "_id", Value: -1}}, Limit: limit}, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Deliverer runs the delivery loop.
type Deliverer struct {
	Coll   *store.Collection
	Client *http.Client // its Timeout bounds one attempt
	Owner  string       // this process, for the lease
	// Lease is how long a claimed entry is this process's (default 1m;
	// longer than Client.Timeout).
	Lease time.Duration
	// Poll is the wait when nothing is due (default 1s).
	Poll time.Duration
	// MaxAttempts before an entry is dead (default 10).
	MaxAttempts int
	// Backoff is the wait before the nth retry (default 1s·2^(n-1), at
	// most 1h).
	Backoff func(attempt int) time.Duration
	// Secret returns the secret named by secret_env (default os.Getenv).
	Secret func(name string) string
	Log    *slog.Logger
	Now    func() time.Time
	// Audit, when set, records every attempt's outcome (audit.go), and
	// nothing is delivered while it cannot record.
	Audit Auditor
}

func (d *Deliverer) defaults() {
	if d.Client == nil {
		d.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if d.Lease <= 0 {
		d.Lease = time.Minute
	}
	if d.Poll <= 0 {
		d.Poll = time.Second
	}
	if d.MaxAttempts <= 0 {
		d.MaxAttempts = 10
	}
	if d.Backoff == nil {
		d.Backoff = func(n int) time.Duration {
			b := time.Second << min(n-1, 12)
			return min(b, time.Hour)
		}
	}
	if d.Secret == nil {
		d.Secret = os.Getenv
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
}

// Run delivers until ctx ends.
func (d *Deliverer) Run(ctx context.Context) {
	d.defaults()
	for ctx.Err() == nil {
		worked, err := d.Step(ctx)
		if err != nil && ctx.Err() == nil {
			d.Log.Warn("webhook outbox unavailable", "err", err)
		}
		if !worked || err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(d.Poll):
			}
		}
	}
}

// Step claims and delivers at most one due entry; worked is false when
// nothing was due.
func (d *Deliverer) Step(ctx context.Context) (worked bool, err error) {
	d.defaults()
	if d.Audit != nil {
		if err := d.Audit.Available(); err != nil {
			return false, fmt.Errorf("deliveries wait for the audit log: %w", err)
		}
	}
	e, err := d.claim(ctx)
	if err != nil || e == nil {
		return false, err
	}
	start := time.Now()
	status, derr := d.post(ctx, e)
	took := time.Since(start)
	state, err := d.record(ctx, e, status, derr)
	if err == nil {
		d.audit(ctx, e, state, status, derr, took)
	}
	return true, err
}

// claim takes one due entry. The claim is an insert into the claims
// collection with a key made of the entry, its attempt number and the
// current lease window: an insert with a taken key fails for every process
// but one, on every engine. (A single-document update with the old lease in
// its filter is not enough: FerretDB v1 lets two such updates both succeed.)
// The entry's lease_until then keeps other processes away for the rest of
// the lease; once it has passed, the next window's key lets another
// process retry an entry whose process died mid-delivery.
func (d *Deliverer) claim(ctx context.Context) (*Entry, error) {
	now := d.Now().UTC()
	var cands []Entry
	err := d.Coll.FindAll(ctx,
		bson.D{{Key: "state", Value: StatePending}, {Key: "next_at", Value: bson.D{{Key: "$lte", Value: now}}},
			{Key: "lease_until", Value: bson.D{{Key: "$lte", Value: now}}}},
		store.Find{Sort: bson.D{{Key: "next_at", Value: 1}}, Limit: 8}, &cands)
	if err != nil {
		return nil, err
	}
	claims := d.Coll.Sibling(d.Coll.Name() + "_claims")
	window := now.UnixNano() / int64(d.Lease)
	for i := range cands {
		e := &cands[i]
		owner := d.Owner + "/" + bson.NewObjectID().Hex()
		key := fmt.Sprintf("%s:%d:%d", e.ID.Hex(), e.Attempts, window)
		if err := claims.InsertOne(ctx, bson.D{{Key: "_id", Value: key}, {Key: "owner", Value: owner}, {Key: "at", Value: now}}); err != nil {
			if store.IsDuplicateKey(err) {
				continue // another process has it
			}
			return nil, err
		}
		if _, err := d.Coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: e.ID}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "lease_until", Value: now.Add(d.Lease)}, {Key: "lease_owner", Value: owner}}}}); err != nil {
			return nil, err
		}
		// The candidate was read before the claim: make sure it was not
		// delivered (or retried) meanwhile.
		var fresh Entry
		if err := d.Coll.FindOne(ctx, bson.D{{Key: "_id", Value: e.ID}}, store.Find{}, &fresh); err != nil {
			return nil, err
		}
		if fresh.State != StatePending || fresh.Attempts != e.Attempts {
			continue
		}
		fresh.LeaseOwner = owner
		return &fresh, nil
	}
	return nil, nil
}

func (d *Deliverer) post(ctx context.Context, e *Entry) (int, error) {
	secret := d.Secret(e.SecretEnv)
	if secret == "" {
		return 0, noSecretError{e.SecretEnv}
	}
	body := e.Body()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-PM-Event-Id", e.ID.Hex())
	req.Header.Set("X-PM-Signature", Sign([]byte(secret), body))
	res, err := d.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return res.StatusCode, fmt.Errorf("receiver answered %d", res.StatusCode)
	}
	return res.StatusCode, nil
}

// record stores the outcome, only while this process still holds the
// lease (an entry whose lease ran out may be another process's now).
func (d *Deliverer) record(ctx context.Context, e *Entry, status int, derr error) (string, error) {
	now := d.Now().UTC()
	set := bson.D{{Key: "attempts", Value: e.Attempts + 1}, {Key: "last_status", Value: status}, {Key: "lease_until", Value: time.Unix(0, 0).UTC()}}
	state := StatePending
	switch {
	case derr == nil:
		state = StateDelivered
		set = append(set, bson.E{Key: "state", Value: StateDelivered}, bson.E{Key: "delivered_at", Value: now}, bson.E{Key: "last_error", Value: ""})
	case e.Attempts+1 >= d.MaxAttempts:
		state = StateDead
		set = append(set, bson.E{Key: "state", Value: StateDead}, bson.E{Key: "last_error", Value: derr.Error()})
		d.Log.Error("webhook dead after retries", "id", e.ID.Hex(), "url", e.URL, "attempts", e.Attempts+1, "err", derr)
	default:
		set = append(set, bson.E{Key: "next_at", Value: now.Add(d.Backoff(e.Attempts + 1))}, bson.E{Key: "last_error", Value: derr.Error()})
	}
	// The client may be gone; the outcome must still be written.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, err := d.Coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: e.ID}, {Key: "lease_owner", Value: e.LeaseOwner}}, bson.D{{Key: "$set", Value: set}})
	return state, err
}
