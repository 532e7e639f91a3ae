package when

import (
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// AppendFilter appends the rule's MongoDB filter document for this caller to
// dst. Call it only when State(env) is Conditional; the parts of the rule that
// the caller's values decide are folded away, not emitted.
func (x *Expr) AppendFilter(dst []byte, env *Env) []byte {
	return appendNode(dst, x.root, env)
}

// NeverFilter is a filter no stored document matches (every document has an _id).
func NeverFilter() bson.Raw {
	return bson.Raw(bsoncore.NewDocumentBuilder().
		AppendDocument("_id", bsoncore.NewDocumentBuilder().AppendArray("$in", bsoncore.NewArrayBuilder().Build()).Build()).
		Build())
}

func appendNode(dst []byte, n *node, env *Env) []byte {
	if n.kind == nLeaf {
		return appendLeaf(dst, n, env)
	}
	// and / or: keep only the children that still depend on the document.
	var only *node
	count := 0
	for _, k := range n.kids {
		if state(k, env) == Conditional {
			only = k
			count++
		}
	}
	if count == 1 {
		return appendNode(dst, only, env)
	}
	key := "$and"
	if n.kind == nOr {
		key = "$or"
	}
	idx, dst := bsoncore.AppendDocumentStart(dst)
	aidx, dst := bsoncore.AppendArrayElementStart(dst, key)
	i := 0
	for _, k := range n.kids {
		if state(k, env) != Conditional {
			continue
		}
		dst = bsoncore.AppendHeader(dst, bsoncore.TypeEmbeddedDocument, strconv.Itoa(i))
		dst = appendNode(dst, k, env)
		i++
	}
	dst, _ = bsoncore.AppendArrayEnd(dst, aidx)
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

// appendLeaf writes {field: {op: value}}, negated as {$ne}, {$nin} or {$not: {...}}.
// Equality is always written with $eq so that a caller value that happens to
// be a document with $-keys stays a value, never an operator.
func appendLeaf(dst []byte, n *node, env *Env) []byte {
	arg, _ := operandValue(n.arg, env)
	idx, dst := bsoncore.AppendDocumentStart(dst)
	fidx, dst := bsoncore.AppendDocumentElementStart(dst, n.fstr)
	op := opNames[n.op]
	negWrap := false
	if n.neg {
		if neg := negNames[n.op]; neg != "" {
			op = neg
		} else {
			negWrap = true
		}
	}
	var nidx int32
	if negWrap {
		nidx, dst = bsoncore.AppendDocumentElementStart(dst, "$not")
	}
	if n.op == opRegex {
		pat := n.pat
		if n.arg.kind != oConst {
			s, _ := arg.StringValueOK()
			pat = pattern(n.rx, s)
		}
		dst = bsoncore.AppendStringElement(dst, "$regex", pat)
	} else {
		dst = bsoncore.AppendHeader(dst, bsoncore.Type(arg.Type), op)
		dst = append(dst, arg.Value...)
	}
	if negWrap {
		dst, _ = bsoncore.AppendDocumentEnd(dst, nidx)
	}
	dst, _ = bsoncore.AppendDocumentEnd(dst, fidx)
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}
