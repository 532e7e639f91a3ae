package store

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// FerretDB v1 keeps each document in its SQLite table as one JSON text,
// its "sjson": the values as JSON (numbers, strings, objects, arrays) and
// their BSON types beside them in a schema under the top-level key "$s":
//
//	{"$s": {"p": {"_id": {"t": "objectId"}, "n": {"t": "long"}}, "$k": ["_id", "n"]},
//	 "_id": "6566...", "n": 42}
//
// "$k" gives the field order, "p" each field's type ("t"), with what the
// JSON value cannot say: a nested document's own schema ("$s"), an array's
// item types ("i"), a regex's options ("o"), a binData's subtype ("s"). A
// JSON null is a BSON null whatever the schema says.
//
// decodeSJSON turns that text into the BSON document FerretDB's find
// answers with, byte for byte, so that a list can read documents in the
// same SQL query as their _ids instead of asking FerretDB for each one (a
// find costs FerretDB a few hundred microseconds of CPU: parsing the JSON
// into its own types, then encoding BSON). It is strict: anything FerretDB
// would not have written (an unknown type, a schema field it does not use,
// a repeated key, a number out of its type's range, malformed JSON, a
// string that is not valid UTF-8 or holds a lone surrogate) is an error,
// never a guess, and the caller asks FerretDB instead. Being stricter than
// FerretDB's reader only ever costs a find; the differential test
// (embedded_sjson_test.go) holds it to FerretDB's answers for every type
// FerretDB v1 stores.

// errSJSON is the one error of the decoder: the document is left to FerretDB.
var errSJSON = errors.New("store: stored document not decoded")

// decodeSJSON returns the BSON of the stored document text.
func decodeSJSON(text []byte) ([]byte, error) {
	var d sjsonDecoder
	top, _, err := d.push(text, '{')
	if err != nil {
		return nil, err
	}
	// The schema is a member like the fields; take it out of the list.
	var sch *sjsonSchema
	fields := make([]sjsonMember, 0, len(top))
	for _, m := range top {
		if string(m.name) != "$s" {
			fields = append(fields, m)
			continue
		}
		if sch, err = d.schema(m.value); err != nil {
			return nil, err
		}
	}
	if sch == nil {
		return nil, errSJSON
	}
	return d.appendDocument(make([]byte, 0, len(text)), sch, fields)
}

// sjsonSchema is a document's schema: its keys in order and their types.
type sjsonSchema struct {
	keys  [][]byte
	props []sjsonProp
}

type sjsonProp struct {
	name []byte
	elem *sjsonElem
}

// sjsonElem is one value's entry in a schema.
type sjsonElem struct {
	typ        string
	doc        *sjsonSchema // "$s": an object's schema
	items      []*sjsonElem // "i": an array's items
	hasItems   bool
	options    []byte // "o": a regex's options
	hasOptions bool
	subtype    byte // "s": a binData's subtype
	hasSubtype bool
}

// prop returns the entry of the field name, nil when there is none.
func (s *sjsonSchema) prop(name []byte, guess int) *sjsonElem {
	if guess < len(s.props) && string(s.props[guess].name) == string(name) {
		return s.props[guess].elem
	}
	for _, p := range s.props {
		if string(p.name) == string(name) {
			return p.elem
		}
	}
	return nil
}

// sjsonMember is one member of a JSON object: its name decoded, its value
// as JSON text.
type sjsonMember struct {
	name, value []byte
}

type sjsonDecoder struct {
	// stack holds the entries of the objects and arrays being read, so
	// that nested ones reuse one slice.
	stack []sjsonMember
}

// push reads the entries of the object (open '{', each name once) or
// array (open '[') text onto the stack; pop(base) takes them off. The
// entries stay valid while nested ones are pushed: those only go past them.
func (d *sjsonDecoder) push(text []byte, open byte) (entries []sjsonMember, base int, err error) {
	base = len(d.stack)
	d.stack, err = appendEntries(d.stack, text, open)
	entries = d.stack[base:]
	if err == nil && open == '{' && hasDuplicateName(entries) {
		err = errSJSON
	}
	return entries, base, err
}

func (d *sjsonDecoder) pop(base int) { d.stack = d.stack[:base] }

// schema reads a schema object: "p" and "$k", nothing else.
func (d *sjsonDecoder) schema(text []byte) (*sjsonSchema, error) {
	ms, base, err := d.push(text, '{')
	defer d.pop(base)
	if err != nil {
		return nil, err
	}
	s := &sjsonSchema{}
	for _, m := range ms {
		switch string(m.name) {
		case "p":
			if s.props, err = d.props(m.value); err != nil {
				return nil, err
			}
		case "$k":
			if s.keys, err = d.keys(m.value); err != nil {
				return nil, err
			}
		default:
			return nil, errSJSON
		}
	}
	return s, nil
}

// props reads a schema's "p": an object of entries, each name once.
func (d *sjsonDecoder) props(text []byte) ([]sjsonProp, error) {
	ms, base, err := d.push(text, '{')
	defer d.pop(base)
	if err != nil {
		return nil, err
	}
	props := make([]sjsonProp, len(ms))
	for i, m := range ms {
		props[i].name = m.name
		if props[i].elem, err = d.elem(m.value); err != nil {
			return nil, err
		}
	}
	return props, nil
}

// keys reads a schema's "$k": an array of distinct strings.
func (d *sjsonDecoder) keys(text []byte) ([][]byte, error) {
	items, base, err := d.push(text, '[')
	defer d.pop(base)
	if err != nil {
		return nil, err
	}
	keys := make([][]byte, len(items))
	for i := range items {
		// The name is the decoded string, for hasDuplicateName.
		if items[i].name, err = wholeString(items[i].value); err != nil {
			return nil, err
		}
		keys[i] = items[i].name
	}
	if hasDuplicateName(items) {
		return nil, errSJSON
	}
	return keys, nil
}

// elem reads one schema entry.
func (d *sjsonDecoder) elem(text []byte) (*sjsonElem, error) {
	ms, base, err := d.push(text, '{')
	defer d.pop(base)
	if err != nil {
		return nil, err
	}
	e := &sjsonElem{}
	var hasType bool
	for _, m := range ms {
		switch string(m.name) {
		case "t":
			t, end, err := jsonString(m.value, 0)
			if err != nil || end != len(m.value) {
				return nil, errSJSON
			}
			e.typ, hasType = string(t), true
		case "$s":
			if e.doc, err = d.schema(m.value); err != nil {
				return nil, err
			}
		case "o":
			o, end, err := jsonString(m.value, 0)
			if err != nil || end != len(m.value) {
				return nil, errSJSON
			}
			e.options, e.hasOptions = o, true
		case "s":
			if !isJSONNumber(m.value) {
				return nil, errSJSON
			}
			n, err := strconv.ParseUint(string(m.value), 10, 8)
			if err != nil {
				return nil, errSJSON
			}
			e.subtype, e.hasSubtype = byte(n), true
		case "i":
			if e.items, err = d.elems(m.value); err != nil {
				return nil, err
			}
			e.hasItems = true
		default:
			return nil, errSJSON
		}
	}
	if !hasType {
		return nil, errSJSON
	}
	return e, nil
}

// elems reads an array's "i": an array of entries.
func (d *sjsonDecoder) elems(text []byte) ([]*sjsonElem, error) {
	items, base, err := d.push(text, '[')
	defer d.pop(base)
	if err != nil {
		return nil, err
	}
	out := make([]*sjsonElem, len(items))
	for i := range out {
		if out[i], err = d.elem(items[i].value); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// appendDocument appends the BSON document of fields, in the order of the
// schema's keys: every key once, every field named by a key.
func (d *sjsonDecoder) appendDocument(dst []byte, sch *sjsonSchema, fields []sjsonMember) ([]byte, error) {
	// The keys are distinct (keys), so with as many fields as keys and
	// each key found, every field is used exactly once.
	if len(fields) != len(sch.keys) {
		return nil, errSJSON
	}
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	var err error
	for i, k := range sch.keys {
		v, ok := memberValue(fields, k, i)
		if !ok {
			return nil, errSJSON
		}
		if dst, err = d.appendValue(dst, k, sch.prop(k, i), v); err != nil {
			return nil, err
		}
	}
	return finishDocument(dst, start), nil
}

func finishDocument(dst []byte, start int) []byte {
	dst = append(dst, 0)
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(dst)-start)) //nolint:gosec // G115: a document's size, far below 4 GiB
	return dst
}

// memberValue returns the value of the member named name, looking first at
// index guess (FerretDB writes the fields in the schema's order).
func memberValue(ms []sjsonMember, name []byte, guess int) ([]byte, bool) {
	if guess < len(ms) && string(ms[guess].name) == string(name) {
		return ms[guess].value, true
	}
	for _, m := range ms {
		if string(m.name) == string(name) {
			return m.value, true
		}
	}
	return nil, false
}

// BSON element types written by appendValue.
const (
	bsonDouble    = 0x01
	bsonString    = 0x02
	bsonDocument  = 0x03
	bsonArray     = 0x04
	bsonBinary    = 0x05
	bsonObjectID  = 0x07
	bsonBool      = 0x08
	bsonDate      = 0x09
	bsonNull      = 0x0A
	bsonRegex     = 0x0B
	bsonInt32     = 0x10
	bsonTimestamp = 0x11
	bsonInt64     = 0x12
)

// appendValue appends the BSON element name: the JSON value v of type e.
func (d *sjsonDecoder) appendValue(dst []byte, name []byte, e *sjsonElem, v []byte) ([]byte, error) {
	if string(v) == "null" {
		return appendElementName(dst, bsonNull, name)
	}
	if e == nil {
		return nil, errSJSON
	}
	var err error
	switch e.typ {
	case "object":
		if e.doc == nil {
			return nil, errSJSON
		}
		fields, base, err := d.push(v, '{')
		defer d.pop(base)
		if err != nil {
			return nil, err
		}
		if dst, err = appendElementName(dst, bsonDocument, name); err != nil {
			return nil, err
		}
		if len(fields) == 0 {
			// FerretDB reads an empty object as an empty document
			// whatever its schema lists.
			dst = append(dst, 5, 0, 0, 0, 0)
		} else {
			dst, err = d.appendDocument(dst, e.doc, fields)
		}
		return dst, err
	case "array":
		items, base, err := d.push(v, '[')
		defer d.pop(base)
		// FerretDB refuses an array whose schema has no "i", even an empty one.
		if err != nil || !e.hasItems || len(items) != len(e.items) {
			return nil, errSJSON
		}
		if dst, err = appendElementName(dst, bsonArray, name); err != nil {
			return nil, err
		}
		start := len(dst)
		dst = append(dst, 0, 0, 0, 0)
		var index [20]byte
		for i, it := range items {
			if dst, err = d.appendValue(dst, strconv.AppendInt(index[:0], int64(i), 10), e.items[i], it.value); err != nil {
				return nil, err
			}
		}
		return finishDocument(dst, start), nil
	case "double":
		if !isJSONNumber(v) {
			return nil, errSJSON
		}
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return nil, errSJSON
		}
		if dst, err = appendElementName(dst, bsonDouble, name); err != nil {
			return nil, err
		}
		return binary.LittleEndian.AppendUint64(dst, math.Float64bits(f)), nil
	case "string":
		s, err := wholeString(v)
		if err != nil {
			return nil, err
		}
		if dst, err = appendElementName(dst, bsonString, name); err != nil {
			return nil, err
		}
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(s)+1)) //nolint:gosec // G115: a string within one document
		dst = append(dst, s...)
		return append(dst, 0), nil
	case "binData":
		if !e.hasSubtype {
			return nil, errSJSON
		}
		s, err := wholeString(v)
		if err != nil {
			return nil, err
		}
		b := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
		n, err := base64.StdEncoding.Decode(b, s)
		if err != nil {
			return nil, errSJSON
		}
		if dst, err = appendElementName(dst, bsonBinary, name); err != nil {
			return nil, err
		}
		dst = binary.LittleEndian.AppendUint32(dst, uint32(n)) //nolint:gosec // G115: bytes within one document
		dst = append(dst, e.subtype)
		return append(dst, b[:n]...), nil
	case "objectId":
		s, err := wholeString(v)
		if err != nil || len(s) != 24 {
			return nil, errSJSON
		}
		var id [12]byte
		if _, err := hex.Decode(id[:], s); err != nil {
			return nil, errSJSON
		}
		if dst, err = appendElementName(dst, bsonObjectID, name); err != nil {
			return nil, err
		}
		return append(dst, id[:]...), nil
	case "bool":
		var b byte
		switch string(v) {
		case "true":
			b = 1
		case "false":
		default:
			return nil, errSJSON
		}
		if dst, err = appendElementName(dst, bsonBool, name); err != nil {
			return nil, err
		}
		return append(dst, b), nil
	case "regex":
		if !e.hasOptions {
			return nil, errSJSON
		}
		pattern, err := wholeString(v)
		if err != nil {
			return nil, err
		}
		if dst, err = appendElementName(dst, bsonRegex, name); err != nil {
			return nil, err
		}
		if dst, err = appendCString(dst, pattern); err != nil {
			return nil, err
		}
		return appendCString(dst, e.options)
	case "date", "long":
		n, err := jsonInt(v, 64)
		if err != nil {
			return nil, err
		}
		typ := byte(bsonInt64)
		if e.typ == "date" {
			typ = bsonDate
		}
		if dst, err = appendElementName(dst, typ, name); err != nil {
			return nil, err
		}
		return binary.LittleEndian.AppendUint64(dst, uint64(n)), nil //nolint:gosec // G115: the two's complement is the BSON form
	case "int":
		n, err := jsonInt(v, 32)
		if err != nil {
			return nil, err
		}
		if dst, err = appendElementName(dst, bsonInt32, name); err != nil {
			return nil, err
		}
		return binary.LittleEndian.AppendUint32(dst, uint32(n)), nil //nolint:gosec // G115: in range (jsonInt), two's complement
	case "timestamp":
		if !isJSONNumber(v) {
			return nil, errSJSON
		}
		n, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil {
			return nil, errSJSON
		}
		if dst, err = appendElementName(dst, bsonTimestamp, name); err != nil {
			return nil, err
		}
		return binary.LittleEndian.AppendUint64(dst, n), nil
	}
	// "null" with a value that is not null, or a type this decoder does
	// not know.
	return nil, errSJSON
}

func appendElementName(dst []byte, typ byte, name []byte) ([]byte, error) {
	return appendCString(append(dst, typ), name)
}

// appendCString appends s and its terminating NUL; s must hold none.
func appendCString(dst, s []byte) ([]byte, error) {
	for _, c := range s {
		if c == 0 {
			return nil, errSJSON
		}
	}
	return append(append(dst, s...), 0), nil
}

// jsonInt reads the JSON number v as an integer of bits bits, as
// encoding/json reads it into an int32 or int64 (no fraction, no exponent).
func jsonInt(v []byte, bits int) (int64, error) {
	if !isJSONNumber(v) {
		return 0, errSJSON
	}
	n, err := strconv.ParseInt(string(v), 10, bits)
	if err != nil {
		return 0, errSJSON
	}
	return n, nil
}

// wholeString decodes v, which must be exactly one JSON string.
func wholeString(v []byte) ([]byte, error) {
	s, end, err := jsonString(v, 0)
	if err != nil || end != len(v) {
		return nil, errSJSON
	}
	return s, nil
}

// hasDuplicateName reports whether two members share a name.
func hasDuplicateName(ms []sjsonMember) bool {
	if len(ms) > 32 {
		seen := make(map[string]struct{}, len(ms))
		for _, m := range ms {
			if _, ok := seen[string(m.name)]; ok {
				return true
			}
			seen[string(m.name)] = struct{}{}
		}
		return false
	}
	for i := range ms {
		for j := range i {
			if string(ms[i].name) == string(ms[j].name) {
				return true
			}
		}
	}
	return false
}

// appendEntries appends to dst the entries of the JSON object (open '{')
// or array (open '[', entries without a name) text, with nothing before or
// after it but white space. On an error it still returns dst (with some
// entries maybe), so that a caller can truncate it.
func appendEntries(dst []sjsonMember, text []byte, open byte) ([]sjsonMember, error) {
	closing := byte('}')
	if open == '[' {
		closing = ']'
	}
	i := skipSpace(text, 0)
	if i >= len(text) || text[i] != open {
		return dst, errSJSON
	}
	i = skipSpace(text, i+1)
	if i < len(text) && text[i] == closing {
		return dst, atEnd(text, i+1)
	}
	for {
		var m sjsonMember
		if open == '{' {
			name, end, err := jsonString(text, i)
			if err != nil {
				return dst, err
			}
			i = skipSpace(text, end)
			if i >= len(text) || text[i] != ':' {
				return dst, errSJSON
			}
			i = skipSpace(text, i+1)
			m.name = name
		}
		end, err := skipValue(text, i, 0)
		if err != nil {
			return dst, err
		}
		m.value = text[i:end]
		dst = append(dst, m)
		i = skipSpace(text, end)
		if i >= len(text) {
			return dst, errSJSON
		}
		switch text[i] {
		case ',':
			i = skipSpace(text, i+1)
		case closing:
			return dst, atEnd(text, i+1)
		default:
			return dst, errSJSON
		}
	}
}

func atEnd(text []byte, i int) error {
	if skipSpace(text, i) != len(text) {
		return errSJSON
	}
	return nil
}

func skipSpace(text []byte, i int) int {
	for i < len(text) && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r') {
		i++
	}
	return i
}

// maxDepth bounds the nesting skipValue follows (BSON allows about 100
// levels in 16 MiB; FerretDB refuses deeper documents).
const maxDepth = 200

// skipValue returns the end of the JSON value starting at text[i],
// checking its syntax.
func skipValue(text []byte, i, depth int) (int, error) {
	if i >= len(text) || depth > maxDepth {
		return 0, errSJSON
	}
	switch c := text[i]; c {
	case '"':
		return skipString(text, i)
	case '{', '[':
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		i = skipSpace(text, i+1)
		if i < len(text) && text[i] == closing {
			return i + 1, nil
		}
		for {
			var err error
			if c == '{' {
				if i, err = skipString(text, i); err != nil {
					return 0, err
				}
				i = skipSpace(text, i)
				if i >= len(text) || text[i] != ':' {
					return 0, errSJSON
				}
				i = skipSpace(text, i+1)
			}
			if i, err = skipValue(text, i, depth+1); err != nil {
				return 0, err
			}
			i = skipSpace(text, i)
			if i >= len(text) {
				return 0, errSJSON
			}
			if text[i] == closing {
				return i + 1, nil
			}
			if text[i] != ',' {
				return 0, errSJSON
			}
			i = skipSpace(text, i+1)
		}
	case 't', 'f', 'n':
		for _, lit := range []string{"true", "false", "null"} {
			if len(text)-i >= len(lit) && string(text[i:i+len(lit)]) == lit {
				return i + len(lit), nil
			}
		}
		return 0, errSJSON
	default:
		end := numberEnd(text, i)
		if end < 0 {
			return 0, errSJSON
		}
		return end, nil
	}
}

// isJSONNumber reports whether v is exactly one JSON number.
func isJSONNumber(v []byte) bool {
	return len(v) > 0 && numberEnd(v, 0) == len(v)
}

// numberEnd returns the end of the JSON number at text[i], -1 when there
// is none: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func numberEnd(text []byte, i int) int {
	digits := func(i int) int {
		j := i
		for j < len(text) && text[j] >= '0' && text[j] <= '9' {
			j++
		}
		return j
	}
	if i < len(text) && text[i] == '-' {
		i++
	}
	switch {
	case i < len(text) && text[i] == '0':
		i++
	case i < len(text) && text[i] >= '1' && text[i] <= '9':
		i = digits(i)
	default:
		return -1
	}
	if i < len(text) && text[i] == '.' {
		j := digits(i + 1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(text) && (text[i] == 'e' || text[i] == 'E') {
		i++
		if i < len(text) && (text[i] == '+' || text[i] == '-') {
			i++
		}
		j := digits(i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

// skipString returns the end of the JSON string at text[i] (escapes are
// checked when the string is decoded).
func skipString(text []byte, i int) (int, error) {
	if i >= len(text) || text[i] != '"' {
		return 0, errSJSON
	}
	for i++; i < len(text); i++ {
		switch c := text[i]; {
		case c == '"':
			return i + 1, nil
		case c == '\\':
			i++
		case c < 0x20:
			return 0, errSJSON
		}
	}
	return 0, errSJSON
}

// jsonString decodes the JSON string at text[i] and returns it with its
// end. The text must be valid UTF-8, and a \u escape of a surrogate must
// be one of a pair: encoding/json would put U+FFFD in their place, which
// this decoder leaves to FerretDB.
func jsonString(text []byte, i int) ([]byte, int, error) {
	if i >= len(text) || text[i] != '"' {
		return nil, 0, errSJSON
	}
	start := i + 1
	j := start
	for j < len(text) && text[j] != '"' && text[j] != '\\' && text[j] >= 0x20 {
		j++
	}
	if j < len(text) && text[j] == '"' {
		s := text[start:j]
		if !utf8.Valid(s) {
			return nil, 0, errSJSON
		}
		return s, j + 1, nil
	}
	// Escapes: decode into a new slice.
	out := make([]byte, 0, j-start+16)
	out = append(out, text[start:j]...)
	for j < len(text) {
		c := text[j]
		switch {
		case c == '"':
			if !utf8.Valid(out) {
				return nil, 0, errSJSON
			}
			return out, j + 1, nil
		case c < 0x20:
			return nil, 0, errSJSON
		case c != '\\':
			out = append(out, c)
			j++
			continue
		}
		if j+1 >= len(text) {
			return nil, 0, errSJSON
		}
		switch text[j+1] {
		case '"', '\\', '/':
			out = append(out, text[j+1])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(text, j+2)
			if !ok {
				return nil, 0, errSJSON
			}
			j += 6
			if utf16.IsSurrogate(r) {
				if j+1 >= len(text) || text[j] != '\\' || text[j+1] != 'u' {
					return nil, 0, errSJSON
				}
				low, ok := hex4(text, j+2)
				if !ok {
					return nil, 0, errSJSON
				}
				if r = utf16.DecodeRune(r, low); r == utf8.RuneError {
					return nil, 0, errSJSON
				}
				j += 6
			}
			out = utf8.AppendRune(out, r)
			continue
		default:
			return nil, 0, errSJSON
		}
		j += 2
	}
	return nil, 0, errSJSON
}

// hex4 reads the four hexadecimal digits at text[i].
func hex4(text []byte, i int) (rune, bool) {
	if len(text)-i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range text[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
