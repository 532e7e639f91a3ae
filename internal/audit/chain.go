package audit

import (
	"slices"
	"strings"
)

// Chains are per writer and per tenant. A chain shared by tenants would tell
// each tenant's auditor about the others: its sequence numbers jump over the
// other tenants' entries, its prev_hash links to entries the auditor cannot
// see, and verifying it means counting them (ARCHITECTURE.md, security
// rule 21). So every entry whose actor has a tenant goes into the
// chain of that tenant in its writer, and everything else (unauthenticated
// requests, background events) into the writer's own chain. The hash, the
// linking and Verify are the same for every chain; only its name differs.

// chainSep separates the writer id from the tenant tag in a chain name. Writer
// ids are hex, so a name with it is a tenant chain and one without is a
// writer's own chain (or a chain written before chains were per tenant).
const chainSep = "."

// TenantTag names tenant's chains. It is a hash, not the tenant id, so chain
// names (which are in entry ids) have a fixed length and alphabet whatever
// the tenant ids look like; 128 bits make two tenants sharing a chain out of
// the question.
func TenantTag(tenant string) string {
	return domainHash("tenant", tenant, 16)
}

// ChainOf is the chain of writer that entries of tenant go into ("" for no
// tenant: the writer's own chain).
func ChainOf(writer, tenant string) string {
	if tenant == "" {
		return writer
	}
	return writer + chainSep + TenantTag(tenant)
}

// chainTenantTag returns the tenant tag of a chain name, "" for a writer's
// own chain (and for chains written before chains were per tenant, which
// mix tenants).
func chainTenantTag(chain string) string {
	_, tag, ok := strings.Cut(chain, chainSep)
	if !ok {
		return ""
	}
	return tag
}

// chainHead is where one chain of a Writer stands.
type chainHead struct {
	name string
	seq  int64
	hash string
}

// ChainHead is the last entry recorded in one chain (Writer.Heads).
type ChainHead struct {
	Chain string
	Seq   int64
	Hash  string
}

// chainLocked returns the name of the chain e goes into and where that
// chain's sequence number and last hash are kept, creating a tenant's chain
// on its first entry. w.mu is held.
func (w *Writer) chainLocked(e *Entry) (name string, seq *int64, last *string) {
	t := e.Actor.TenantID
	if t == "" {
		return w.id, &w.seq, &w.lastHash
	}
	h := w.tenants[t]
	if h == nil {
		if w.tenants == nil {
			w.tenants = map[string]*chainHead{}
		}
		n := ChainOf(w.id, t)
		h = &chainHead{name: n, hash: Genesis(n)}
		w.tenants[t] = h
	}
	return h.name, &h.seq, &h.hash
}

// Heads returns the head of every chain of the writer: its own chain first
// (0 and the genesis hash before its first entry), then each tenant chain
// with at least one entry, sorted by name. Logging them anchors the chains
// outside the database: without an anchor, whoever can write the audit
// collection can cut the end of a chain, or rewrite it whole, undetected.
func (w *Writer) Heads() []ChainHead {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]ChainHead, 0, len(w.tenants))
	for _, h := range w.tenants {
		out = append(out, ChainHead{Chain: h.name, Seq: h.seq, Hash: h.hash})
	}
	slices.SortFunc(out, func(a, b ChainHead) int { return strings.Compare(a.Chain, b.Chain) })
	return append([]ChainHead{{Chain: w.id, Seq: w.seq, Hash: w.lastHash}}, out...)
}
