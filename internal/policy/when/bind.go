package when

import (
	"math"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/permission-mongo/permission-mongo/internal/mongosem"
)

// Vars gives the caller's values by path below `user.` (principal.Principal
// implements it). The bool is false when the value is absent.
type Vars interface {
	Lookup(path string) (any, bool)
}

// State is what a rule amounts to for one caller.
type State uint8

const (
	// Never: the rule matches no document for this caller.
	Never State = iota
	// Conditional: the rule depends on the document; a filter is needed.
	Conditional
	// Always: the rule matches every document; no filter is needed.
	Always
)

func (s State) String() string {
	return [...]string{"never", "conditional", "always"}[s]
}

type slotState uint8

const (
	unresolved slotState = iota
	present
	absent // missing or null
)

type slotVal struct {
	v  bson.RawValue
	st slotState
}

// Env is one request's caller: its values are looked up and encoded to BSON
// at most once, however many rules use them.
type Env struct {
	scope *Scope
	vars  Vars
	now   bson.DateTime
	vals  []slotVal
}

// NewEnv prepares the caller values of one request.
func NewEnv(scope *Scope, vars Vars, now time.Time) *Env {
	return &Env{scope: scope, vars: vars, now: bson.NewDateTimeFromTime(now), vals: make([]slotVal, len(scope.paths))}
}

// Now is the request time the expressions see.
func (e *Env) Now() time.Time { return e.now.Time() }

func (e *Env) slot(i int) (bson.RawValue, bool) {
	if i >= len(e.vals) {
		// A scope that grew after this Env was made (a reload): resolve late.
		e.vals = append(e.vals, make([]slotVal, i+1-len(e.vals))...)
	}
	sv := &e.vals[i]
	if sv.st == unresolved {
		sv.st = absent
		if e.vars != nil {
			if v, ok := e.vars.Lookup(e.scope.paths[i]); ok && v != nil {
				if rv, ok := encode(v); ok && rv.Type != bson.TypeNull {
					sv.v, sv.st = rv, present
				}
			}
		}
	}
	return sv.v, sv.st == present
}

// encode turns a caller value (as decoded from JSON or set by the server)
// into BSON. Integral float64s stay doubles: MongoDB compares numbers by value.
func encode(v any) (bson.RawValue, bool) {
	var b []byte
	switch x := v.(type) {
	case string:
		return bson.RawValue{Type: bson.TypeString, Value: bsoncore.AppendString(b, x)}, true
	case bool:
		return bson.RawValue{Type: bson.TypeBoolean, Value: bsoncore.AppendBoolean(b, x)}, true
	case int:
		return bson.RawValue{Type: bson.TypeInt64, Value: bsoncore.AppendInt64(b, int64(x))}, true
	case int64:
		return bson.RawValue{Type: bson.TypeInt64, Value: bsoncore.AppendInt64(b, x)}, true
	case float64:
		if math.IsNaN(x) {
			return bson.RawValue{}, false
		}
		return bson.RawValue{Type: bson.TypeDouble, Value: bsoncore.AppendDouble(b, x)}, true
	case []any:
		idx, b := bsoncore.AppendArrayStart(b)
		for i, it := range x {
			ev, ok := encode(it)
			if !ok {
				if it != nil {
					return bson.RawValue{}, false
				}
				ev = bson.RawValue{Type: bson.TypeNull}
			}
			b = bsoncore.AppendHeader(b, bsoncore.Type(ev.Type), strconv.Itoa(i))
			b = append(b, ev.Value...)
		}
		b, _ = bsoncore.AppendArrayEnd(b, idx)
		return bson.RawValue{Type: bson.TypeArray, Value: b}, true
	case nil:
		return bson.RawValue{Type: bson.TypeNull}, true
	case []string:
		idx, b := bsoncore.AppendArrayStart(b)
		for i, s := range x {
			b = bsoncore.AppendStringElement(b, strconv.Itoa(i), s)
		}
		b, _ = bsoncore.AppendArrayEnd(b, idx)
		return bson.RawValue{Type: bson.TypeArray, Value: b}, true
	}
	t, data, err := bson.MarshalValue(v)
	if err != nil {
		return bson.RawValue{}, false
	}
	return bson.RawValue{Type: t, Value: data}, true
}

// callerOK applies fail-closed: every caller value the rule relies on must be
// present, non-null and of the kind the rule needs.
func (x *Expr) callerOK(env *Env) bool {
	for _, s := range x.strict {
		if _, ok := env.slot(s); !ok {
			return false
		}
	}
	for _, s := range x.lists {
		if v, _ := env.slot(s); v.Type != bson.TypeArray {
			return false
		}
	}
	for _, s := range x.strs {
		if v, _ := env.slot(s); v.Type != bson.TypeString {
			return false
		}
	}
	return true
}

// State folds the caller's values into the rule.
func (x *Expr) State(env *Env) State {
	if !x.callerOK(env) {
		return Never
	}
	return state(x.root, env)
}

// foldState folds the kids of an and/or in three-valued logic: the first kid
// in state decisive settles the whole (Never for and, Always for or); else any
// Conditional kid leaves it Conditional, and none leaves it neutral.
func foldState(kids []*node, env *Env, decisive, neutral State) State {
	res := neutral
	for _, k := range kids {
		switch state(k, env) {
		case decisive:
			return decisive
		case Conditional:
			res = Conditional
		}
	}
	return res
}

func state(n *node, env *Env) State {
	switch n.kind {
	case nTrue:
		return Always
	case nFalse:
		return Never
	case nAnd:
		return foldState(n.kids, env, Never, Always)
	case nOr:
		return foldState(n.kids, env, Always, Never)
	}
	if n.field != nil {
		return Conditional
	}
	if matchLeaf(n, nil, env) {
		return Always
	}
	return Never
}

// Match is the in-memory check: does doc satisfy the rule for this caller?
func (x *Expr) Match(doc bson.Raw, env *Env) bool {
	if !x.callerOK(env) {
		return false
	}
	return match(x.root, doc, env)
}

func match(n *node, doc bson.Raw, env *Env) bool {
	switch n.kind {
	case nTrue:
		return true
	case nFalse:
		return false
	case nAnd:
		for _, k := range n.kids {
			if !match(k, doc, env) {
				return false
			}
		}
		return true
	case nOr:
		for _, k := range n.kids {
			if match(k, doc, env) {
				return true
			}
		}
		return false
	}
	return matchLeaf(n, doc, env)
}

func matchLeaf(n *node, doc bson.Raw, env *Env) bool {
	pred, onMissing := n.pred(env)
	var r bool
	if n.field != nil {
		r = mongosem.MatchPath(doc, n.field, pred, onMissing)
	} else if v, ok := operandValue(n.subj, env); ok {
		r = mongosem.MatchValue(v, pred)
	} else {
		r = onMissing
	}
	if n.neg {
		return !r
	}
	return r
}

// pred is the leaf's test of one value, and its answer for a missing value.
func (n *node) pred(env *Env) (mongosem.Pred, bool) {
	arg, _ := operandValue(n.arg, env)
	switch n.op {
	case opEq:
		return mongosem.EqPred(arg), mongosem.IsNullish(arg)
	case opIn:
		vals, _ := bson.RawArray(arg.Value).Values()
		onMissing := false
		for _, v := range vals {
			if mongosem.IsNullish(v) {
				onMissing = true
			}
		}
		return func(v bson.RawValue) bool {
			for _, w := range vals {
				if mongosem.EqPred(w)(v) {
					return true
				}
			}
			return false
		}, onMissing
	case opLt, opLte, opGt, opGte:
		return mongosem.CmpPred([...]string{"", "lt", "lte", "gt", "gte"}[n.op], arg), false
	case opRegex:
		want, _ := arg.StringValueOK()
		return func(v bson.RawValue) bool {
			var s string
			switch v.Type {
			case bson.TypeString:
				s = v.StringValue()
			case bson.TypeSymbol:
				s = v.Symbol()
			default:
				return false
			}
			switch n.rx {
			case rxPrefix:
				return strings.HasPrefix(s, want)
			case rxSuffix:
				return strings.HasSuffix(s, want)
			case rxContains:
				return strings.Contains(s, want)
			}
			return n.re.MatchString(s)
		}, false
	}
	return func(bson.RawValue) bool { return false }, false
}

// operandValue resolves an operand for this request; false when absent.
func operandValue(o operand, env *Env) (bson.RawValue, bool) {
	switch o.kind {
	case oConst:
		return o.val, true
	case oCaller:
		return env.slot(o.slot)
	case oNow:
		var b []byte
		return bson.RawValue{Type: bson.TypeDateTime, Value: bsoncore.AppendDateTime(b, int64(env.now)+o.offset.Milliseconds())}, true
	case oList:
		idx, b := bsoncore.AppendArrayStart(nil)
		for i, it := range o.items {
			v, ok := operandValue(it, env)
			if !ok {
				v = bson.RawValue{Type: bson.TypeNull}
			}
			b = bsoncore.AppendHeader(b, bsoncore.Type(v.Type), strconv.Itoa(i))
			b = append(b, v.Value...)
		}
		b, _ = bsoncore.AppendArrayEnd(b, idx)
		return bson.RawValue{Type: bson.TypeArray, Value: b}, true
	}
	return bson.RawValue{}, false
}

// foldConst evaluates a leaf whose sides are both literals, at load.
func foldConst(n *node) *node {
	if matchLeaf(n, nil, &Env{scope: NewScope()}) {
		return &node{kind: nTrue}
	}
	return &node{kind: nFalse}
}
