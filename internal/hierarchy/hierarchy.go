// Package hierarchy resolves the organisation values of a caller —
// user.$directReports, user.$subordinates, user.$ancestors — from the
// collection a policy's `hierarchy:` section names, where each person's
// document holds its id and its manager's id.
//
// Walks are bounded (depth, number of people) and cycle-safe; a walk that
// hits a bound, or a database error, gives no value, so the rules using it
// fail closed. Results are cached per caller for the section's cache_ttl and
// dropped at once by Invalidate, which the service calls after every write
// to the hierarchy collection.
package hierarchy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/store"
)

// Config is what a walk needs; the policy's hierarchy: section is one
// (policy.Hierarchy embeds it).
type Config struct {
	// Collection holds one document per person; IDField is the person's id
	// and ManagerField the id of their manager.
	Collection   string
	IDField      string
	ManagerField string
	// MaxDepth bounds the walk down (subordinates) and up (ancestors).
	MaxDepth int
	// MaxNodes bounds how many people one caller's subordinates may be;
	// beyond it the values are absent (the rules using them fail closed).
	MaxNodes int
	// CacheTTL is how long resolved values are kept; changes made through
	// the proxy invalidate them at once.
	CacheTTL time.Duration
}

// Values are one caller's hierarchy values.
type Values struct {
	DirectReports []any
	Subordinates  []any
	Ancestors     []any
}

// ErrTooLarge is returned when a walk passes MaxNodes.
var ErrTooLarge = errors.New("hierarchy: more people than max_nodes")

// Resolver looks values up and caches them. Safe for concurrent use.
type Resolver struct {
	db  *store.Database
	now func() time.Time

	mu    sync.Mutex
	gen   uint64
	cache map[key]entry
	// Lookups counts database walks, for tests and metrics.
	lookups uint64
	// announce tells the other proxies about a change (announce.go).
	announce atomic.Pointer[Announcer]
}

type key struct {
	cfg Config
	id  string
}

type entry struct {
	v   *Values
	exp time.Time
}

// New returns a Resolver reading from db.
func New(db *store.Database) *Resolver {
	return &Resolver{db: db, now: time.Now, cache: map[key]entry{}}
}

// Invalidate drops every cached value. A walk that started before the call
// does not store its result afterwards (generation check), so a change is
// never hidden by a walk that read the old data.
func (r *Resolver) Invalidate() {
	r.mu.Lock()
	r.gen++
	clear(r.cache)
	r.mu.Unlock()
}

// Lookups is how many walks have run (cache misses).
func (r *Resolver) Lookups() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lookups
}

// Get returns the values of the person with id userID.
func (r *Resolver) Get(ctx context.Context, cfg Config, userID string) (*Values, error) {
	k := key{cfg, userID}
	r.mu.Lock()
	if e, ok := r.cache[k]; ok && r.now().Before(e.exp) {
		r.mu.Unlock()
		return e.v, nil
	}
	gen := r.gen
	r.lookups++
	r.mu.Unlock()

	v, err := r.walk(ctx, cfg, userID)
	if err != nil {
		return nil, err
	}
	if cfg.CacheTTL > 0 {
		r.mu.Lock()
		if r.gen == gen {
			r.cache[k] = entry{v: v, exp: r.now().Add(cfg.CacheTTL)}
		}
		r.mu.Unlock()
	}
	return v, nil
}

func (r *Resolver) walk(ctx context.Context, cfg Config, userID string) (*Values, error) {
	coll := r.db.Collection(cfg.Collection)
	v := &Values{DirectReports: []any{}, Subordinates: []any{}, Ancestors: []any{}}

	// Down, breadth first: level 1 is the direct reports.
	seen := map[string]bool{userID: true}
	frontier := []string{userID}
	for depth := 1; depth <= cfg.MaxDepth && len(frontier) > 0; depth++ {
		ids, err := r.reportsOf(ctx, coll, cfg, frontier)
		if err != nil {
			return nil, err
		}
		frontier = frontier[:0:0]
		for _, id := range ids {
			if seen[id] {
				continue // a cycle, or two paths to the same person
			}
			seen[id] = true
			if depth == 1 {
				v.DirectReports = append(v.DirectReports, id)
			}
			v.Subordinates = append(v.Subordinates, id)
			frontier = append(frontier, id)
			if len(v.Subordinates) > cfg.MaxNodes {
				return nil, ErrTooLarge
			}
		}
	}

	// Up: the manager of the manager, ... until a root, a cycle or the bound.
	up := map[string]bool{userID: true}
	cur := userID
	for depth := 1; depth <= cfg.MaxDepth; depth++ {
		m, ok, err := r.managerOf(ctx, coll, cfg, cur)
		if err != nil {
			return nil, err
		}
		if !ok || up[m] {
			break
		}
		up[m] = true
		v.Ancestors = append(v.Ancestors, m)
		cur = m
	}
	return v, nil
}

// reportsOf returns the ids of the people whose manager is one of ids.
func (r *Resolver) reportsOf(ctx context.Context, coll *store.Collection, cfg Config, ids []string) ([]string, error) {
	in := make(bson.A, len(ids))
	for i, id := range ids {
		in[i] = id
	}
	find := store.Find{Projection: bson.D{{Key: cfg.IDField, Value: 1}}, Limit: int64(cfg.MaxNodes) + 1}
	var out []string
	err := coll.Each(ctx, bson.D{{Key: cfg.ManagerField, Value: bson.D{{Key: "$in", Value: in}}}}, find, func(doc bson.Raw) error {
		if s, ok := stringAt(doc, cfg.IDField); ok {
			out = append(out, s)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hierarchy: %w", err)
	}
	if len(out) > cfg.MaxNodes {
		return nil, ErrTooLarge
	}
	return out, nil
}

func (r *Resolver) managerOf(ctx context.Context, coll *store.Collection, cfg Config, id string) (string, bool, error) {
	var raw bson.Raw
	err := coll.FindOne(ctx, bson.D{{Key: cfg.IDField, Value: id}},
		store.Find{Projection: bson.D{{Key: cfg.ManagerField, Value: 1}}}, &raw)
	if errors.Is(err, store.ErrNoDocuments) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("hierarchy: %w", err)
	}
	s, ok := stringAt(raw, cfg.ManagerField)
	return s, ok && s != "", nil
}

// stringAt reads a string id at a dotted path; ids are strings (user ids
// come from tokens as strings), other types are ignored.
func stringAt(doc bson.Raw, path string) (string, bool) {
	v, err := doc.LookupErr(strings.Split(path, ".")...)
	if err != nil {
		return "", false
	}
	return v.StringValueOK()
}
