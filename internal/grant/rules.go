// Package grant issues short-lived, least-privilege MongoDB credentials: one
// custom role holding exactly the requested collection-level privileges and
// one user holding only that role, recorded in a ledger first so that a crash
// at any step is cleaned up, and dropped on revoke or expiry by a reaper.
package grant

import (
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/policy"
)

// ReservedCollectionPrefix starts the proxy's own collections
// (service.ReservedPrefix): never grantable.
const ReservedCollectionPrefix = "pm_"

// reservedDatabases are never grantable.
var reservedDatabases = map[string]bool{"admin": true, "local": true, "config": true}

// Request is what a caller asks POST /grants for.
type Request struct {
	Database     string   `json:"database"`
	Collections  []string `json:"collections"`
	Actions      []string `json:"actions,omitempty"`
	Role         string   `json:"role,omitempty"` // "read" | "readWrite", instead of actions
	TTL          string   `json:"ttl"`
	ClientSource []string `json:"client_source,omitempty"`
}

// Approved is a request the policy allows, normalised: actions expanded and
// sorted, TTL clamped, client sources parsed.
type Approved struct {
	Database     string
	Collections  []string
	Actions      []string
	TTL          time.Duration
	Clamped      bool // the TTL asked for was above the rule's max_ttl
	MaxTTL       time.Duration
	ClientSource []netip.Prefix
	Rule         string // the role whose grant rule allowed it
}

// Decide checks req against the grant rules of the caller's roles. One rule
// must allow the whole request (database, every collection, every action,
// client sources within its networks); a deny entry of any of the caller's
// rules refuses it whatever allows it. Every refusal says why.
func Decide(set *policy.Set, roles []string, req Request) (*Approved, error) {
	if req.Database == "" || len(req.Collections) == 0 {
		return nil, apperr.Invalid("database and collections are required")
	}
	if req.TTL == "" {
		return nil, apperr.Invalid("ttl is required (for example \"1h\")")
	}
	ttl, err := time.ParseDuration(req.TTL)
	if err != nil || ttl <= 0 {
		return nil, apperr.Invalid("ttl %q is not a positive duration", req.TTL)
	}
	actions, err := expandActions(req)
	if err != nil {
		return nil, err
	}
	if strings.ContainsAny(req.Database, "/\\. \"$*<>:|?\x00") || len(req.Database) > 63 {
		return nil, apperr.Invalid("%q is not a database name", req.Database)
	}
	// admin, local and config hold users, roles, the oplog and the cluster's
	// own state: a credential there is never "least privilege", whatever a
	// rule's glob matches.
	if reservedDatabases[strings.ToLower(req.Database)] {
		return nil, apperr.Forbidden("database %s cannot be granted", req.Database)
	}
	for _, c := range req.Collections {
		if c == "" || strings.ContainsAny(c, "$\x00") || strings.HasPrefix(c, "system.") {
			return nil, apperr.Invalid("%q is not a collection a grant can name", c)
		}
		// The proxy's own collections (API keys, grants ledger, leases,
		// audit): a direct credential on them would let its holder mint API
		// keys or rewrite the audit trail, whatever a rule's "*" matches.
		if strings.HasPrefix(strings.ToLower(c), ReservedCollectionPrefix) {
			return nil, apperr.Forbidden("collection %s is reserved for the proxy and cannot be granted", c)
		}
	}
	var sources []netip.Prefix
	for _, s := range req.ClientSource {
		p, err := policy.ParsePrefix(s)
		if err != nil {
			return nil, apperr.Invalid("client_source %q is not an IP address or CIDR", s)
		}
		sources = append(sources, p.Masked())
	}

	var rules []*policy.GrantRule
	for _, r := range set.Expand(roles) {
		if g, ok := set.Grants[r]; ok {
			rules = append(rules, g)
		}
	}
	if len(rules) == 0 {
		return nil, apperr.Forbidden("none of your roles may request credentials")
	}
	// Deny overrides allow, across every rule of the caller. A deny entry
	// refuses the request when each of its non-empty lists matches it.
	for _, g := range rules {
		if what := denied(g.Deny, req, actions); what != "" {
			return nil, apperr.Forbidden("the grant rule of role %s denies %s", g.Role, what)
		}
	}
	var reasons []string
	for _, g := range rules {
		if why := allows(g, req, actions, sources); why != "" {
			reasons = append(reasons, "role "+g.Role+": "+why)
			continue
		}
		a := &Approved{Database: req.Database, Collections: sortedCopy(req.Collections), Actions: actions,
			TTL: ttl, MaxTTL: g.MaxTTL, Rule: g.Role, ClientSource: sources}
		if ttl > g.MaxTTL {
			a.TTL, a.Clamped = g.MaxTTL, true
		}
		if len(a.ClientSource) == 0 {
			a.ClientSource = g.ClientSource // a rule's networks always apply
		}
		return a, nil
	}
	return nil, apperr.Forbidden("no grant rule allows this request: %s", strings.Join(reasons, "; "))
}

func denied(d *policy.GrantDeny, req Request, actions []string) string {
	if d == nil || (len(d.Databases) == 0 && len(d.Collections) == 0 && len(d.Actions) == 0) {
		return ""
	}
	what := "database " + req.Database
	if len(d.Databases) > 0 && !matchAny(d.Databases, req.Database) {
		return ""
	}
	if len(d.Collections) > 0 {
		hit := ""
		for _, c := range req.Collections {
			if hit == "" && matchAny(d.Collections, c) {
				hit = c
			}
		}
		if hit == "" {
			return ""
		}
		what = "collection " + hit
	}
	if len(d.Actions) > 0 {
		hit := ""
		for _, a := range actions {
			if hit == "" && slices.Contains(d.Actions, a) {
				hit = a
			}
		}
		if hit == "" {
			return ""
		}
		what = "action " + hit + " on " + what
	}
	return what
}

func allows(g *policy.GrantRule, req Request, actions []string, sources []netip.Prefix) string {
	if !matchAny(g.Databases, req.Database) {
		return "database " + req.Database + " is not allowed"
	}
	for _, c := range req.Collections {
		if !matchAny(g.Collections, c) {
			return "collection " + c + " is not allowed"
		}
	}
	for _, a := range actions {
		if !slices.Contains(g.Actions, a) {
			return "action " + a + " is not allowed"
		}
	}
	if len(g.ClientSource) > 0 {
		for _, s := range sources {
			inside := false
			for _, allowed := range g.ClientSource {
				inside = inside || (allowed.Bits() <= s.Bits() && allowed.Contains(s.Addr()))
			}
			if !inside {
				return "client_source " + s.String() + " is outside the allowed networks"
			}
		}
	}
	return ""
}

// expandActions turns a role shorthand or an action list into sorted,
// distinct privilege actions, refusing actions that are not data actions.
func expandActions(req Request) ([]string, error) {
	var in []string
	switch {
	case req.Role != "" && len(req.Actions) > 0:
		return nil, apperr.Invalid("give either role or actions, not both")
	case req.Role != "":
		exp, ok := policy.GrantShorthands[req.Role]
		if !ok {
			return nil, apperr.Invalid("role %q is not read or readWrite", req.Role)
		}
		in = exp
	case len(req.Actions) > 0:
		for _, a := range req.Actions {
			if exp, ok := policy.GrantShorthands[a]; ok {
				in = append(in, exp...)
				continue
			}
			if !policy.ValidGrantAction(a) {
				return nil, apperr.Invalid("action %q cannot be granted: only MongoDB privilege actions on data (find, insert, update, remove, createIndex, dropIndex, listIndexes, listCollections, collStats, dbStats, changeStream, killCursors) or read / readWrite", a)
			}
			in = append(in, a)
		}
	default:
		return nil, apperr.Invalid("actions or role is required")
	}
	return sortedCopy(in), nil
}

// sortedCopy is s sorted and without repeats, in a new slice (nil when s is
// empty); s itself is left as the caller sent it.
func sortedCopy(s []string) []string {
	return slices.Compact(slices.Sorted(slices.Values(s)))
}

func matchAny(globs []string, s string) bool {
	return slices.ContainsFunc(globs, func(g string) bool {
		ok, _ := filepath.Match(g, s)
		return ok
	})
}
