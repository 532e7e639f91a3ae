package pipeline

import (
	"cmp"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/query"
)

// Access answers, for one caller, how a collection may be read by an
// aggregation. The api layer implements it with the caller's policy
// decisions (action read/aggregate); For must return an *apperr.Error of
// kind Forbidden for a collection the caller cannot read at all. Rewrite
// asks once per distinct collection name.
type Access interface {
	For(collection string) (*Target, error)
}

// Target is what the caller may read of one collection.
type Target struct {
	// Filter is the policy filter documents must match; nil means no
	// restriction. It is ANDed in front of everything the client does.
	Filter bson.Raw
	// Never: the caller can see no document of the collection. Filter is
	// then ignored and a match-nothing $match is injected instead, so a
	// Never decision can never be mistaken for "no restriction".
	Never bool
	// Fields are the strictest field rules over every rule that can grant
	// the caller a document (policy.Decision.StrictFields).
	Fields policy.FieldRules
	// Readable reports whether a normalised path may be used in a filter,
	// sort, group key or expression (policy.Decision.Readable). nil means
	// nothing is readable: a forgotten callback fails closed.
	Readable func(path string) bool
}

// hasFieldRules reports whether stripping changes anything.
func (t *Target) hasFieldRules() bool {
	return len(t.Fields.Allow) > 0 || len(t.Fields.Deny) > 0 || len(t.Fields.Mask) > 0
}

func (t *Target) readable(p string) bool { return t.Readable != nil && t.Readable(p) }

// Limits bounds the cost of a pipeline. A zero or negative field takes its
// value from DefaultLimits, never "unlimited": a forgotten setting must not
// switch a limit off.
type Limits struct {
	// MaxStages is the number of client stages in the whole tree,
	// sub-pipelines of $lookup/$unionWith/$facet included (the injected
	// policy stages are not counted). Over it → 413.
	MaxStages int
	// MaxDepth is how deeply sub-pipelines may nest: a $lookup pipeline in
	// the client's pipeline is depth 1, a $lookup inside it depth 2. Over
	// it → 413.
	MaxDepth int
	// MaxLimit caps the number of documents the pipeline returns: a final
	// {$limit: MaxLimit} is appended, or a final client $limit above it is
	// lowered to it. A pipeline ending in $count returns one document and is
	// left alone.
	MaxLimit int64
	// MaxExprDepth is the deepest nesting of documents and arrays inside one
	// stage. Over it → 413. It keeps recursion bounded on hostile input.
	MaxExprDepth int
	// Filter bounds $match filters, restrictSearchWithMatch and the like.
	Filter query.Limits
}

// DefaultLimits are used for every Limits field left at zero. Treat it as
// read-only.
var DefaultLimits = Limits{MaxStages: 50, MaxDepth: 4, MaxLimit: 10000, MaxExprDepth: 64}

func (l Limits) withDefaults() Limits {
	// max(x, 0) turns a negative setting into zero, and cmp.Or turns zero
	// into the default: a limit is never off.
	l.MaxStages = cmp.Or(max(l.MaxStages, 0), DefaultLimits.MaxStages)
	l.MaxDepth = cmp.Or(max(l.MaxDepth, 0), DefaultLimits.MaxDepth)
	l.MaxLimit = cmp.Or(max(l.MaxLimit, 0), DefaultLimits.MaxLimit)
	l.MaxExprDepth = cmp.Or(max(l.MaxExprDepth, 0), DefaultLimits.MaxExprDepth)
	return l
}
