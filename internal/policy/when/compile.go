package when

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/permission-mongo/permission-mongo/internal/mongosem"
)

// Error is a compile error at a position of the expression source.
type Error struct {
	Line, Column int // 1-based, within the expression source
	Msg          string
}

func (e *Error) Error() string { return fmt.Sprintf("%d:%d: %s", e.Line, e.Column, e.Msg) }

// Scope numbers the caller values (`user.*`) used by every expression of a
// policy set, so that one request resolves each of them once.
type Scope struct {
	paths []string
	index map[string]int
}

// NewScope returns an empty scope.
func NewScope() *Scope { return &Scope{index: map[string]int{}} }

// Paths lists the caller paths in slot order.
func (s *Scope) Paths() []string { return s.paths }

func (s *Scope) slot(path string) int {
	if i, ok := s.index[path]; ok {
		return i
	}
	s.paths = append(s.paths, path)
	s.index[path] = len(s.paths) - 1
	return len(s.paths) - 1
}

// Expr is a compiled `when` expression.
type Expr struct {
	src  string
	root *node
	// strict lists the caller slots whose absence makes the rule match
	// nothing (every caller value not used only in a nil check).
	strict []int
	// lists are caller slots that must hold an array (`resource.x in user.list`).
	lists []int
	// strs are caller slots that must hold a string (startsWith & co.).
	strs []int
	// fields are the document paths the expression reads.
	fields []string
}

// Source returns the expression text.
func (e *Expr) Source() string { return e.src }

// Fields lists the document field paths the expression reads.
func (e *Expr) Fields() []string { return e.fields }

// CallerPaths lists the `user.*` paths the expression uses (without "user.").
func (e *Expr) CallerPaths(s *Scope) []string {
	var out []string
	for _, i := range e.strict {
		out = append(out, s.paths[i])
	}
	return out
}

// knownUser are the caller attributes a principal carries besides claims.*.
var knownUser = map[string]bool{"id": true, "tenant_id": true, "roles": true}

// HierarchyVars are the caller values resolved from the organisation
// hierarchy (lists of user ids); the caller's Vars answers them like any
// other value, so they compile to filters the same way.
var HierarchyVars = []string{"$subordinates", "$directReports", "$ancestors"}

func isHierarchyVar(s string) bool {
	for _, h := range HierarchyVars {
		if s == h {
			return true
		}
	}
	return false
}

// Compile parses and compiles src. The empty expression means "always".
func Compile(src string, scope *Scope) (*Expr, error) {
	e := &Expr{src: src}
	if strings.TrimSpace(src) == "" {
		e.root = &node{kind: nTrue}
		return e, nil
	}
	tree, err := parser.Parse(src)
	if err != nil {
		var fe *file.Error
		if errors.As(err, &fe) {
			return nil, &Error{Line: fe.Line, Column: fe.Column + 1, Msg: fe.Message}
		}
		return nil, &Error{Line: 1, Column: 1, Msg: err.Error()}
	}
	c := &compiler{src: src, scope: scope, e: e, refs: map[int]int{}, nilRefs: map[int]int{}, fieldSet: map[string]bool{}}
	root, err := c.boolean(tree.Node)
	if err != nil {
		return nil, err
	}
	e.root = root
	for slot, n := range c.refs {
		if n > c.nilRefs[slot] {
			e.strict = append(e.strict, slot)
		}
	}
	slices.Sort(e.strict)
	slices.Sort(e.lists)
	slices.Sort(e.strs)
	return e, nil
}

type compiler struct {
	src      string
	scope    *Scope
	e        *Expr
	refs     map[int]int // uses of each caller slot
	nilRefs  map[int]int // uses that are nil checks
	fieldSet map[string]bool
}

func (c *compiler) errAt(n ast.Node, format string, args ...any) error {
	line, col := 1, 1
	from := n.Location().From
	runes := []rune(c.src)
	for i := 0; i < from && i < len(runes); i++ {
		if runes[i] == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return &Error{Line: line, Column: col, Msg: fmt.Sprintf(format, args...)}
}

// term is one side of a comparison.
type term struct {
	field []string // a document path
	op    operand  // otherwise
	isNil bool     // the literal nil
	n     ast.Node
}

func (t term) isField() bool { return t.field != nil }

// boolean compiles n where a truth value is expected.
func (c *compiler) boolean(n ast.Node) (*node, error) {
	switch x := n.(type) {
	case *ast.BoolNode:
		if x.Value {
			return &node{kind: nTrue}, nil
		}
		return &node{kind: nFalse}, nil
	case *ast.UnaryNode:
		if x.Operator == "!" || x.Operator == "not" {
			k, err := c.boolean(x.Node)
			if err != nil {
				return nil, err
			}
			return k.negate(), nil
		}
	case *ast.BinaryNode:
		switch x.Operator {
		case "&&", "and", "||", "or":
			l, err := c.boolean(x.Left)
			if err != nil {
				return nil, err
			}
			r, err := c.boolean(x.Right)
			if err != nil {
				return nil, err
			}
			if x.Operator == "&&" || x.Operator == "and" {
				return combine(nAnd, l, r), nil
			}
			return combine(nOr, l, r), nil
		case "==", "!=", "<", "<=", ">", ">=":
			return c.comparison(x)
		case "in":
			return c.membership(x)
		case "startsWith", "endsWith", "contains", "matches":
			return c.stringOp(x)
		}
		return nil, c.errAt(n, "operator %q cannot become a MongoDB filter", x.Operator)
	case *ast.MemberNode, *ast.ChainNode, *ast.IdentifierNode:
		// A bare value in a boolean position means "is true".
		t, err := c.term(n)
		if err != nil {
			return nil, err
		}
		return c.leaf(opEq, t, term{op: constOf(true), n: n})
	}
	return nil, c.errAt(n, "this expression is not a condition that can become a MongoDB filter")
}

var flipped = map[opKind]opKind{opEq: opEq, opLt: opGt, opLte: opGte, opGt: opLt, opGte: opLte}

func (c *compiler) comparison(x *ast.BinaryNode) (*node, error) {
	l, r, err := c.operands(x)
	if err != nil {
		return nil, err
	}
	op := map[string]opKind{"==": opEq, "!=": opEq, "<": opLt, "<=": opLte, ">": opGt, ">=": opGte}[x.Operator]
	if op != opEq && (l.isNil || r.isNil) {
		return nil, c.errAt(x, "nil can only be compared with == or !=")
	}
	// Keep the document field (or, failing that, the caller value) on the left.
	if (r.isField() && !l.isField()) || (!l.isField() && !r.isField() && l.op.kind == oConst && !l.isNil && r.op.kind != oConst) || (l.isNil && !r.isNil) {
		l, r = r, l
		op = flipped[op]
	}
	nd, err := c.leaf(op, l, r)
	if err != nil {
		return nil, err
	}
	if x.Operator == "!=" {
		return nd.negate(), nil
	}
	return nd, nil
}

func (c *compiler) membership(x *ast.BinaryNode) (*node, error) {
	l, err := c.term(x.Left)
	if err != nil {
		return nil, err
	}
	if arr, ok := x.Right.(*ast.ArrayNode); ok {
		items := make([]operand, 0, len(arr.Nodes))
		allConst := true
		for _, it := range arr.Nodes {
			t, err := c.term(it)
			if err != nil {
				return nil, err
			}
			if t.isField() {
				return nil, c.errAt(it, "a list after `in` cannot hold document fields")
			}
			if t.op.kind != oConst {
				allConst = false
			}
			items = append(items, t.op)
		}
		list := operand{kind: oList, items: items}
		if allConst {
			list = constList(items)
		}
		return c.leaf(opIn, l, term{op: list, n: x.Right})
	}
	r, err := c.term(x.Right)
	if err != nil {
		return nil, err
	}
	switch {
	case l.isField() && r.isField():
		return nil, c.errAt(x, "`in` between two document fields cannot become a MongoDB filter")
	case r.isField():
		// value in resource.array: MongoDB equality matches array elements.
		if l.isNil {
			return nil, c.errAt(x, "`nil in <field>` is not supported; compare the field with nil")
		}
		return c.leaf(opEq, r, l)
	case l.isField():
		// resource.x in user.list
		if r.op.kind == oConst {
			return nil, c.errAt(x.Right, "the right side of `in` must be a list")
		}
		if r.op.kind == oCaller {
			c.e.lists = appendUnique(c.e.lists, r.op.slot)
		}
		return c.leaf(opIn, l, r)
	}
	// Caller-only membership: fold per request. "x in user.roles" is an
	// equality on the elements of the caller's array.
	if r.op.kind == oConst {
		return nil, c.errAt(x.Right, "the right side of `in` must be a list")
	}
	return c.leaf(opEq, r, l)
}

func (c *compiler) stringOp(x *ast.BinaryNode) (*node, error) {
	l, r, err := c.operands(x)
	if err != nil {
		return nil, err
	}
	if r.isField() {
		return nil, c.errAt(x.Right, "the right side of %s must be a literal or a caller value, not a document field", x.Operator)
	}
	if l.isNil || r.isNil {
		return nil, c.errAt(x, "%s needs strings, not nil", x.Operator)
	}
	kind := map[string]rxKind{"startsWith": rxPrefix, "endsWith": rxSuffix, "contains": rxContains, "matches": rxMatches}[x.Operator]
	nd := &node{kind: nLeaf, op: opRegex, rx: kind, arg: r.op}
	switch r.op.kind {
	case oConst:
		s, ok := r.op.val.StringValueOK()
		if !ok {
			return nil, c.errAt(x.Right, "%s needs a string, got %s", x.Operator, r.op.val.Type)
		}
		nd.pat = pattern(kind, s)
		if kind == rxMatches {
			re, err := regexp.Compile(s)
			if err != nil {
				return nil, c.errAt(x.Right, "bad regular expression: %v", err)
			}
			nd.re = re
		}
	case oCaller:
		if kind == rxMatches {
			return nil, c.errAt(x.Right, "matches needs a literal pattern: a pattern from the caller could be anything")
		}
		c.e.strs = appendUnique(c.e.strs, r.op.slot)
	default:
		return nil, c.errAt(x.Right, "%s needs a string", x.Operator)
	}
	if err := c.subject(nd, l, x); err != nil {
		return nil, err
	}
	if !l.isField() && l.op.kind == oConst {
		return foldConst(nd), nil
	}
	return nd, nil
}

// pattern is the MongoDB regex for a literal string operation. Literals are
// escaped, so "a.b" matches a dot, not any character; \z (not $) anchors the
// end, since $ also matches before a final newline.
func pattern(k rxKind, s string) string {
	switch k {
	case rxPrefix:
		return "^" + regexp.QuoteMeta(s)
	case rxSuffix:
		return regexp.QuoteMeta(s) + `\z`
	case rxContains:
		return regexp.QuoteMeta(s)
	}
	return s
}

// subject sets the left side of a leaf.
func (c *compiler) subject(nd *node, l term, at ast.Node) error {
	if l.isField() {
		nd.field = l.field
		nd.fstr = strings.Join(l.field, ".")
		if !c.fieldSet[nd.fstr] {
			c.fieldSet[nd.fstr] = true
			c.e.fields = append(c.e.fields, nd.fstr)
		}
		return nil
	}
	if l.isNil {
		return c.errAt(at, "nil cannot be the subject of this comparison")
	}
	nd.subj = l.op
	return nil
}

// leaf builds a comparison of l (field or caller value or literal) with r.
func (c *compiler) leaf(op opKind, l, r term) (*node, error) {
	nd := &node{kind: nLeaf, op: op}
	if r.op.kind == oDuration || (!l.isField() && l.op.kind == oDuration) {
		return nil, c.errAt(r.n, "a duration can only be added to or subtracted from now")
	}
	if r.isField() {
		return nil, c.errAt(r.n, "comparing two document fields cannot become a MongoDB filter")
	}
	if r.isNil {
		nd.arg = operand{kind: oConst, val: bson.RawValue{Type: bson.TypeNull}}
		// A caller value compared with nil is the one legitimate use of an
		// absent value: it does not make the rule fail closed.
		if !l.isField() && l.op.kind == oCaller {
			c.nilRefs[l.op.slot]++
		}
	} else {
		nd.arg = r.op
	}
	if op >= opLt && op <= opGte {
		if err := c.checkOrderable(r); err != nil {
			return nil, err
		}
	}
	if err := c.subject(nd, l, r.n); err != nil {
		return nil, err
	}
	if !l.isField() && l.op.kind == oConst && nd.arg.kind == oConst {
		if op == opEq && Bracketed(l.op.val) != Bracketed(nd.arg.val) && nd.arg.val.Type != bson.TypeArray && l.op.val.Type != bson.TypeArray {
			return nil, c.errAt(r.n, "compares a %s with a %s: these can never be equal", l.op.val.Type, nd.arg.val.Type)
		}
		return foldConst(nd), nil
	}
	if l.isField() && nd.arg.kind == oConst && op == opEq && nd.arg.val.Type == bson.TypeEmbeddedDocument {
		return nil, c.errAt(r.n, "comparing a field with a map literal is not supported")
	}
	return nd, nil
}

func (c *compiler) checkOrderable(r term) error {
	if r.op.kind != oConst {
		return nil
	}
	switch r.op.val.Type {
	case bson.TypeNull, bson.TypeArray, bson.TypeEmbeddedDocument, bson.TypeBoolean:
		return c.errAt(r.n, "cannot order by a %s: use numbers, strings or dates", r.op.val.Type)
	}
	return nil
}

// operands compiles both sides of a binary operator as values, left first so
// that the error a user sees points at the leftmost bad operand.
func (c *compiler) operands(x *ast.BinaryNode) (l, r term, err error) {
	if l, err = c.term(x.Left); err != nil {
		return l, r, err
	}
	r, err = c.term(x.Right)
	return l, r, err
}

// term compiles a value: a document path, a caller value or a literal.
func (c *compiler) term(n ast.Node) (term, error) {
	t := term{n: n}
	switch x := n.(type) {
	case *ast.NilNode:
		t.isNil = true
		t.op = operand{kind: oConst, val: bson.RawValue{Type: bson.TypeNull}}
		return t, nil
	case *ast.IntegerNode:
		t.op = constInt(int64(x.Value))
		return t, nil
	case *ast.FloatNode:
		t.op = constOf(x.Value)
		return t, nil
	case *ast.StringNode:
		t.op = constOf(x.Value)
		return t, nil
	case *ast.BoolNode:
		t.op = constOf(x.Value)
		return t, nil
	case *ast.UnaryNode:
		if x.Operator == "-" {
			switch v := x.Node.(type) {
			case *ast.IntegerNode:
				t.op = constInt(-int64(v.Value))
				return t, nil
			case *ast.FloatNode:
				t.op = constOf(-v.Value)
				return t, nil
			}
		}
	case *ast.ArrayNode:
		items := make([]operand, 0, len(x.Nodes))
		for _, it := range x.Nodes {
			it2, err := c.term(it)
			if err != nil {
				return t, err
			}
			if it2.isField() || it2.op.kind != oConst {
				return t, c.errAt(it, "list literals used as values may hold only literals")
			}
			items = append(items, it2.op)
		}
		t.op = constList(items)
		return t, nil
	case *ast.IdentifierNode:
		switch x.Value {
		case "now":
			t.op = operand{kind: oNow}
			return t, nil
		case "user", "resource", "doc":
			return t, c.errAt(n, "use a field of %s (for example %s.id), not %s itself", x.Value, x.Value, x.Value)
		}
		return t, c.errAt(n, "unknown variable %q (known: user.*, resource.*, doc.*, now)", x.Value)
	case *ast.BuiltinNode:
		return c.builtin(x)
	case *ast.BinaryNode:
		if x.Operator == "+" || x.Operator == "-" {
			l, r, err := c.operands(x)
			if err != nil {
				return t, err
			}
			if !l.isField() && l.op.kind == oNow && !r.isField() && r.op.kind == oDuration {
				d := r.op.offset
				if x.Operator == "-" {
					d = -d
				}
				t.op = operand{kind: oNow, offset: l.op.offset + d}
				return t, nil
			}
			return t, c.errAt(n, "arithmetic is only supported as now ± duration(\"...\")")
		}
	case *ast.ChainNode:
		return c.term(x.Node)
	case *ast.MemberNode:
		root, path, err := c.path(x)
		if err != nil {
			return t, err
		}
		for i, seg := range path {
			// $-names are only the hierarchy values, and only as user.$name.
			if strings.HasPrefix(seg, "$") && (root != "user" || i != 0 || len(path) != 1) {
				return t, c.errAt(n, "%s can only be used as user.%s", seg, seg)
			}
		}
		switch root {
		case "resource", "doc":
			t.field = path
			return t, nil
		case "user":
			p := strings.Join(path, ".")
			if !knownUser[p] && !(path[0] == "claims" && len(path) > 1) && !isHierarchyVar(p) {
				return t, c.errAt(n, "unknown variable user.%s (known: user.id, user.tenant_id, user.roles, user.claims.*, user.$subordinates, user.$directReports, user.$ancestors)", p)
			}
			slot := c.scope.slot(p)
			c.refs[slot]++
			t.op = operand{kind: oCaller, slot: slot}
			return t, nil
		}
		return t, c.errAt(n, "unknown variable %q (known: user.*, resource.*, doc.*, now)", root)
	}
	return t, c.errAt(n, "this expression cannot become part of a MongoDB filter")
}

func (c *compiler) builtin(x *ast.BuiltinNode) (term, error) {
	t := term{n: x}
	switch x.Name {
	case "now":
		if len(x.Arguments) == 0 {
			t.op = operand{kind: oNow}
			return t, nil
		}
	case "date", "duration":
		if len(x.Arguments) == 1 {
			if s, ok := x.Arguments[0].(*ast.StringNode); ok {
				if x.Name == "duration" {
					d, err := time.ParseDuration(s.Value)
					if err != nil {
						return t, c.errAt(x, "bad duration %q", s.Value)
					}
					t.op = operand{kind: oDuration, offset: d}
					return t, nil
				}
				for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
					if tm, err := time.Parse(layout, s.Value); err == nil {
						t.op = constOf(bson.NewDateTimeFromTime(tm))
						return t, nil
					}
				}
				return t, c.errAt(x, "bad date %q (use RFC 3339 or YYYY-MM-DD)", s.Value)
			}
		}
	}
	return t, c.errAt(x, "function %s(...) is not supported here (supported: now(), date(\"...\"), duration(\"...\"))", x.Name)
}

// path flattens resource.a.b / user.claims.x into its root and segments.
func (c *compiler) path(n ast.Node) (string, []string, error) {
	var segs []string
	cur := n
	for {
		switch x := cur.(type) {
		case *ast.MemberNode:
			s, ok := x.Property.(*ast.StringNode)
			if !ok || x.Method {
				return "", nil, c.errAt(x, "only named fields can be used in a path (no indexes or computed names)")
			}
			if s.Value == "" || strings.ContainsAny(s.Value, ".\x00") || (strings.HasPrefix(s.Value, "$") && !isHierarchyVar(s.Value)) {
				return "", nil, c.errAt(x, "field name %q cannot be used in a path", s.Value)
			}
			segs = append(segs, s.Value)
			cur = x.Node
		case *ast.ChainNode:
			cur = x.Node
		case *ast.IdentifierNode:
			for i, j := 0, len(segs)-1; i < j; i, j = i+1, j-1 {
				segs[i], segs[j] = segs[j], segs[i]
			}
			return x.Value, segs, nil
		default:
			return "", nil, c.errAt(cur, "this expression cannot become part of a MongoDB filter")
		}
	}
}

func constOf(v any) operand {
	t, b, err := bson.MarshalValue(v)
	if err != nil {
		panic(err) // only literal Go values reach here
	}
	return operand{kind: oConst, val: bson.RawValue{Type: t, Value: b}}
}

// constInt keeps small integers int32, as the shell and drivers write them.
func constInt(i int64) operand {
	if i >= math.MinInt32 && i <= math.MaxInt32 {
		return constOf(int32(i))
	}
	return constOf(i)
}

// constList encodes a list of literals as one BSON array.
func constList(items []operand) operand {
	idx, b := bsoncore.AppendArrayStart(nil)
	for i, it := range items {
		b = bsoncore.AppendHeader(b, bsoncore.Type(it.val.Type), strconv.Itoa(i))
		b = append(b, it.val.Value...)
	}
	b, _ = bsoncore.AppendArrayEnd(b, idx)
	return operand{kind: oConst, val: bson.RawValue{Type: bson.TypeArray, Value: b}}
}

// Bracketed is the canonical type bracket of a literal (see mongosem).
func Bracketed(v bson.RawValue) int { return mongosem.Bracket(v.Type) }

func appendUnique(s []int, v int) []int {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}
