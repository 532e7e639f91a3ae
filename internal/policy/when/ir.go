// Package when compiles the `when` expressions of a policy.
//
// An expression is parsed once, at load, with expr-lang's parser; its AST is
// walked into a small boolean tree (negations pushed down to the leaves).
// Per request, the caller's values are substituted ("bound") and the tree
// yields three things that agree with each other by construction, because all
// three are produced from the same leaves:
//
//   - the rule's state for this caller: always, never or conditional;
//   - a MongoDB filter (raw BSON) to inject into reads, updates and deletes;
//   - an in-memory check of one document with MongoDB's semantics.
package when

import (
	"regexp"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

type nodeKind uint8

const (
	nTrue nodeKind = iota
	nFalse
	nAnd
	nOr
	nLeaf
)

type opKind uint8

const (
	opEq    opKind = iota // subject == arg (MongoDB equality, arrays traversed)
	opLt                  // subject <  arg
	opLte                 // subject <= arg
	opGt                  // subject >  arg
	opGte                 // subject >= arg
	opIn                  // subject equals one of the values of arg (a list)
	opRegex               // subject is a string matching arg
)

var opNames = [...]string{"$eq", "$lt", "$lte", "$gt", "$gte", "$in", "$regex"}
var negNames = [...]string{"$ne", "", "", "", "", "$nin", ""}

type rxKind uint8

const (
	rxPrefix rxKind = iota
	rxSuffix
	rxContains
	rxMatches
)

type operandKind uint8

const (
	oConst    operandKind = iota // a literal, encoded at load
	oCaller                      // user.<path>, substituted per request
	oNow                         // the request time (+ offset)
	oList                        // a literal list whose items may be caller values
	oDuration                    // duration("..."): only valid as now ± duration
)

// operand is a value side of a leaf: never a document field.
type operand struct {
	kind   operandKind
	val    bson.RawValue // oConst
	slot   int           // oCaller
	offset time.Duration // oNow
	items  []operand     // oList
}

// node is one node of the compiled boolean tree, in negation normal form.
type node struct {
	kind nodeKind
	kids []*node

	// leaves
	op    opKind
	neg   bool
	field []string // document path; nil when the subject is the caller (folded per request)
	fstr  string   // field joined with dots
	subj  operand  // subject when field == nil
	arg   operand
	rx    rxKind
	re    *regexp.Regexp // rxMatches: compiled at load
	pat   string         // regex pattern when arg is a literal
}

func (n *node) negate() *node {
	switch n.kind {
	case nTrue:
		return &node{kind: nFalse}
	case nFalse:
		return &node{kind: nTrue}
	case nAnd, nOr:
		kids := make([]*node, len(n.kids))
		for i, k := range n.kids {
			kids[i] = k.negate()
		}
		kind := nOr
		if n.kind == nOr {
			kind = nAnd
		}
		return &node{kind: kind, kids: kids}
	}
	c := *n
	c.neg = !n.neg
	return &c
}

// combine builds an and/or node, folding literal true/false children at load.
func combine(kind nodeKind, a, b *node) *node {
	absorb, unit := nFalse, nTrue
	if kind == nOr {
		absorb, unit = nTrue, nFalse
	}
	var kids []*node
	for _, x := range []*node{a, b} {
		switch x.kind {
		case absorb:
			return x
		case unit:
			continue
		case kind:
			kids = append(kids, x.kids...)
		default:
			kids = append(kids, x)
		}
	}
	switch len(kids) {
	case 0:
		return &node{kind: unit}
	case 1:
		return kids[0]
	}
	return &node{kind: kind, kids: kids}
}
