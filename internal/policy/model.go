// Package policy loads permission policies from YAML, validates them (every
// problem reported at once, with file:line:column), compiles their `when`
// rules once, and answers per request what a caller may do on a collection:
// the filter to inject, the in-memory check, and the field rules per document.
package policy

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/permission-mongo/permission-mongo/internal/policy/when"
	"github.com/permission-mongo/permission-mongo/internal/schema"
)

// Action is something a role may do on a collection.
type Action string

// The collection actions of the policy language.
const (
	Create    Action = "create"
	Read      Action = "read"
	Update    Action = "update"
	Delete    Action = "delete"
	Aggregate Action = "aggregate"
	Restore   Action = "restore"
)

// Actions lists every collection action.
var Actions = []Action{Create, Read, Update, Delete, Aggregate, Restore}

// SystemPermissions are the non-collection permissions a `system:` section may grant.
var SystemPermissions = []string{"audit.read", "api_keys.manage", "grants.admin", "policies.reload", "webhooks.read", "webhooks.manage"}

// Set is a loaded, compiled policy set. It is immutable once loaded and safe
// for concurrent use; a reload builds a new Set.
type Set struct {
	Version     string
	Roles       map[string]*Role
	Collections map[string]*Collection
	Templates   map[string]map[string]*Rule
	System      map[string][]string
	Grants      map[string]*GrantRule
	Defaults    Defaults
	Masks       map[string]Masker
	Files       []string
	// Warnings are problems that do not stop the set from loading.
	Warnings []Problem
	// Schemas are the data rules of the `schemas:` sections (never nil).
	Schemas *schema.Set
	// Hierarchy says where user.$subordinates and friends come from; nil
	// when the files have no hierarchy section.
	Hierarchy *Hierarchy
	// Hooks are the webhooks per collection (the `hooks:` section).
	Hooks map[string][]*Hook

	scope *when.Scope
}

// Role is a named role and the roles it inherits from.
type Role struct {
	Name        string
	Description string
	Inherits    []string
	Pos         Pos
	// closure is the role itself and every role it inherits, transitively.
	closure []string
}

// Collection is the policy of one collection.
type Collection struct {
	Name     string
	Template string
	// Rules per role name, in a deterministic order.
	Rules   []*Rule
	Presets []*Preset
	Pos     Pos
}

// Rule is what one role may do on one collection.
type Rule struct {
	Role    string
	Actions []Action
	When    *when.Expr
	Fields  FieldRules
	Pos     Pos
	actions uint8
}

// Grants reports whether the rule grants action a.
func (r *Rule) Grants(a Action) bool { return r.actions&actionBit(a) != 0 }

// FieldRules are a role's field-level rules on a collection.
type FieldRules struct {
	Allow     []string          `json:"allow,omitempty"`
	Deny      []string          `json:"deny,omitempty"`
	DenyWrite []string          `json:"deny_write,omitempty"`
	Mask      map[string]string `json:"mask,omitempty"` // path -> mask name
}

// Preset is a value the server stamps on create.
type Preset struct {
	Field string
	// Exactly one of the following.
	CallerPath string // user.<CallerPath>
	Now        bool
	Value      any
	Pos        Pos
}

// GrantRule says what credentials a role may ask POST /grants for.
type GrantRule struct {
	Role         string
	Databases    []string
	Collections  []string // glob patterns
	Actions      []string // MongoDB privilege actions (shorthands expanded)
	MaxTTL       time.Duration
	ClientSource []netip.Prefix
	Deny         *GrantDeny
	Pos          Pos
}

// GrantDeny lists what a grant rule never gives, whatever else allows it.
type GrantDeny struct {
	Databases   []string
	Collections []string
	Actions     []string
}

// Defaults are the policy-wide defaults.
type Defaults struct {
	// DenyUnlistedCollections refuses every action on a collection with no
	// policy. Always true unless a template is named for unlisted collections.
	DenyUnlistedCollections bool
	// Template applies to collections without a policy when they are not denied.
	Template string
	// StrictRoles requires every role to be declared under roles:.
	StrictRoles bool
}

// Pos is a place in a policy file.
type Pos struct {
	File      string
	Line, Col int
}

func (p Pos) String() string {
	if p.Line == 0 { // a file that could not be read has no position inside it
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Problem is one load error.
type Problem struct {
	Pos Pos
	Msg string
}

func (p Problem) String() string { return p.Pos.String() + ": " + p.Msg }

// LoadError lists every problem found while loading a policy set, and the
// warnings, which often explain a problem (an undeclared, misspelt role).
type LoadError struct {
	Problems []Problem
	Warnings []Problem
}

func (e *LoadError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

func actionBit(a Action) uint8 {
	for i, x := range Actions {
		if x == a {
			return 1 << i
		}
	}
	return 0
}

// Expand returns the role names a caller holding roles has, inheritance
// included, sorted. Unknown role names are kept: they match nothing.
func (s *Set) Expand(roles []string) []string {
	seen := map[string]bool{}
	for _, r := range roles {
		if role, ok := s.Roles[r]; ok {
			for _, x := range role.closure {
				seen[x] = true
			}
		} else {
			seen[r] = true
		}
	}
	out := make([]string, 0, len(seen))
	for r := range seen {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// SystemAllowed reports whether a caller with roles holds a system permission.
func (s *Set) SystemAllowed(roles []string, perm string) bool {
	allowed := s.System[perm]
	for _, r := range s.Expand(roles) {
		for _, a := range allowed {
			if a == r {
				return true
			}
		}
	}
	return false
}

// Scope is the caller-value scope of the set's compiled expressions.
func (s *Set) Scope() *when.Scope { return s.scope }
