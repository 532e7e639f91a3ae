// Package cursor implements the opaque pagination cursors of the list
// endpoints: keyset positions (the sort values of the last document of a page
// plus its _id), signed with HMAC-SHA256 and bound to the query they were
// issued for.
//
// A cursor is bound to the caller, the collection, the client filter and the
// sort by mixing a hash of those into the MAC rather than storing them: a
// cursor replayed by another caller or with another filter simply fails to
// verify, and the token does not grow with the filter. The payload is signed,
// not encrypted: it holds only the values of sort fields, which the caller was
// allowed to read unmasked (or it could not have sorted on them), and _id.
//
// Keyset paging is done by the database, with a filter that selects the
// documents strictly after the position in MongoDB's sort order, across BSON
// type brackets (see After). This is what makes paging stable while documents
// are inserted: no offset is ever used.
package cursor

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
)

// version is bumped whenever the token layout changes, so that old tokens
// are refused instead of misread.
const version = 1

// DefaultTTL is how long a cursor stays valid when Codec.TTL is zero.
const DefaultTTL = 24 * time.Hour

// Binding is what a cursor belongs to. Every field takes part in the MAC.
type Binding struct {
	// Caller identifies who asked (principal id and tenant).
	Caller string
	// Collection is the collection listed.
	Collection string
	// Filter is the client's filter, as canonical BSON (nil for none).
	Filter bson.Raw
	// Sort is the full sort, _id tie-breaker included.
	Sort bson.D
}

func (b Binding) hash() []byte {
	h := sha256.New()
	// Length-prefixed parts: no two different bindings concatenate alike.
	for _, part := range [][]byte{[]byte(b.Caller), []byte(b.Collection), b.Filter} {
		var n [8]byte
		l := uint64(len(part))
		for i := range n {
			n[i] = byte(l >> (8 * i))
		}
		h.Write(n[:])
		h.Write(part)
	}
	var buf [128]byte
	h.Write(appendSort(buf[:0], b.Sort))
	return h.Sum(nil)
}

// appendSort appends the sort as bson.Marshal encodes it. The directions
// the query parser produces (Go ints of ±1) are written directly; anything
// else goes through the driver, whose bytes these must equal (the MAC of
// every cursor issued before depends on them).
func appendSort(dst []byte, sort bson.D) []byte {
	if sort == nil {
		return marshalSort(dst, sort) // the driver refuses a nil bson.D: no bytes
	}
	start := len(dst)
	idx, dst := bsoncore.AppendDocumentStart(dst)
	for _, e := range sort {
		var v int64
		switch x := e.Value.(type) {
		case int:
			v = int64(x)
		case int32:
			v = int64(x)
		default:
			return marshalSort(dst[:start], sort)
		}
		if v < math.MinInt32 || v > math.MaxInt32 || strings.IndexByte(e.Key, 0) >= 0 {
			return marshalSort(dst[:start], sort)
		}
		dst = bsoncore.AppendInt32Element(dst, e.Key, int32(v))
	}
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

func marshalSort(dst []byte, sort bson.D) []byte {
	b, _ := bson.Marshal(sort) // on error nothing, as before: such a sort is refused upstream
	return append(dst, b...)
}

// Codec signs and verifies cursors. It is safe for concurrent use.
type Codec struct {
	key []byte
	// TTL is how long a cursor is accepted after it was issued.
	TTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Order is the connected backend's sort order (OrderOf).
	Order
}

// NewCodec returns a Codec signing with secret (at least 32 bytes is what
// config.Validate enforces).
func NewCodec(secret []byte) *Codec {
	return &Codec{key: append([]byte(nil), secret...)}
}

func (c *Codec) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// token is the signed payload: the BSON document {v: int32 version, e:
// int64 expiry in Unix seconds, p: position document {"0": v0, "1": v1, ...}
// where a missing key means "field missing", n: int32 number of sort keys},
// written by appendToken and read by parseToken.
type token struct {
	V   int32
	Exp int64
	Pos bson.Raw
	N   int32
}

// parseToken reads a token, each field of the type appendToken writes (the
// driver's reflection cost a dozen allocations per next page).
func parseToken(payload []byte) (token, error) {
	doc := bson.Raw(payload)
	if err := doc.Validate(); err != nil {
		return token{}, err
	}
	field := func(key string, typ bson.Type) (bson.RawValue, error) {
		v, err := doc.LookupErr(key)
		if err != nil || v.Type != typ {
			return v, fmt.Errorf("token field %q missing or not %s", key, typ)
		}
		return v, nil
	}
	var t token
	v, err := field("v", bson.TypeInt32)
	if err != nil {
		return t, err
	}
	t.V = v.Int32()
	if v, err = field("e", bson.TypeInt64); err != nil {
		return t, err
	}
	t.Exp = v.Int64()
	if v, err = field("p", bson.TypeEmbeddedDocument); err != nil {
		return t, err
	}
	t.Pos = v.Document()
	if v, err = field("n", bson.TypeInt32); err != nil {
		return t, err
	}
	t.N = v.Int32()
	return t, nil
}

// Encode returns the cursor for position p (one value per sort key, see
// PositionOf).
//
// The payload is written as raw BSON, byte for byte what bson.Marshal of a
// token writes (TestEncodeMatchesMarshal): the driver's reflection cost more
// than the rest of a list's cursor.
func (c *Codec) Encode(b Binding, p Position) (string, error) {
	ttl := c.TTL
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	var buf [256]byte
	payload, err := appendToken(buf[:0], c.now().Add(ttl).Unix(), p)
	if err != nil {
		return "", apperr.Wrap(apperr.KindInternal, err, "cannot encode cursor")
	}
	var macBuf [sha256.Size]byte
	mac := c.appendMAC(macBuf[:0], b, payload)
	enc := base64.RawURLEncoding
	out := make([]byte, 0, enc.EncodedLen(len(payload))+1+enc.EncodedLen(len(mac)))
	out = enc.AppendEncode(out, payload)
	out = append(out, '.')
	out = enc.AppendEncode(out, mac)
	return string(out), nil
}

// appendToken appends the token {v, e, p, n} for position p expiring at exp
// (Unix seconds).
func appendToken(dst []byte, exp int64, p Position) ([]byte, error) {
	idx, dst := bsoncore.AppendDocumentStart(dst)
	dst = bsoncore.AppendInt32Element(dst, "v", version)
	dst = bsoncore.AppendInt64Element(dst, "e", exp)
	pidx, dst := bsoncore.AppendDocumentElementStart(dst, "p")
	var key [20]byte
	for i, v := range p.Values {
		if p.Missing[i] {
			continue
		}
		if !v.Type.IsValid() {
			return nil, fmt.Errorf("sort value %d has invalid BSON type %#x", i, byte(v.Type))
		}
		dst = bsoncore.AppendHeader(dst, bsoncore.Type(v.Type), string(strconv.AppendInt(key[:0], int64(i), 10)))
		dst = append(dst, v.Value...)
	}
	dst, err := bsoncore.AppendDocumentEnd(dst, pidx)
	if err != nil {
		return nil, err
	}
	dst = bsoncore.AppendInt32Element(dst, "n", int32(len(p.Values)))
	return bsoncore.AppendDocumentEnd(dst, idx)
}

func (c *Codec) mac(b Binding, payload []byte) []byte {
	return c.appendMAC(nil, b, payload)
}

func (c *Codec) appendMAC(dst []byte, b Binding, payload []byte) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write(b.hash())
	m.Write(payload)
	return m.Sum(dst)
}

// errInvalid is the one answer to every bad cursor: saying which check failed
// would help someone forging them.
func errInvalid(cause error) error {
	return apperr.Wrap(apperr.KindInvalidCursor, cause, "cursor is invalid, expired, or belongs to another query")
}

// Decode verifies s for binding b and returns its position. Every failure is
// apperr.KindInvalidCursor.
func (c *Codec) Decode(s string, b Binding) (Position, error) {
	if len(s) > 16<<10 {
		return Position{}, errInvalid(errors.New("cursor too long"))
	}
	p64, m64, ok := strings.Cut(s, ".")
	if !ok {
		return Position{}, errInvalid(errors.New("no separator"))
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(p64)
	mac, err2 := base64.RawURLEncoding.DecodeString(m64)
	if err1 != nil || err2 != nil {
		return Position{}, errInvalid(errors.New("bad base64"))
	}
	if !hmac.Equal(mac, c.mac(b, payload)) {
		return Position{}, errInvalid(errors.New("bad mac"))
	}
	// Only signed bytes are parsed from here on.
	t, err := parseToken(payload)
	if err != nil {
		return Position{}, errInvalid(err)
	}
	if t.V != version {
		return Position{}, errInvalid(errors.New("bad version"))
	}
	if c.now().Unix() > t.Exp {
		return Position{}, errInvalid(errors.New("expired"))
	}
	if int(t.N) != len(b.Sort) {
		return Position{}, errInvalid(errors.New("sort length mismatch"))
	}
	p := Position{Values: make([]bson.RawValue, t.N), Missing: make([]bool, t.N)}
	for i := range p.Values {
		v, err := t.Pos.LookupErr(strconv.Itoa(i))
		if err != nil {
			p.Missing[i] = true
			continue
		}
		p.Values[i] = v
	}
	return p, nil
}
