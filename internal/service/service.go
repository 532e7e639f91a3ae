// Package service is the one enforcement path of the proxy: every endpoint
// that reads or writes documents calls it, and it alone combines the caller's
// policy decision with the client's request before anything reaches the
// store.
//
// The rules it applies, in one place (ARCHITECTURE.md, security rules 1, 4,
// 11–14):
//
//   - the policy filter is joined to the client filter as
//     {$and: [policy, client]}, never merged;
//   - every path a client filters or sorts on must be readable unmasked
//     (Decision.Readable), or the request is a 403 naming the field;
//   - results are shown per document through the field rules of the roles
//     that matched that document (Decision.FieldsFor);
//   - an action that no role grants is a 403; a document the caller may not
//     see is a 404, exactly like a document that does not exist;
//   - writes are checked before (target matches the policy filter, no
//     deny_write path is touched) and after (the new document still satisfies
//     the rule), see docs/writes.md.
package service

import (
	"context"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/audit"
	"github.com/permission-mongo/permission-mongo/internal/cursor"
	"github.com/permission-mongo/permission-mongo/internal/hierarchy"
	"github.com/permission-mongo/permission-mongo/internal/pipeline"
	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/policy/when"
	"github.com/permission-mongo/permission-mongo/internal/principal"
	"github.com/permission-mongo/permission-mongo/internal/query"
)

// Store is what the service needs from the database. Filters arrive complete
// (policy included); the store adds nothing and removes nothing.
// *store.Documents implements it.
type Store interface {
	FindOne(ctx context.Context, coll string, filter any) (bson.Raw, error)
	Find(ctx context.Context, coll string, filter any, sort bson.D, limit int64) ([]bson.Raw, error)
	Count(ctx context.Context, coll string, filter any) (int64, error)
	Insert(ctx context.Context, coll string, doc any) error
	UpdateOne(ctx context.Context, coll string, filter, update any) (bson.Raw, error)
	ReplaceOne(ctx context.Context, coll string, filter, doc any) (bson.Raw, error)
	DeleteOne(ctx context.Context, coll string, filter any) (int64, error)
	DeleteMany(ctx context.Context, coll string, filter any) (int64, error)
	Aggregate(ctx context.Context, coll string, pipeline any, capability string) ([]bson.Raw, error)
}

// Limits bound what one request may ask for.
type Limits struct {
	// DefaultLimit is the page size when the client gives none (20 when 0).
	DefaultLimit int
	// MaxLimit is the largest page size accepted (10,000 when 0).
	MaxLimit int
	// Filter bounds client filters (depth, regex length, $in size).
	Filter query.Limits
	// MaxBatch is the most documents one batch request may create, name or
	// update (1,000 when 0).
	MaxBatch int
	// Pipeline bounds aggregation pipelines; its MaxLimit defaults to
	// MaxLimit.
	Pipeline pipeline.Limits
}

// Params are the dependencies of a Service.
type Params struct {
	Store    Store
	Policies *policy.Set
	Cursors  *cursor.Codec
	Limits   Limits
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// Versions keeps previous states of the versioned collections; nil
	// versions nothing (versions.go).
	Versions *Versioning
	// AuditLog is the audit collection GET /audit reads; nil answers 501
	// there (audit.go).
	AuditLog audit.Log
	// Unstorable are the BSON types the backend cannot store
	// (cursor.FerretDBUnstorable on FerretDB v1); a write carrying one is
	// refused with 400 before it is sent (storable.go).
	Unstorable []bson.Type
	// LookupByIDOnly says the backend reads without scanning only for a
	// filter that is exactly {_id} (store.Capabilities.LookupByIDOnly):
	// Get then asks for {_id} alone (lookup.go).
	LookupByIDOnly bool
	// IDOrder, with LookupByIDOnly, lists _ids in order without the
	// backend reading documents (store.IDOrder on the embedded backend):
	// default lists then fetch their documents by {_id} (idorder.go). Nil
	// leaves lists to the backend.
	IDOrder IDOrder
	// RefuseAfterIDless refuses, with 501, an aggregation stage that follows
	// one whose output has no _id (pipeline.StageAfterIDless): FerretDB v1
	// panics on it and later loses the process.
	RefuseAfterIDless bool
	// Hierarchy resolves user.$subordinates and friends; nil leaves them
	// absent (rules using them match nothing). hierarchy.go.
	Hierarchy *hierarchy.Resolver
	// Outbox receives the change events of collections with hooks; nil
	// sends none (events.go).
	Outbox EventSink
}

// Service enforces policies on document operations. Safe for concurrent use.
type Service struct {
	store    Store
	policies atomic.Pointer[policy.Set]
	cursors  *cursor.Codec
	limits   Limits
	now      func() time.Time
	log      *slog.Logger
	versions *Versioning
	auditLog audit.Log
	// unstorable: see Params.Unstorable.
	unstorable []bson.Type
	byIDOnly   bool
	idOrder    IDOrder
	// refuseAfterIDless: see Params.RefuseAfterIDless.
	refuseAfterIDless bool
	hier              *hierarchy.Resolver
	outbox            EventSink
}

// New returns a Service.
func New(p Params) *Service {
	s := &Service{store: p.Store, cursors: p.Cursors, limits: p.Limits, now: p.Now, log: p.Logger}
	s.versions, s.auditLog, s.byIDOnly, s.outbox = p.Versions, p.AuditLog, p.LookupByIDOnly, p.Outbox
	s.idOrder = p.IDOrder
	s.unstorable = p.Unstorable
	s.refuseAfterIDless = p.RefuseAfterIDless
	if p.Hierarchy != nil {
		s.hier = p.Hierarchy
		s.store = &hierStore{Store: p.Store, s: s}
	}
	if s.limits.DefaultLimit <= 0 {
		s.limits.DefaultLimit = 20
	}
	if s.limits.MaxLimit <= 0 {
		s.limits.MaxLimit = 10000
	}
	if s.limits.MaxBatch <= 0 {
		s.limits.MaxBatch = 1000
	}
	if s.limits.Pipeline.MaxLimit <= 0 {
		s.limits.Pipeline.MaxLimit = int64(s.limits.MaxLimit)
	}
	if s.limits.Pipeline.Filter == (query.Limits{}) {
		s.limits.Pipeline.Filter = s.limits.Filter
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.policies.Store(p.Policies)
	return s
}

// SetPolicies swaps the policy set (on reload). Requests already running
// finish with the set they started with.
func (s *Service) SetPolicies(set *policy.Set) {
	s.policies.Store(set)
	if s.hier != nil {
		s.hier.Invalidate() // the hierarchy section may have changed
	}
}

// Policies returns the current policy set.
func (s *Service) Policies() *policy.Set { return s.policies.Load() }

// Stamp fields are written by the server only (HTTP contract: "Clients
// cannot forge stamped fields").
const (
	FieldCreatedBy = "created_by"
	FieldCreatedAt = "created_at"
	FieldUpdatedBy = "updated_by"
	FieldUpdatedAt = "updated_at"
)

func isStamp(path string) bool {
	top, _, _ := strings.Cut(path, ".")
	switch top {
	case FieldCreatedBy, FieldCreatedAt, FieldUpdatedBy, FieldUpdatedAt:
		return true
	}
	return false
}

// request is one caller's view of one collection for the duration of a
// request: the policy set is read once so that every decision of the request
// comes from the same set, and the caller's values are bound once.
type request struct {
	s    *Service
	p    *principal.Principal
	coll string
	set  *policy.Set
	env  *when.Env
	now  time.Time
}

func (s *Service) begin(p *principal.Principal, coll string) (*request, error) {
	if p == nil {
		return nil, apperr.New(apperr.KindUnauthenticated, "authentication required")
	}
	if err := CheckCollection(coll); err != nil {
		return nil, err
	}
	set := s.policies.Load()
	if set == nil {
		return nil, apperr.New(apperr.KindUnavailable, "no policy loaded")
	}
	// BSON dates have millisecond precision: truncating here makes the value
	// the server stores equal to the one this request compares with.
	now := s.now().UTC().Truncate(time.Millisecond)
	return &request{s: s, p: p, coll: coll, set: set, env: set.NewEnv(s.callerVars(p, set), now), now: now}, nil
}

func (r *request) decide(a policy.Action) *policy.Decision {
	return r.set.DecideEnv(r.p.Roles, r.env, r.coll, a)
}

// granted returns the decision for a, or a 403 when no role grants it.
func (r *request) granted(a policy.Action) (*policy.Decision, error) {
	d := r.decide(a)
	if !d.Granted {
		return nil, apperr.Forbidden("%s on collection %q is not granted", a, r.coll).
			WithDetails(map[string]any{"action": string(a), "collection": r.coll})
	}
	return d, nil
}

// beginAction starts a request for action a, which a role of the caller
// must be granted on coll. Every operation answers its 401, 400 (collection
// name) and 403 (action) here, in this order, before it reads its arguments.
func (s *Service) beginAction(p *principal.Principal, coll string, a policy.Action) (*request, *policy.Decision, error) {
	r, err := s.begin(p, coll)
	if err != nil {
		return nil, nil, err
	}
	d, err := r.granted(a)
	if err != nil {
		return nil, nil, err
	}
	return r, d, nil
}

// beginID starts a request on the one document the path id names, for an
// operation that decides later which action it needs.
func (s *Service) beginID(p *principal.Principal, coll, id string) (*request, any, error) {
	r, err := s.begin(p, coll)
	if err != nil {
		return nil, nil, err
	}
	oid, err := ParseID(id)
	if err != nil {
		return nil, nil, err
	}
	return r, oid, nil
}

// beginDoc is beginAction for an operation on the one document the path id
// names; the id is parsed after the action is known to be granted, so that
// a caller without the action learns nothing from an id's form.
func (s *Service) beginDoc(p *principal.Principal, coll string, a policy.Action, id string) (*request, *policy.Decision, any, error) {
	r, d, err := s.beginAction(p, coll, a)
	if err != nil {
		return nil, nil, nil, err
	}
	oid, err := ParseID(id)
	if err != nil {
		return nil, nil, nil, err
	}
	return r, d, oid, nil
}

var collectionName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,119}$`)

// ReservedPrefix starts the names of the proxy's own collections (API keys,
// grants ledger, audit, ...). They live in the application database, so the
// document API refuses them whatever the policy says: a policy template for
// unlisted collections must not expose the key store.
const ReservedPrefix = "pm_"

// CheckCollection refuses collection names that MongoDB treats specially
// (system.*, $-names), the proxy's own collections (ReservedPrefix), and
// names that could not be a collection at all. Policies decide which of the
// remaining names are usable.
func CheckCollection(name string) error {
	if !collectionName.MatchString(name) || strings.HasPrefix(name, "system.") || strings.Contains(name, "..") || strings.HasSuffix(name, ".") {
		return apperr.Invalid("invalid collection name").WithDetails(map[string]any{"collection": name})
	}
	if strings.HasPrefix(strings.ToLower(name), ReservedPrefix) {
		return apperr.Forbidden("collection %q is reserved for the proxy", name).WithDetails(map[string]any{"collection": name})
	}
	return nil
}

// ParseID turns a path id into the _id value: 24 hex digits are an ObjectId,
// anything else is a string id (HTTP contract).
func ParseID(s string) (any, error) {
	if s == "" || len(s) > 1024 {
		return nil, apperr.Invalid("invalid id")
	}
	if len(s) == 24 {
		if oid, err := bson.ObjectIDFromHex(s); err == nil {
			return oid, nil
		}
	}
	return s, nil
}

// idFilter is {_id: id}. The ids of the HTTP API (ParseID: ObjectId or
// string) are written straight as raw BSON, the same bytes the driver's
// reflection codecs would produce for the bson.D; any other _id type keeps
// the bson.D.
func idFilter(id any) any {
	switch v := id.(type) {
	case bson.ObjectID:
		idx, dst := bsoncore.AppendDocumentStart(make([]byte, 0, 22))
		dst = bsoncore.AppendObjectIDElement(dst, "_id", v)
		dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
		return bson.Raw(dst)
	case string:
		idx, dst := bsoncore.AppendDocumentStart(make([]byte, 0, 15+len(v)))
		dst = bsoncore.AppendStringElement(dst, "_id", v)
		dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
		return bson.Raw(dst)
	}
	return bson.D{{Key: "_id", Value: id}}
}

// and joins filters with $and, leaving out empty ones. The policy filter is
// always a separate operand: a client key can never replace or widen it.
//
// Two or more operands are joined as one raw document (the policy filter is
// raw already, an id filter usually is), so that the driver copies it instead
// of walking a bson.D of interfaces through its reflection codecs on every
// request. The bytes are those the driver writes for
// bson.D{{"$and", bson.A{ops...}}} (TestAndMatchesDriverEncoding); an operand
// the encoder refuses leaves the bson.D to the driver, which reports the
// error as before.
func and(parts ...any) any {
	var buf [4]any
	ops := buf[:0]
	for _, p := range parts {
		switch f := p.(type) {
		case nil:
			continue
		case bson.Raw:
			if len(f) == 0 {
				continue
			}
		case bson.D:
			if len(f) == 0 {
				continue
			}
		}
		ops = append(ops, p)
	}
	switch len(ops) {
	case 0:
		return bson.D{}
	case 1:
		return ops[0]
	}
	if raw, ok := andRaw(ops); ok {
		return raw
	}
	return bson.D{{Key: "$and", Value: bson.A(append([]any(nil), ops...))}}
}

// andRaw is {$and: ops} as raw BSON; false when an operand cannot be encoded.
func andRaw(ops []any) (bson.Raw, bool) {
	size := 32
	for _, op := range ops {
		if r, ok := op.(bson.Raw); ok {
			size += len(r) + 4
		} else {
			size += 64
		}
	}
	idx, dst := bsoncore.AppendDocumentStart(make([]byte, 0, size))
	aidx, dst := bsoncore.AppendArrayElementStart(dst, "$and")
	for i, op := range ops {
		doc, ok := op.(bson.Raw)
		if d, isD := op.(bson.D); isD {
			// Written without the driver when its values allow (rawdoc.go).
			if out, done := appendValue(dst, arrayKey(i), d); done {
				dst = out
				continue
			}
		}
		if !ok {
			b, err := bson.Marshal(op)
			if err != nil {
				return nil, false
			}
			doc = b
		}
		dst = bsoncore.AppendDocumentElement(dst, arrayKey(i), doc)
	}
	dst, _ = bsoncore.AppendArrayEnd(dst, aidx)
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return bson.Raw(dst), true
}

// arrayKey is the BSON array key of index i.
func arrayKey(i int) string {
	if i < 10 {
		return digits[i : i+1]
	}
	return strconv.Itoa(i)
}

const digits = "0123456789"

// policyFilter is the decision's filter, nil when nothing needs injecting.
func policyFilter(d *policy.Decision) any {
	f := d.Filter()
	if f == nil {
		return nil
	}
	return f
}
