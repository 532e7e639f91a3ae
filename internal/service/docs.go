package service

import (
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/policy"
)

// show returns doc as the caller may read it under d, projected on fields
// (nil: all). ok is false when no granting rule matches the document: it must
// then not be shown at all.
//
// The projection is applied in memory, after the field rules, and never sent
// to the database: the rules need the fields their `when` reads to decide
// which roles matched, and projecting a view that already lacks the hidden
// fields cannot reveal anything. This is also why `fields` naming a field the
// caller cannot read silently yields nothing for it (HTTP contract).
func show(d *policy.Decision, doc bson.Raw, fields []string) (bson.Raw, bool, error) {
	v := d.FieldsFor(doc)
	if v == nil {
		return nil, false, nil
	}
	out, err := v.Apply(doc)
	if err != nil {
		return nil, false, apperr.Wrap(apperr.KindInternal, err, "cannot apply field rules")
	}
	if len(fields) > 0 {
		out, err = project(out, fields)
		if err != nil {
			return nil, false, err
		}
	}
	return out, true, nil
}

// idOnly is what a write answers when the caller may not read the document it
// wrote: its _id, which the caller needs to refer to it, and nothing else.
func idOnly(doc bson.Raw) bson.Raw {
	out, _ := bson.Marshal(bson.D{{Key: "_id", Value: doc.Lookup("_id")}})
	return out
}

// project keeps _id and the given (dotted) paths of doc, the way a MongoDB
// inclusion projection does: "a.b" keeps b inside a document a, and inside
// each document element of an array a.
func project(doc bson.Raw, fields []string) (bson.Raw, error) {
	tree := map[string]any{"_id": true}
	for _, f := range fields {
		node := tree
		parts := strings.Split(f, ".")
		for i, p := range parts {
			if i == len(parts)-1 {
				node[p] = true
				break
			}
			next, ok := node[p].(map[string]any)
			if !ok {
				if node[p] == true {
					break // a parent is already kept whole
				}
				next = map[string]any{}
				node[p] = next
			}
			node = next
		}
	}
	d := projectDoc(doc, tree)
	out, err := bson.Marshal(d)
	if err != nil {
		return nil, apperr.Wrap(apperr.KindInternal, err, "cannot project document")
	}
	return out, nil
}

func projectDoc(doc bson.Raw, tree map[string]any) bson.D {
	elems, _ := doc.Elements()
	out := bson.D{}
	for _, e := range elems {
		sel, ok := tree[e.Key()]
		if !ok {
			continue
		}
		if sel == true {
			out = append(out, bson.E{Key: e.Key(), Value: e.Value()})
			continue
		}
		sub := sel.(map[string]any)
		v := e.Value()
		switch v.Type {
		case bson.TypeEmbeddedDocument:
			out = append(out, bson.E{Key: e.Key(), Value: projectDoc(v.Document(), sub)})
		case bson.TypeArray:
			out = append(out, bson.E{Key: e.Key(), Value: projectArray(v.Array(), sub)})
		}
	}
	return out
}

func projectArray(arr bson.RawArray, tree map[string]any) bson.A {
	vals, _ := arr.Values()
	out := bson.A{}
	for _, v := range vals {
		switch v.Type {
		case bson.TypeEmbeddedDocument:
			out = append(out, projectDoc(v.Document(), tree))
		case bson.TypeArray:
			out = append(out, projectArray(v.Array(), tree))
		}
	}
	return out
}

// toD decodes a stored document into a bson.D (nested documents as bson.D).
func toD(raw bson.Raw) (bson.D, error) {
	var d bson.D
	if err := bson.Unmarshal(raw, &d); err != nil {
		return nil, apperr.Wrap(apperr.KindInternal, err, "cannot decode document")
	}
	return d, nil
}

// getPath returns the value at a dotted path through embedded documents.
func getPath(d bson.D, path string) (any, bool) {
	parts := strings.Split(path, ".")
	var cur any = d
	for _, p := range parts {
		doc, ok := cur.(bson.D)
		if !ok {
			return nil, false
		}
		found := false
		for _, e := range doc {
			if e.Key == p {
				cur, found = e.Value, true
				break
			}
		}
		if !found {
			return nil, false
		}
	}
	return cur, true
}

// setPath sets a dotted path, creating missing embedded documents. It
// reports false when a non-document value is in the way.
func setPath(d bson.D, path string, v any) (bson.D, bool) {
	key, rest, nested := strings.Cut(path, ".")
	for i, e := range d {
		if e.Key != key {
			continue
		}
		if !nested {
			d[i].Value = v
			return d, true
		}
		sub, ok := e.Value.(bson.D)
		if !ok {
			return d, false
		}
		sub, ok = setPath(sub, rest, v)
		d[i].Value = sub
		return d, ok
	}
	if !nested {
		return append(d, bson.E{Key: key, Value: v}), true
	}
	sub, ok := setPath(bson.D{}, rest, v)
	return append(d, bson.E{Key: key, Value: sub}), ok
}

// unsetPath removes a dotted path if present.
func unsetPath(d bson.D, path string) bson.D {
	key, rest, nested := strings.Cut(path, ".")
	for i, e := range d {
		if e.Key != key {
			continue
		}
		if !nested {
			return append(d[:i:i], d[i+1:]...)
		}
		if sub, ok := e.Value.(bson.D); ok {
			d[i].Value = unsetPath(sub, rest)
		}
		return d
	}
	return d
}

func isDoc(v any) bool {
	_, ok := v.(bson.D)
	return ok
}
