package grant

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/store"
)

// Status of a grant in the ledger.
const (
	Pending  = "pending"  // written before anything is created on the server
	Active   = "active"   // role and user exist
	Revoked  = "revoked"  // role and user dropped
	Failed   = "failed"   // creation failed and was rolled back
	Flagged  = "flagged"  // revocation keeps failing: needs a person
	Revoking = "revoking" // revocation started
)

// Record is a grant as the ledger keeps it. It never holds the password.
type Record struct {
	ID           string        `bson:"_id" json:"grant_id"`
	Owner        string        `bson:"owner" json:"owner"`
	Tenant       string        `bson:"tenant_id,omitempty" json:"tenant_id,omitempty"`
	Database     string        `bson:"database" json:"database"`
	Collections  []string      `bson:"collections" json:"collections"`
	Actions      []string      `bson:"actions" json:"actions"`
	ClientSource []string      `bson:"client_source,omitempty" json:"client_source,omitempty"`
	Username     string        `bson:"username" json:"username"`
	RoleName     string        `bson:"role_name" json:"role_name"`
	Rule         string        `bson:"rule" json:"rule"`
	Status       string        `bson:"status" json:"status"`
	CreatedAt    time.Time     `bson:"created_at" json:"created_at"`
	ExpiresAt    time.Time     `bson:"expires_at" json:"expires_at"`
	MaxExpiresAt time.Time     `bson:"max_expires_at" json:"max_expires_at"`
	Attempts     int           `bson:"attempts" json:"-"`
	LastError    string        `bson:"last_error,omitempty" json:"-"`
	MaxTTL       time.Duration `bson:"max_ttl" json:"-"`
}

// Credentials are what POST /grants returns, once.
type Credentials struct {
	GrantID    string    `json:"grant_id"`
	Username   string    `json:"username"`
	Password   string    `json:"password"`
	AuthSource string    `json:"auth_source"`
	URI        string    `json:"uri"`
	ExpiresAt  time.Time `json:"expires_at"`
	Privileges []any     `json:"privileges"`
	TTLClamped bool      `json:"ttl_clamped,omitempty"`
}

// Manager issues, renews and revokes grants.
type Manager struct {
	Client *store.Client
	// Ledger is the collection of grant records.
	Ledger *store.Collection
	// Missing names the capability grants need that the server lacks
	// (store.Capabilities.GrantsMissing); while it is set every issue answers
	// 501 naming it and creates nothing.
	Missing string
	// Hosts is put in the returned URI (host[:port],...).
	Hosts string
	Now   func() time.Time
}

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// NewID returns an identifier that cannot collide: 128 random bits.
func NewID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}

// NewPassword returns 32 bytes from crypto/rand, base64url-encoded.
func NewPassword() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Issue creates the grant: ledger entry (pending), role, user, then active.
// Any failure rolls back what was created and leaves the entry failed; a
// crash between steps leaves a pending entry the reaper cleans up.
func (m *Manager) Issue(ctx context.Context, owner, tenant string, a *Approved) (*Credentials, error) {
	if m.Missing != "" {
		return nil, errUnsupported(m.Missing)
	}
	id := NewID()
	now := m.now()
	rec := &Record{
		ID: id, Owner: owner, Tenant: tenant, Database: a.Database, Collections: a.Collections, Actions: a.Actions,
		Username: UserPrefix + id, RoleName: RolePrefix + id, Rule: a.Rule, Status: Pending,
		CreatedAt: now, ExpiresAt: now.Add(a.TTL), MaxExpiresAt: now.Add(a.MaxTTL), MaxTTL: a.MaxTTL,
	}
	for _, p := range a.ClientSource {
		rec.ClientSource = append(rec.ClientSource, p.String())
	}
	if err := m.Ledger.InsertOne(ctx, rec); err != nil {
		return nil, store.Translate(err)
	}
	db := m.Client.Database(a.Database)
	password := NewPassword()
	if err := db.RunAdmin(ctx, CreateRoleCmd(rec.RoleName, a), nil); err != nil {
		m.fail(ctx, rec, err, false)
		return nil, store.TranslateFor(err, store.CapUserManagement)
	}
	if err := db.RunAdmin(ctx, CreateUserCmd(rec.Username, password, rec.RoleName, id, a, rec.ExpiresAt), nil); err != nil {
		m.fail(ctx, rec, err, true)
		return nil, store.TranslateFor(err, store.CapUserManagement)
	}
	if _, err := m.Ledger.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: Active}}}}); err != nil {
		// The credential works but the ledger does not say so: take it back.
		_ = m.Revoke(ctx, id)
		return nil, store.Translate(err)
	}
	privs := []any{}
	for _, c := range a.Collections {
		privs = append(privs, map[string]any{"resource": map[string]any{"db": a.Database, "collection": c}, "actions": a.Actions})
	}
	return &Credentials{
		GrantID: id, Username: rec.Username, Password: password, AuthSource: a.Database,
		URI:       fmt.Sprintf("mongodb://%s:%s@%s/%s?authSource=%s", url.QueryEscape(rec.Username), url.QueryEscape(password), m.Hosts, a.Database, a.Database),
		ExpiresAt: rec.ExpiresAt, Privileges: privs, TTLClamped: a.Clamped,
	}, nil
}

// fail rolls back a half-made grant.
func (m *Manager) fail(ctx context.Context, rec *Record, cause error, roleCreated bool) {
	db := m.Client.Database(rec.Database)
	if roleCreated {
		_ = ignoreNotFound(db.RunAdmin(ctx, DropRoleCmd(rec.RoleName), nil))
	}
	_, _ = m.Ledger.UpdateOne(ctx, bson.D{{Key: "_id", Value: rec.ID}}, bson.D{{Key: "$set", Value: bson.D{
		{Key: "status", Value: Failed}, {Key: "last_error", Value: errorCode(cause)}}}})
}

// Revoke drops the user and the role. It is idempotent: a user or role that
// is already gone (UserNotFound 11, RoleNotFound 31 — matched by code, never
// by message) counts as dropped.
func (m *Manager) Revoke(ctx context.Context, id string) error {
	var rec Record
	if err := m.Ledger.FindOne(ctx, bson.D{{Key: "_id", Value: id}}, store.Find{}, &rec); err != nil {
		if errors.Is(err, store.ErrNoDocuments) {
			return apperr.NotFound("no such grant")
		}
		return store.Translate(err)
	}
	if rec.Status == Revoked {
		return nil
	}
	return m.revoke(ctx, &rec)
}

func (m *Manager) revoke(ctx context.Context, rec *Record) error {
	if m.Missing != "" {
		return errUnsupported(m.Missing)
	}
	db := m.Client.Database(rec.Database)
	err := ignoreNotFound(db.RunAdmin(ctx, DropUserCmd(rec.Username), nil))
	if err == nil {
		err = ignoreNotFound(db.RunAdmin(ctx, DropRoleCmd(rec.RoleName), nil))
	}
	if err != nil {
		_, _ = m.Ledger.UpdateOne(ctx, bson.D{{Key: "_id", Value: rec.ID}}, bson.D{
			{Key: "$set", Value: bson.D{{Key: "status", Value: Revoking}, {Key: "last_error", Value: errorCode(err)}}},
			{Key: "$inc", Value: bson.D{{Key: "attempts", Value: 1}}}})
		return store.TranslateFor(err, store.CapUserManagement)
	}
	_, err = m.Ledger.UpdateOne(ctx, bson.D{{Key: "_id", Value: rec.ID}}, bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: Revoked}}}})
	return store.Translate(err)
}

// Renew extends a grant by ttl from now, never past its issue time plus the
// rule's max_ttl.
func (m *Manager) Renew(ctx context.Context, id string, ttl time.Duration) (time.Time, error) {
	var rec Record
	if err := m.Ledger.FindOne(ctx, bson.D{{Key: "_id", Value: id}}, store.Find{}, &rec); err != nil {
		if errors.Is(err, store.ErrNoDocuments) {
			return time.Time{}, apperr.NotFound("no such grant")
		}
		return time.Time{}, store.Translate(err)
	}
	if rec.Status != Active {
		return time.Time{}, apperr.New(apperr.KindConflict, "grant is %s, not active", rec.Status)
	}
	if m.Missing != "" {
		return time.Time{}, errUnsupported(m.Missing)
	}
	exp := m.now().Add(ttl)
	if exp.After(rec.MaxExpiresAt) {
		exp = rec.MaxExpiresAt
	}
	if err := m.Client.Database(rec.Database).RunAdmin(ctx, RenewUserCmd(rec.Username, rec.ID, exp), nil); err != nil {
		return time.Time{}, store.TranslateFor(err, store.CapUserManagement)
	}
	_, err := m.Ledger.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: bson.D{{Key: "expires_at", Value: exp}}}})
	return exp, store.Translate(err)
}

// Get returns one ledger record.
func (m *Manager) Get(ctx context.Context, id string) (*Record, error) {
	var rec Record
	if err := m.Ledger.FindOne(ctx, bson.D{{Key: "_id", Value: id}}, store.Find{}, &rec); err != nil {
		if errors.Is(err, store.ErrNoDocuments) {
			return nil, apperr.NotFound("no such grant")
		}
		return nil, store.Translate(err)
	}
	return &rec, nil
}

// List returns the grants of one owner, or all of them when owner is "".
func (m *Manager) List(ctx context.Context, owner string) ([]Record, error) {
	filter := bson.D{}
	if owner != "" {
		filter = bson.D{{Key: "owner", Value: owner}}
	}
	var out []Record
	if err := m.Ledger.FindAll(ctx, filter, store.Find{Sort: bson.D{{Key: "created_at", Value: -1}}, Limit: 1000}, &out); err != nil {
		return nil, store.Translate(err)
	}
	return out, nil
}

// Server error codes of user management, matched by code.
const (
	codeUserNotFound = 11
	codeRoleNotFound = 31
)

func ignoreNotFound(err error) error {
	if code, _, ok := store.CommandCode(err); ok && (code == codeUserNotFound || code == codeRoleNotFound) {
		return nil
	}
	return err
}

// errorCode keeps a driver error's code for the ledger, never its text
// (which may quote the command, password included).
func errorCode(err error) string {
	if code, name, ok := store.CommandCode(err); ok {
		return fmt.Sprintf("code %d (%s)", code, name)
	}
	return "error"
}

// errUnsupported says why the connected server cannot issue grants.
func errUnsupported(missing string) error {
	msg := "the connected MongoDB server does not support user management (createUser), which credential grants need"
	if missing == store.CapCustomRoles {
		msg = "the connected MongoDB server can create users but not custom roles (createRole), so a credential limited to the granted collections cannot be issued"
	}
	return apperr.New(apperr.KindNotSupported, "%s", msg).WithDetails(map[string]any{"capability": missing})
}
