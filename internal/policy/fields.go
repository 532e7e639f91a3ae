package policy

import (
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
	"strconv"

	"github.com/permission-mongo/permission-mongo/internal/fieldpath"
)

// Vis is how much of a field a caller sees.
type Vis uint8

const (
	// Hidden: removed from results.
	Hidden Vis = iota
	// Masked: shown only through a mask.
	Masked
	// Partial: some of the field's sub-fields are visible, some are not.
	Partial
	// Visible: shown as stored.
	Visible
)

func (v Vis) String() string { return [...]string{"hidden", "masked", "partial", "visible"}[v] }

// covers reports whether rule path r covers path p (p is r or below it),
// whatever index or positional segments p holds (fieldpath.Covers).
func covers(r, p string) bool { return fieldpath.Covers(r, p) }

// below reports whether rule path r names a field strictly below p's.
func below(r, p string) bool { return fieldpath.StrictlyBelow(r, p) }

// vis is one role's view of path p. With residual set, rules strictly below
// p are ignored: the answer is for p's own value when it has no sub-fields
// (a scalar inside an array whose documents the rules talk about).
func (f *FieldRules) vis(p string, residual bool) (Vis, string) {
	if p == "_id" {
		return Visible, ""
	}
	for _, d := range f.Deny {
		if covers(d, p) {
			return Hidden, ""
		}
	}
	partial := false
	if len(f.Allow) > 0 {
		allowed := false
		for _, a := range f.Allow {
			if covers(a, p) {
				allowed = true
			} else if below(a, p) {
				partial = true
			}
		}
		if !allowed {
			if partial && !residual {
				return Partial, ""
			}
			return Hidden, ""
		}
	}
	best := ""
	for m := range f.Mask {
		if covers(m, p) && len(m) > len(best) {
			best = m
		}
	}
	if !residual {
		for _, d := range f.Deny {
			if below(d, p) {
				return Partial, ""
			}
		}
		for m := range f.Mask {
			if below(m, p) {
				return Partial, ""
			}
		}
	}
	if best != "" {
		return Masked, f.Mask[best]
	}
	return Visible, ""
}

// writeDenied reports whether writing p would write a deny_write field:
// p is the field, inside it, or a parent that contains it.
func (f *FieldRules) writeDenied(p string) bool {
	for _, d := range f.DenyWrite {
		if covers(d, p) || covers(p, d) {
			return true
		}
	}
	return false
}

// View is the field rules one document is read with: those of every role
// whose rule matched it, combined so that a field is as visible as the most
// generous of those roles makes it.
type View struct {
	rules []*FieldRules
	masks map[string]Masker
	// rulesBuf backs rules: a view combines the rules of one or two roles
	// far more often than more.
	rulesBuf [2]*FieldRules
}

// Vis is the combined visibility of path p.
func (v *View) Vis(p string) (Vis, string) { return v.vis(p, false) }

func (v *View) vis(p string, residual bool) (Vis, string) {
	best, mask := Hidden, ""
	for _, r := range v.rules {
		x, m := r.vis(p, residual)
		if x == Visible {
			return Visible, ""
		}
		if x == Partial || (x == Masked && best == Hidden) {
			if best != Partial {
				best, mask = x, m
			}
		}
	}
	return best, mask
}

// AllVisible reports whether the view changes nothing.
func (v *View) AllVisible() bool {
	for _, r := range v.rules {
		if len(r.Allow) == 0 && len(r.Deny) == 0 && len(r.Mask) == 0 {
			return true
		}
	}
	return false
}

// Apply returns doc as the view lets it be read: hidden fields removed,
// masked fields masked, at any depth and inside arrays of documents.
func (v *View) Apply(doc bson.Raw) (bson.Raw, error) {
	if v.AllVisible() {
		return doc, nil
	}
	// What is shown is rarely longer than the stored document: sized for
	// it, the copy is one allocation instead of one per doubling.
	out, err := v.applyDoc(make([]byte, 0, len(doc)), doc, "")
	return bson.Raw(out), err
}

func (v *View) applyDoc(dst []byte, doc bson.Raw, prefix string) ([]byte, error) {
	// The checks of doc.Elements(), without building the slice of elements
	// it returns (a third of this function's time, per document shown).
	length, rem, ok := bsoncore.ReadLength(doc)
	if !ok {
		return nil, bsoncore.NewInsufficientBytesError(doc, rem)
	}
	left := int(length) - 4
	idx, dst := bsoncore.AppendDocumentStart(dst)
	for left > 1 {
		var elem bsoncore.Element
		elem, rem, ok = bsoncore.ReadElement(rem)
		left -= len(elem)
		if !ok {
			return nil, bsoncore.NewInsufficientBytesError(doc, rem)
		}
		if err := elem.Validate(); err != nil {
			return nil, err
		}
		e := bson.RawElement(elem)
		key := e.Key()
		p := fieldpath.Join(prefix, key)
		vis, mask := v.vis(p, false)
		val := e.Value()
		switch vis {
		case Hidden:
			continue
		case Visible:
			dst = bsoncore.AppendHeader(dst, bsoncore.Type(val.Type), key)
			dst = append(dst, val.Value...)
		case Masked:
			dst = v.appendMasked(dst, key, v.masks[mask], val)
		case Partial:
			var err error
			dst, err = v.appendPartial(dst, key, p, val)
			if err != nil {
				return nil, err
			}
		}
	}
	return bsoncore.AppendDocumentEnd(dst, idx)
}

// appendMasked masks a value; arrays are masked element by element, so a
// masked list of emails stays a list.
func (v *View) appendMasked(dst []byte, key string, m Masker, val bson.RawValue) []byte {
	if val.Type == bson.TypeArray {
		vals, _ := val.Array().Values()
		aidx, dst2 := bsoncore.AppendArrayElementStart(dst, key)
		for i, e := range vals {
			dst2 = v.appendMasked(dst2, strconv.Itoa(i), m, e)
		}
		dst2, _ = bsoncore.AppendArrayEnd(dst2, aidx)
		return dst2
	}
	mv := maskedValue(m, val)
	dst = bsoncore.AppendHeader(dst, bsoncore.Type(mv.Type), key)
	return append(dst, mv.Value...)
}

func (v *View) appendPartial(dst []byte, key, p string, val bson.RawValue) ([]byte, error) {
	switch val.Type {
	case bson.TypeEmbeddedDocument:
		dst = bsoncore.AppendHeader(dst, bsoncore.TypeEmbeddedDocument, key)
		return v.applyDoc(dst, val.Document(), p)
	case bson.TypeArray:
		return v.appendPartialArray(dst, key, p, val.Array())
	}
	switch vis, mask := v.vis(p, true); vis {
	case Visible:
		dst = bsoncore.AppendHeader(dst, bsoncore.Type(val.Type), key)
		dst = append(dst, val.Value...)
	case Masked:
		dst = v.appendMasked(dst, key, v.masks[mask], val)
	}
	return dst, nil
}

// appendPartialArray applies the rules of field p to each element of an
// array stored at p: documents get p's sub-field rules, arrays (arrays of
// arrays, at any depth) are handled the same way recursively, and scalars
// are judged as p's own value. Elements that end up hidden are dropped and
// the rest renumbered.
func (v *View) appendPartialArray(dst []byte, key, p string, arr bson.RawArray) ([]byte, error) {
	vals, err := arr.Values()
	if err != nil {
		return nil, err
	}
	aidx, dst := bsoncore.AppendArrayElementStart(dst, key)
	n := 0
	for _, e := range vals {
		switch e.Type {
		case bson.TypeEmbeddedDocument:
			dst = bsoncore.AppendHeader(dst, bsoncore.TypeEmbeddedDocument, strconv.Itoa(n))
			if dst, err = v.applyDoc(dst, e.Document(), p); err != nil {
				return nil, err
			}
			n++
			continue
		case bson.TypeArray:
			if dst, err = v.appendPartialArray(dst, strconv.Itoa(n), p, e.Array()); err != nil {
				return nil, err
			}
			n++
			continue
		}
		// A scalar where the rules name sub-fields: judge the value itself.
		switch vis, mask := v.vis(p, true); vis {
		case Visible:
			dst = bsoncore.AppendHeader(dst, bsoncore.Type(e.Type), strconv.Itoa(n))
			dst = append(dst, e.Value...)
			n++
		case Masked:
			dst = v.appendMasked(dst, strconv.Itoa(n), v.masks[mask], e)
			n++
		}
	}
	return bsoncore.AppendArrayEnd(dst, aidx)
}
