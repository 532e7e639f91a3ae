package api

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"math"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
)

// appendExtJSON appends doc as relaxed Extended JSON v2 with <, > and &
// escaped: byte for byte what bson.MarshalExtJSON(doc, false, true) writes
// (extjson_test.go compares the two, and a fuzz target keeps them equal).
//
// It walks the raw BSON and writes into dst, where the driver copies the
// document through its value reader and writer, one formatted string per
// value: that was about an eighth of the CPU of a list of 20 (issue 13).
// Anything it does not expect (a malformed document, the deprecated types
// no server returns today) is handed to the driver instead, so the output is
// the driver's in every case.
func appendExtJSON(dst []byte, doc bson.Raw) ([]byte, error) {
	start := len(dst)
	if out, ok := appendRawContainer(dst, doc, false); ok {
		return out, nil
	}
	b, err := bson.MarshalExtJSON(doc, false, true)
	if err != nil {
		return dst[:start], apperr.Wrap(apperr.KindInternal, err, "cannot encode document")
	}
	return append(dst[:start], b...), nil
}

// appendRawContainer writes the document (or, with array, the array) that
// fills all of d; ok is false when d is not exactly one well-formed document.
func appendRawContainer(dst []byte, d []byte, array bool) ([]byte, bool) {
	if len(d) < 5 || int(le32(d)) != len(d) || d[len(d)-1] != 0 {
		return dst, false
	}
	open, close := byte('{'), byte('}')
	if array {
		open, close = '[', ']'
	}
	dst = append(dst, open)
	pos, end := 4, len(d)-1
	first := true
	for pos < end {
		t := d[pos]
		pos++
		k := pos
		for pos < end && d[pos] != 0 {
			pos++
		}
		if pos >= end {
			return dst, false
		}
		key := d[k:pos]
		pos++
		if !first {
			dst = append(dst, ',')
		}
		first = false
		if !array {
			dst = appendJSONString(dst, key)
			dst = append(dst, ':')
		}
		var ok bool
		dst, pos, ok = appendRawValue(dst, t, d[:end], pos)
		if !ok {
			return dst, false
		}
	}
	return append(dst, close), true
}

// appendRawValue writes the value of type t at d[pos:] and returns the
// position after it.
func appendRawValue(dst []byte, t byte, d []byte, pos int) ([]byte, int, bool) {
	rest := len(d) - pos
	switch bson.Type(t) {
	case bson.TypeDouble:
		if rest < 8 {
			return dst, pos, false
		}
		f := math.Float64frombits(binary.LittleEndian.Uint64(d[pos:]))
		return appendDouble(dst, f), pos + 8, true
	case bson.TypeString, bson.TypeJavaScript:
		s, next, ok := rawString(d, pos)
		if !ok {
			return dst, pos, false
		}
		if bson.Type(t) == bson.TypeJavaScript {
			dst = append(dst, `{"$code":`...)
			dst = appendJSONString(dst, s)
			return append(dst, '}'), next, true
		}
		return appendJSONString(dst, s), next, true
	case bson.TypeEmbeddedDocument, bson.TypeArray:
		if rest < 5 {
			return dst, pos, false
		}
		n := int(le32(d[pos:]))
		if n < 5 || n > rest {
			return dst, pos, false
		}
		out, ok := appendRawContainer(dst, d[pos:pos+n], bson.Type(t) == bson.TypeArray)
		return out, pos + n, ok
	case bson.TypeBinary:
		if rest < 5 {
			return dst, pos, false
		}
		n := int(le32(d[pos:]))
		sub := d[pos+4]
		p := pos + 5
		if n < 0 || n > len(d)-p {
			return dst, pos, false
		}
		if sub == 0x02 {
			// The old binary subtype nests a second length; leave its
			// quirks to the driver.
			return dst, pos, false
		}
		data := d[p : p+n]
		dst = append(dst, `{"$binary":{"base64":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, data)
		dst = append(dst, `","subType":"`...)
		dst = append(dst, hexDigits[sub>>4], hexDigits[sub&0xF])
		return append(dst, `"}}`...), p + n, true
	case bson.TypeObjectID:
		if rest < 12 {
			return dst, pos, false
		}
		dst = append(dst, `{"$oid":"`...)
		dst = hex.AppendEncode(dst, d[pos:pos+12])
		return append(dst, `"}`...), pos + 12, true
	case bson.TypeBoolean:
		if rest < 1 || d[pos] > 1 {
			return dst, pos, false
		}
		if d[pos] == 1 {
			return append(dst, "true"...), pos + 1, true
		}
		return append(dst, "false"...), pos + 1, true
	case bson.TypeDateTime:
		if rest < 8 {
			return dst, pos, false
		}
		return appendDateTime(dst, le64(d[pos:])), pos + 8, true
	case bson.TypeNull:
		return append(dst, "null"...), pos, true
	case bson.TypeRegex:
		p := pos
		for p < len(d) && d[p] != 0 {
			p++
		}
		o := p + 1
		q := o
		for q < len(d) && d[q] != 0 {
			q++
		}
		if q >= len(d) {
			return dst, pos, false
		}
		dst = append(dst, `{"$regularExpression":{"pattern":`...)
		dst = appendJSONString(dst, d[pos:p])
		dst = append(dst, `,"options":`...)
		dst = appendJSONString(dst, sortedOptions(d[o:q]))
		return append(dst, `}}`...), q + 1, true
	case bson.TypeInt32:
		if rest < 4 {
			return dst, pos, false
		}
		return strconv.AppendInt(dst, int64(le32(d[pos:])), 10), pos + 4, true
	case bson.TypeTimestamp:
		if rest < 8 {
			return dst, pos, false
		}
		dst = append(dst, `{"$timestamp":{"t":`...)
		dst = strconv.AppendUint(dst, uint64(binary.LittleEndian.Uint32(d[pos+4:])), 10)
		dst = append(dst, `,"i":`...)
		dst = strconv.AppendUint(dst, uint64(binary.LittleEndian.Uint32(d[pos:])), 10)
		return append(dst, `}}`...), pos + 8, true
	case bson.TypeInt64:
		if rest < 8 {
			return dst, pos, false
		}
		return strconv.AppendInt(dst, le64(d[pos:]), 10), pos + 8, true
	case bson.TypeDecimal128:
		if rest < 16 {
			return dst, pos, false
		}
		l := binary.LittleEndian.Uint64(d[pos:])
		h := binary.LittleEndian.Uint64(d[pos+8:])
		dst = append(dst, `{"$numberDecimal":"`...)
		dst = append(dst, bson.NewDecimal128(h, l).String()...)
		return append(dst, `"}`...), pos + 16, true
	case bson.TypeMinKey:
		return append(dst, `{"$minKey":1}`...), pos, true
	case bson.TypeMaxKey:
		return append(dst, `{"$maxKey":1}`...), pos, true
	}
	// Undefined, DBPointer, Symbol, code with scope: deprecated, written
	// by the driver.
	return dst, pos, false
}

// rawString reads a BSON string (int32 length including the NUL, bytes, NUL).
func rawString(d []byte, pos int) ([]byte, int, bool) {
	if len(d)-pos < 4 {
		return nil, pos, false
	}
	n := int(le32(d[pos:]))
	p := pos + 4
	if n <= 0 || n > len(d)-p || d[p+n-1] != 0 {
		return nil, pos, false
	}
	return d[p : p+n-1], p + n, true
}

// appendDouble writes a double as the driver's relaxed form does: the
// shortest 'G' form, ".0" added to an integral value, and the non-finite
// values as {"$numberDouble": ...}.
func appendDouble(dst []byte, f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return append(dst, `{"$numberDouble":"Infinity"}`...)
	case math.IsInf(f, -1):
		return append(dst, `{"$numberDouble":"-Infinity"}`...)
	case math.IsNaN(f):
		return append(dst, `{"$numberDouble":"NaN"}`...)
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, 'G', -1, 64)
	for _, c := range dst[start:] {
		if c == 'E' || c == '.' {
			return dst
		}
	}
	return append(dst, ".0"...)
}

// rfc3339Millis is the driver's relaxed date layout.
const rfc3339Millis = "2006-01-02T15:04:05.999Z07:00"

func appendDateTime(dst []byte, ms int64) []byte {
	t := time.Unix(ms/1e3, ms%1e3*1e6).UTC()
	if y := t.Year(); y < 1970 || y > 9999 {
		dst = append(dst, `{"$date":{"$numberLong":"`...)
		dst = strconv.AppendInt(dst, ms, 10)
		return append(dst, `"}}`...)
	}
	dst = append(dst, `{"$date":"`...)
	dst = t.AppendFormat(dst, rfc3339Millis)
	return append(dst, `"}`...)
}

// sortedOptions orders regex options by code point, as the driver does.
func sortedOptions(o []byte) []byte {
	sorted := true
	for i := 1; i < len(o); i++ {
		if o[i] < o[i-1] || o[i] >= utf8.RuneSelf {
			sorted = false
			break
		}
	}
	if sorted && (len(o) == 0 || o[0] < utf8.RuneSelf) {
		return o
	}
	r := []rune(string(o))
	sort.Slice(r, func(i, j int) bool { return r[i] < r[j] })
	return []byte(string(r))
}

const hexDigits = "0123456789abcdef"

// jsonSafe marks the ASCII bytes written as they are: printable, and not
// ", \, <, > or &.
var jsonSafe = func() (s [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		s[b] = true
	}
	for _, b := range []byte{'"', '\\', '<', '>', '&'} {
		s[b] = false
	}
	return s
}()

// appendJSONString writes s quoted, escaped like the driver's writer with
// HTML escaping: invalid UTF-8 as \ufffd, U+2028 and U+2029 escaped.
func appendJSONString(dst []byte, s []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if jsonSafe[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRune(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// le32 and le64 read little-endian signed integers, as BSON stores them.
func le32(b []byte) int32 {
	return int32(b[0]) | int32(b[1])<<8 | int32(b[2])<<16 | int32(b[3])<<24
}

func le64(b []byte) int64 {
	return int64(le32(b))&0xffffffff | int64(le32(b[4:]))<<32
}
