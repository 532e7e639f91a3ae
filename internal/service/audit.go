package service

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/audit"
	"github.com/permission-mongo/permission-mongo/internal/cursor"
	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/principal"
)

// What the service adds to the audit entry of the request (audit.Op, found
// in ctx): ids, counts and field NAMES, never a value. Outside an audited
// request the Op is nil and these do nothing.

// IDString renders a document id for the audit log: the hex of an
// ObjectId, a string as is, anything else as relaxed Extended JSON.
func IDString(id any) string {
	var rv bson.RawValue
	switch v := id.(type) {
	case string:
		return v
	case bson.ObjectID:
		return v.Hex()
	case bson.RawValue:
		rv = v
	default:
		var err error
		if rv, err = rawValue(v); err != nil {
			return fmt.Sprint(v)
		}
	}
	switch rv.Type {
	case bson.TypeString:
		return rv.StringValue()
	case bson.TypeObjectID:
		return rv.ObjectID().Hex()
	}
	return rv.String()
}

// auditDocs records the ids of docs and counts them.
func auditDocs(ctx context.Context, docs ...bson.Raw) {
	op := audit.FromContext(ctx)
	if op == nil || len(docs) == 0 {
		return
	}
	ids := make([]string, 0, min(len(docs), audit.MaxDocIDs))
	for i, d := range docs {
		if i == audit.MaxDocIDs {
			break
		}
		ids = append(ids, IDString(d.Lookup("_id")))
	}
	op.AddDocIDs(ids...)
	op.AddCount(int64(len(docs)))
}

// auditDoc records one document read or written: its id, and the names of
// the fields a write changed.
func auditDoc(ctx context.Context, id any, fields []string) {
	op := audit.FromContext(ctx)
	if op == nil {
		return
	}
	op.AddDocIDs(IDString(id))
	op.AddCount(1)
	if len(fields) > 0 {
		op.AddChangedFields(fields...)
	}
}

// changedFields lists the top-level fields whose stored value differs
// between pre and post (stamps and _id left out): what a replace changed.
func changedFields(pre, post bson.Raw) []string {
	var out []string
	seen := map[string]bool{}
	elems, _ := post.Elements()
	for _, e := range elems {
		k := e.Key()
		seen[k] = true
		if k == "_id" || isStamp(k) {
			continue
		}
		old, err := pre.LookupErr(k)
		nv := e.Value()
		if err != nil || old.Type != nv.Type || !bytes.Equal(old.Value, nv.Value) {
			out = append(out, k)
		}
	}
	elems, _ = pre.Elements()
	for _, e := range elems {
		if k := e.Key(); !seen[k] && k != "_id" && !isStamp(k) {
			out = append(out, k)
		}
	}
	return out
}

// PermAuditRead is the system permission of GET /audit and /audit/verify.
const PermAuditRead = policy.PermAuditRead

// AuditQuery is a GET /audit request: the contract's filters, a page size
// and the cursor of the previous page.
type AuditQuery struct {
	Collection, Actor, Action, Outcome, DocID string
	From, To                                  *time.Time
	Limit                                     int
	Cursor                                    string
}

// auditSort is the order of audit.Query, the sort a cursor is bound to.
var auditSort = bson.D{{Key: "ts", Value: -1}, {Key: "writer", Value: -1}, {Key: "seq", Value: -1}}

// auditReader authorises reading the audit log: the audit.read system
// permission and a tenant, because an auditor sees the entries of their own
// tenant only (a caller without a tenant would otherwise see every tenant's).
func (s *Service) auditReader(p *principal.Principal) error {
	if p == nil {
		return apperr.New(apperr.KindUnauthenticated, "authentication required")
	}
	if s.auditLog == nil || s.cursors == nil {
		return apperr.New(apperr.KindNotSupported, "the audit log is not configured").
			WithDetails(map[string]any{"capability": "audit"})
	}
	set := s.policies.Load()
	if set == nil || !set.SystemAllowed(p.Roles, PermAuditRead) {
		return apperr.Forbidden("reading the audit log needs the %s permission", PermAuditRead)
	}
	if p.TenantID == "" {
		return apperr.Forbidden("reading the audit log needs a caller with a tenant")
	}
	return nil
}

// AuditLog returns one page of the caller's tenant's audit entries, newest
// first, and the cursor of the next page ("" on the last one). The cursor is
// signed with the list cursors' codec and bound to the caller and to the
// filters, so that it can be neither forged nor reused with other filters.
func (s *Service) AuditLog(ctx context.Context, p *principal.Principal, q AuditQuery) ([]audit.Entry, string, error) {
	if err := s.auditReader(p); err != nil {
		return nil, "", err
	}
	switch {
	case q.Limit == 0:
		q.Limit = audit.DefaultQueryLimit
	case q.Limit < 0 || q.Limit > audit.MaxQueryLimit:
		return nil, "", apperr.Invalid("limit must be between 1 and %d", audit.MaxQueryLimit).
			WithDetails(map[string]any{"max_limit": audit.MaxQueryLimit})
	}
	if q.Outcome != "" && q.Outcome != string(audit.OutcomeAllowed) && q.Outcome != string(audit.OutcomeDenied) && q.Outcome != string(audit.OutcomeError) {
		return nil, "", apperr.Invalid("outcome must be allowed, denied or error")
	}
	f := audit.Filter{TenantID: p.TenantID, Collection: q.Collection, Actor: q.Actor, Action: q.Action,
		Outcome: q.Outcome, DocID: q.DocID, From: q.From, To: q.To, Limit: q.Limit}
	bind := bson.D{{Key: "collection", Value: q.Collection}, {Key: "actor", Value: q.Actor}, {Key: "action", Value: q.Action},
		{Key: "outcome", Value: q.Outcome}, {Key: "doc_id", Value: q.DocID}}
	if q.From != nil {
		bind = append(bind, bson.E{Key: "from", Value: q.From.UTC()})
	}
	if q.To != nil {
		bind = append(bind, bson.E{Key: "to", Value: q.To.UTC()})
	}
	filter, err := bson.Marshal(bind)
	if err != nil {
		return nil, "", apperr.Invalid("filter cannot be encoded")
	}
	binding := cursor.Binding{Caller: callerKey(s.policies.Load(), "", p), Collection: s.auditLog.Name(), Filter: filter, Sort: auditSort}
	if q.Cursor != "" {
		pos, err := s.cursors.Decode(q.Cursor, binding)
		if err != nil {
			return nil, "", err
		}
		after, err := auditPosition(pos)
		if err != nil {
			return nil, "", err
		}
		f.After = after
	}
	entries, next, err := audit.Query(ctx, s.auditLog, f)
	if err != nil {
		return nil, "", err
	}
	if entries == nil {
		entries = []audit.Entry{}
	}
	if next == nil {
		return entries, "", nil
	}
	tv, err := rawValue(bson.NewDateTimeFromTime(next.TS))
	if err != nil {
		return nil, "", apperr.Wrap(apperr.KindInternal, err, "cannot encode cursor")
	}
	wv, _ := rawValue(next.Writer)
	sv, _ := rawValue(next.Seq)
	c, err := s.cursors.Encode(binding, cursor.Position{Values: []bson.RawValue{tv, wv, sv}, Missing: make([]bool, 3)})
	return entries, c, err
}

func auditPosition(p cursor.Position) (*audit.Position, error) {
	bad := apperr.New(apperr.KindInvalidCursor, "cursor is invalid, expired, or belongs to another query")
	if len(p.Values) != 3 || p.Missing[0] || p.Missing[1] || p.Missing[2] ||
		p.Values[0].Type != bson.TypeDateTime || p.Values[1].Type != bson.TypeString || p.Values[2].Type != bson.TypeInt64 {
		return nil, bad
	}
	return &audit.Position{
		TS:     p.Values[0].Time().UTC(),
		Writer: p.Values[1].StringValue(),
		Seq:    p.Values[2].Int64(),
	}, nil
}

// AuditVerify checks the hash chains of the caller's tenant for the entries
// in [from, to] (zero: open). Chains are per tenant, so the answer — a
// count and the id of the first bad entry — says nothing about other
// tenants' activity (audit.VerifyTenant).
func (s *Service) AuditVerify(ctx context.Context, p *principal.Principal, from, to time.Time) (audit.VerifyResult, error) {
	if err := s.auditReader(p); err != nil {
		return audit.VerifyResult{}, err
	}
	return audit.VerifyTenant(ctx, s.auditLog, p.TenantID, from, to)
}

// auditCount adds n documents returned or changed, without ids (results
// that are not stored documents, or deletes by filter).
func auditCount(ctx context.Context, n int64) { audit.FromContext(ctx).AddCount(n) }

// auditFailed adds n items of a batch that failed.
func auditFailed(ctx context.Context, n int) { audit.FromContext(ctx).AddFailed(int64(n)) }
