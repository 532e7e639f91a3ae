// Package audit records who did what through the proxy, in a MongoDB
// collection, so that the record can be neither lost nor quietly edited.
//
// Three parts:
//
//   - Entry is one audit record. Its fields are names, ids, counts and
//     outcomes only: the type has no field that could hold a password, an API
//     key, a token or a document value, so a secret cannot reach the log by a
//     careless assignment (ARCHITECTURE.md, security rule 16).
//   - Writer queues entries in memory and writes them in batches from one
//     goroutine (group commit): a request waits for the batch that carries
//     its entry (Op.Wait), not for an insert of its own, and is answered
//     only once its entry is durable, so a killed process loses no entry of
//     an answered request. Every entry is hashed
//     into a chain (one per tenant per Writer, i.e. per process start, and
//     one for entries without a tenant) before it is queued. Capacity is reserved before an operation runs (Begin), so an
//     operation that was allowed to start can always be recorded; when audit
//     cannot keep up or MongoDB is down the Writer either refuses new
//     operations (ModeFailClosed) or spills to a local file and replays it
//     later (ModeBuffer).
//   - Verify, Query and EnsureIndexes work on the stored entries: check the
//     chains of a time range, page through entries newest first, and create
//     the indexes (with the retention TTL).
//
// The api layer is expected to call Begin once per request in one middleware
// and Finish the returned Op when the handler returns; handlers and the
// service only add details to the Op found in the request context (see Op).
package audit

import (
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/permission-mongo/permission-mongo/internal/principal"
)

// Outcome is how a request ended, from the caller's point of view.
type Outcome string

// Outcomes of the contract.
const (
	// OutcomeAllowed: the request was authorized and succeeded.
	OutcomeAllowed Outcome = "allowed"
	// OutcomeDenied: authentication or authorization refused it (401, 403).
	OutcomeDenied Outcome = "denied"
	// OutcomeError: it failed for any other reason (bad request, conflict,
	// database unavailable, ...).
	OutcomeError Outcome = "error"
)

// OutcomeOf classifies an HTTP status: 401 and 403 are denials, any other
// status of 400 and above is an error, the rest is allowed.
func OutcomeOf(status int) Outcome {
	switch {
	case status == 401 || status == 403:
		return OutcomeDenied
	case status >= 400:
		return OutcomeError
	default:
		return OutcomeAllowed
	}
}

// Actor is who made the request. It is a copy of the non-secret part of a
// principal.Principal: the claims are left out on purpose, because a token's
// claims can carry anything, including values the policy masks.
type Actor struct {
	ID       string   `bson:"id" json:"id"`
	TenantID string   `bson:"tenant_id,omitempty" json:"tenant_id,omitempty"`
	Roles    []string `bson:"roles,omitempty" json:"roles"`
	// Auth is "api_key" or "jwt".
	Auth string `bson:"auth,omitempty" json:"auth,omitempty"`
	// KeyID is the API key's id (never the key) or the JWT subject.
	KeyID string `bson:"key_id,omitempty" json:"key_id,omitempty"`
}

// ActorOf copies the auditable fields of p; nil (an unauthenticated request)
// gives the zero Actor.
func ActorOf(p *principal.Principal) Actor {
	if p == nil {
		return Actor{}
	}
	return Actor{
		ID:       p.ID,
		TenantID: p.TenantID,
		Roles:    slices.Clone(p.Roles),
		Auth:     p.Auth,
		KeyID:    p.KeyID,
	}
}

// Entry is one audit record, as stored and as returned by GET /audit.
//
// The caller fills the descriptive fields; the Writer sets ID, TS, Writer,
// Seq, PrevHash and Hash when the entry is recorded, overwriting whatever the
// caller put there, because the chain is only evidence if the writer alone
// decides them.
type Entry struct {
	// ID is "<writer>-<seq>" (seq zero-padded), unique and stable: a batch
	// retried after a lost reply collides with itself instead of being
	// stored twice.
	ID string    `bson:"_id" json:"id"`
	TS time.Time `bson:"ts" json:"ts"`

	RequestID string `bson:"request_id,omitempty" json:"request_id,omitempty"`
	Actor     Actor  `bson:"actor" json:"actor"`
	// Action is the policy action or endpoint name: "find", "create",
	// "update", "delete", "import", "aggregate", "count", "explain",
	// "restore", "grant.create", ...
	Action     string `bson:"action" json:"action"`
	Collection string `bson:"collection,omitempty" json:"collection,omitempty"`
	// DocIDs are the ids of the documents touched, as strings (at most
	// MaxDocIDs; Count stays exact when the list is cut).
	DocIDs []string `bson:"doc_ids,omitempty" json:"doc_ids,omitempty"`
	// Count is how many documents the operation returned or changed.
	Count int64 `bson:"count" json:"count"`
	// Failed is how many items of a batch or import failed (0 otherwise).
	Failed int64 `bson:"failed,omitempty" json:"failed,omitempty"`

	Outcome Outcome `bson:"outcome" json:"outcome"`
	// Status is the HTTP status sent.
	Status int `bson:"status" json:"status"`
	// ErrorCode is the contract's error code (FORBIDDEN, ...), empty on success.
	ErrorCode string `bson:"error_code,omitempty" json:"error_code,omitempty"`
	// ChangedFields are the names (paths) of the fields a write changed,
	// never their values. Sorted and de-duplicated by the Writer.
	ChangedFields []string `bson:"changed_fields,omitempty" json:"changed_fields,omitempty"`

	IP        string `bson:"ip,omitempty" json:"ip,omitempty"`
	UserAgent string `bson:"user_agent,omitempty" json:"user_agent,omitempty"`
	// LatencyMS is the request's duration in milliseconds, to the microsecond.
	LatencyMS float64 `bson:"latency_ms" json:"latency_ms"`

	// Writer names the chain (ChainOf): the id the Writer chose at random
	// when it started, followed, for an entry whose actor has a tenant, by
	// "." and the tenant's tag. A chain holds one tenant's entries only.
	Writer string `bson:"writer" json:"writer"`
	// Seq is the position in the chain, from 1, without gaps.
	Seq int64 `bson:"seq" json:"seq"`
	// PrevHash is the Hash of entry Seq-1 of the same chain, or the
	// chain's genesis hash for Seq 1.
	PrevHash string `bson:"prev_hash" json:"prev_hash"`
	// Hash is hex SHA-256 over the canonical encoding of every other field.
	Hash string `bson:"hash" json:"hash"`
}

// Bounds on what one entry may hold. Entries must stay far below MongoDB's
// 16 MiB document limit whatever a client sends (a user agent or a batch of
// ids is client-controlled), and a batch insert of BatchSize entries must fit
// in one command.
const (
	MaxDocIDs        = 1000
	MaxChangedFields = 256
	maxShort         = 128  // ids, names, codes
	maxUserAgent     = 512  // browsers send ~150 bytes; more is noise or an attack
	maxDocID         = 256  // an id longer than this is cut, the count stays right
	maxFieldName     = 1024 // a dotted path
)

// normalize makes e storable and its hash stable across a round trip through
// MongoDB: time in UTC milliseconds (BSON dates have no more), valid UTF-8
// (a server may replace invalid bytes, which would break the hash), bounded
// lengths, changed fields as a sorted set.
func normalize(e *Entry) {
	e.RequestID = clip(e.RequestID, maxShort)
	e.Actor.ID = clip(e.Actor.ID, maxShort)
	e.Actor.TenantID = clip(e.Actor.TenantID, maxShort)
	e.Actor.Auth = clip(e.Actor.Auth, maxShort)
	e.Actor.KeyID = clip(e.Actor.KeyID, maxShort)
	if len(e.Actor.Roles) > 0 {
		roles := make([]string, len(e.Actor.Roles))
		for i, r := range e.Actor.Roles {
			roles[i] = clip(r, maxShort)
		}
		e.Actor.Roles = roles
	}
	e.Action = clip(e.Action, maxShort)
	e.Collection = clip(e.Collection, 256)
	if len(e.DocIDs) > 0 {
		n := min(len(e.DocIDs), MaxDocIDs)
		ids := make([]string, n)
		for i := range n {
			ids[i] = clip(e.DocIDs[i], maxDocID)
		}
		e.DocIDs = ids
	}
	if e.Outcome == "" {
		e.Outcome = OutcomeOf(e.Status)
	}
	e.Outcome = Outcome(clip(string(e.Outcome), maxShort))
	e.ErrorCode = clip(e.ErrorCode, maxShort)
	if len(e.ChangedFields) > 0 {
		fs := make([]string, len(e.ChangedFields))
		for i, f := range e.ChangedFields {
			fs[i] = clip(f, maxFieldName)
		}
		slices.Sort(fs)
		fs = slices.Compact(fs)
		if len(fs) > MaxChangedFields {
			fs = fs[:MaxChangedFields]
		}
		e.ChangedFields = fs
	}
	e.IP = clip(e.IP, maxShort)
	e.UserAgent = clip(e.UserAgent, maxUserAgent)
	// Negative zero, NaN and infinities have no stable round trip through
	// every store and export; a latency is never any of them anyway.
	if !(e.LatencyMS > 0) || math.IsInf(e.LatencyMS, 0) {
		e.LatencyMS = 0
	}
}

// clip returns s as valid UTF-8 of at most n bytes, cut on a rune boundary.
func clip(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// latencyMS converts d to milliseconds rounded to the microsecond, a
// precision that survives the float64 round trip through BSON and JSON.
func latencyMS(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}
