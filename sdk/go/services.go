package permissionmongo

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// ---- versions ----

// VersionInfo describes one saved version of a document.
type VersionInfo struct {
	Version   int64     `json:"version"`
	Op        string    `json:"op"`
	UpdatedBy string    `json:"updated_by"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Versions lists a document's saved versions, newest first (collections
// with versioning on).
func (c *Client) Versions(ctx context.Context, coll, id string) ([]VersionInfo, error) {
	return doList[VersionInfo](ctx, c, call{method: http.MethodGet, path: collPath(coll, id, "versions"), idempotent: true})
}

// GetVersion decodes the document as of version v into out (read rules
// applied).
func (c *Client) GetVersion(ctx context.Context, coll, id string, v int64, out any) error {
	env, err := c.do(ctx, call{method: http.MethodGet, path: collPath(coll, id, "versions", itoa(v)), idempotent: true})
	if err != nil {
		return err
	}
	return decode(env, out)
}

// RestoreVersion makes version v the current document (needs the restore
// action) and decodes it into out. Never retried.
func (c *Client) RestoreVersion(ctx context.Context, coll, id string, v int64, out any) error {
	env, err := c.do(ctx, call{method: http.MethodPost, path: collPath(coll, id, "versions", itoa(v), "restore")})
	if err != nil {
		return err
	}
	return decode(env, out)
}

// ---- imports ----

// ImportResult is the answer of an import.
type ImportResult struct {
	ImportID string `json:"import_id"`
	Inserted int64  `json:"inserted"`
	Failed   []struct {
		Line  int64 `json:"line"`
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	} `json:"failed"`
	FailedCount int64  `json:"failed_count"`
	AuditID     string `json:"audit_id"`
}

// ImportOptions tune an import.
type ImportOptions struct {
	// Progress, when set, is called as the body is sent with the lines
	// (newlines) and bytes sent so far.
	Progress func(lines, bytes int64)
}

// Import streams NDJSON from r into coll in one request; memory stays
// bounded whatever the size. Never retried (a stream is sent once).
func (c *Client) Import(ctx context.Context, coll string, r io.Reader, o ImportOptions) (*ImportResult, error) {
	if o.Progress != nil {
		r = &progressReader{r: r, f: o.Progress}
	}
	return doInto[ImportResult](ctx, c, call{method: http.MethodPost, path: collPath(coll, "import"), stream: r, contentType: "application/x-ndjson"})
}

// ImportDocs streams documents (each marshalled as one Extended JSON line)
// into coll. Iteration stops early if the request fails.
func (c *Client) ImportDocs(ctx context.Context, coll string, docs iter.Seq[any], o ImportOptions) (*ImportResult, error) {
	pr, pw := io.Pipe()
	go func() {
		bw := bufio.NewWriterSize(pw, 64<<10)
		for d := range docs {
			b, err := json.Marshal(encodeValue(d))
			if err == nil {
				_, err = bw.Write(append(b, '\n'))
			}
			if err != nil {
				pw.CloseWithError(fmt.Errorf("permission-mongo: import: %w", err))
				return
			}
		}
		pw.CloseWithError(bw.Flush())
	}()
	res, err := c.Import(ctx, coll, pr, o)
	_ = pr.Close() // stops the writer if the request ended early
	return res, err
}

type progressReader struct {
	r            io.Reader
	f            func(lines, bytes int64)
	lines, bytes int64
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		for _, c := range b[:n] {
			if c == '\n' {
				p.lines++
			}
		}
		p.bytes += int64(n)
		p.f(p.lines, p.bytes)
	}
	return n, err
}

// ---- audit ----

// AuditQuery filters GET /audit; zero fields are not sent.
type AuditQuery struct {
	Collection, Actor, Action, Outcome, DocID string
	From, To                                  time.Time
	Limit                                     int
	Cursor                                    string
}

func (q AuditQuery) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"collection": q.Collection, "actor": q.Actor, "action": q.Action,
		"outcome": q.Outcome, "doc_id": q.DocID, "cursor": q.Cursor} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if !q.From.IsZero() {
		v.Set("from", q.From.UTC().Format(time.RFC3339Nano))
	}
	if !q.To.IsZero() {
		v.Set("to", q.To.UTC().Format(time.RFC3339Nano))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return v
}

// AuditEntry is one audit record.
type AuditEntry struct {
	ID        string    `json:"id"`
	TS        time.Time `json:"ts"`
	RequestID string    `json:"request_id"`
	Actor     struct {
		ID       string   `json:"id"`
		TenantID string   `json:"tenant_id"`
		Roles    []string `json:"roles"`
		Auth     string   `json:"auth"`
		KeyID    string   `json:"key_id"`
	} `json:"actor"`
	Action        string   `json:"action"`
	Collection    string   `json:"collection"`
	DocIDs        []any    `json:"doc_ids"`
	Count         int64    `json:"count"`
	Outcome       string   `json:"outcome"`
	Status        int      `json:"status"`
	ErrorCode     string   `json:"error_code"`
	ChangedFields []string `json:"changed_fields"`
	IP            string   `json:"ip"`
	UserAgent     string   `json:"user_agent"`
	LatencyMS     float64  `json:"latency_ms"`
	Hash          string   `json:"hash"`
	PrevHash      string   `json:"prev_hash"`
}

// AuditPage is one page of audit entries, newest first.
type AuditPage struct {
	Entries []AuditEntry
	Cursor  string
	HasMore bool
}

// Audit reads one page of the audit log (needs the audit.read permission).
func (c *Client) Audit(ctx context.Context, q AuditQuery) (*AuditPage, error) {
	env, err := c.do(ctx, call{method: http.MethodGet, path: "/audit", query: q.values(), idempotent: true})
	if err != nil {
		return nil, err
	}
	p := &AuditPage{}
	if err := decode(env, &p.Entries); err != nil {
		return nil, err
	}
	if env.Pagination != nil && env.Pagination.HasMore && env.Pagination.Cursor != nil {
		p.HasMore, p.Cursor = true, *env.Pagination.Cursor
	}
	return p, nil
}

// AuditAll iterates every entry matching q, following the cursor (q.Limit
// is the page size):
//
//	for e, err := range c.AuditAll(ctx, pm.AuditQuery{Actor: "alice"}) { ... }
func (c *Client) AuditAll(ctx context.Context, q AuditQuery) iter.Seq2[AuditEntry, error] {
	return func(yield func(AuditEntry, error) bool) {
		for {
			p, err := c.Audit(ctx, q)
			if err != nil {
				yield(AuditEntry{}, err)
				return
			}
			for _, e := range p.Entries {
				if !yield(e, nil) {
					return
				}
			}
			if !p.HasMore {
				return
			}
			q.Cursor = p.Cursor
		}
	}
}

// AuditVerification is the answer of VerifyAudit.
type AuditVerification struct {
	OK         bool   `json:"ok"`
	Checked    int64  `json:"checked"`
	FirstBadID string `json:"first_bad_id"`
}

// VerifyAudit checks the audit hash chain between from and to (zero: open).
func (c *Client) VerifyAudit(ctx context.Context, from, to time.Time) (*AuditVerification, error) {
	return doInto[AuditVerification](ctx, c, call{method: http.MethodGet, path: "/audit/verify", query: AuditQuery{From: from, To: to}.values(), idempotent: true})
}

// ---- API keys ----

// Principal is who an API key stands for.
type Principal struct {
	ID       string         `json:"id"`
	TenantID string         `json:"tenant_id"`
	Roles    []string       `json:"roles"`
	Claims   map[string]any `json:"claims,omitempty"`
}

// APIKey describes a key; Key (the secret) is set only by CreateAPIKey.
type APIKey struct {
	ID        string     `json:"id"`
	Key       string     `json:"key"`
	Name      string     `json:"name"`
	Principal Principal  `json:"principal"`
	CreatedAt time.Time  `json:"created_at"`
	CreatedBy string     `json:"created_by"`
	ExpiresAt *time.Time `json:"expires_at"`
	Revoked   bool       `json:"revoked"`
}

// CreateAPIKey creates a key (needs api_keys.manage); expiresIn 0 means no
// expiry. The returned Key is shown only this once. Never retried.
func (c *Client) CreateAPIKey(ctx context.Context, name string, p Principal, expiresIn time.Duration) (*APIKey, error) {
	body := M{"name": name, "principal": p}
	if expiresIn > 0 {
		body["expires_in"] = int64(expiresIn / time.Second)
	}
	return doInto[APIKey](ctx, c, call{method: http.MethodPost, path: "/admin/api-keys", body: body})
}

// ListAPIKeys lists the keys of the caller's tenant (never their secrets).
func (c *Client) ListAPIKeys(ctx context.Context) ([]APIKey, error) {
	return doList[APIKey](ctx, c, call{method: http.MethodGet, path: "/admin/api-keys", idempotent: true})
}

// RevokeAPIKey revokes a key; revoking it again is not an error.
func (c *Client) RevokeAPIKey(ctx context.Context, id string) error {
	_, err := c.do(ctx, call{method: http.MethodDelete, path: "/admin/api-keys/" + url.PathEscape(id), idempotent: true})
	return err
}

// ---- credential grants ----

// GrantRequest asks for short-lived MongoDB credentials: Actions
// ("find", ...) or Role ("read" / "readWrite") on Collections, for TTL
// ("1h").
type GrantRequest struct {
	Database     string   `json:"database"`
	Collections  []string `json:"collections"`
	Actions      []string `json:"actions,omitempty"`
	Role         string   `json:"role,omitempty"`
	TTL          string   `json:"ttl"`
	ClientSource []string `json:"client_source,omitempty"`
}

// Grant is an issued grant; Password is set only by CreateGrant.
type Grant struct {
	GrantID    string    `json:"grant_id"`
	Username   string    `json:"username"`
	Password   string    `json:"password"`
	AuthSource string    `json:"auth_source"`
	URI        string    `json:"uri"`
	ExpiresAt  time.Time `json:"expires_at"`
	Privileges any       `json:"privileges"`
	Status     string    `json:"status"`
}

// CreateGrant issues credentials. Never retried.
func (c *Client) CreateGrant(ctx context.Context, r GrantRequest) (*Grant, error) {
	return doInto[Grant](ctx, c, call{method: http.MethodPost, path: "/grants", body: r})
}

// ListGrants lists the grants visible to the caller.
func (c *Client) ListGrants(ctx context.Context) ([]Grant, error) {
	return doList[Grant](ctx, c, call{method: http.MethodGet, path: "/grants", idempotent: true})
}

// GetGrant reads one grant.
func (c *Client) GetGrant(ctx context.Context, id string) (*Grant, error) {
	return doInto[Grant](ctx, c, call{method: http.MethodGet, path: "/grants/" + url.PathEscape(id), idempotent: true})
}

// RenewGrant extends a grant by ttl and returns its new expiry. Never
// retried.
func (c *Client) RenewGrant(ctx context.Context, id, ttl string) (time.Time, error) {
	env, err := c.do(ctx, call{method: http.MethodPost, path: "/grants/" + url.PathEscape(id) + "/renew", body: M{"ttl": ttl}})
	if err != nil {
		return time.Time{}, err
	}
	var out struct {
		ExpiresAt time.Time `json:"expires_at"`
	}
	return out.ExpiresAt, decode(env, &out)
}

// RevokeGrant revokes a grant; revoking it again is not an error.
func (c *Client) RevokeGrant(ctx context.Context, id string) error {
	_, err := c.do(ctx, call{method: http.MethodDelete, path: "/grants/" + url.PathEscape(id), idempotent: true})
	return err
}

// ---- explain ----

// Explanation is the compiled policy for the caller on one collection and
// action: why a query comes back empty.
type Explanation struct {
	Allowed bool `json:"allowed"`
	Filter  Doc  `json:"filter"`
	Fields  any  `json:"fields"`
}

// Explain asks the server how the policy applies to the caller.
func (c *Client) Explain(ctx context.Context, coll, action string) (*Explanation, error) {
	return doInto[Explanation](ctx, c, call{method: http.MethodPost, path: "/explain", body: M{"collection": coll, "action": action}, idempotent: true})
}
