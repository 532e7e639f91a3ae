package query

import (
	"encoding/json"
	"errors"
	"io"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/jsonscan"
)

// MaxJSONDepth is the deepest object/array nesting ParseJSONDoc accepts.
// MongoDB itself refuses documents nested deeper than 100 levels; the margin
// leaves room for Extended JSON wrappers such as {"$date": {"$numberLong": ..}}.
// Checking it in a cheap streaming pre-pass keeps hostile bodies away from the
// recursive Extended JSON decoder.
const MaxJSONDepth = 128

// ParseJSONDoc decodes one MongoDB Extended JSON v2 object (relaxed or
// canonical: $oid, $date, $numberDecimal, $numberLong, ...) into a bson.D.
//
// It is stricter than the driver on purpose:
//   - the input must be exactly one JSON object (no trailing data; the driver
//     silently ignores it, which lets two components disagree on the body);
//   - duplicate keys in an object are refused, because different layers
//     (Go maps, the server, other proxies) resolve them differently and that
//     disagreement is a classic way to smuggle a second filter past a check;
//   - the result must be encodable as BSON (no NUL bytes in keys or regexes),
//     so a bad body is a 400 here instead of a 500 later.
func ParseJSONDoc(data []byte) (bson.D, error) {
	if err := prescanJSON(data); err != nil {
		return nil, err
	}
	var d bson.D
	if err := bson.UnmarshalExtJSON(data, false, &d); err != nil {
		// The Extended JSON parser's messages only describe the input
		// (e.g. "invalid $date value string"), never server state.
		return nil, apperr.Wrap(apperr.KindInvalid, err, "malformed Extended JSON: %s", err.Error())
	}
	if d == nil {
		d = bson.D{}
	}
	if _, err := bson.Marshal(d); err != nil {
		return nil, apperr.Wrap(apperr.KindInvalid, err, "document cannot be encoded as BSON: %s", err.Error())
	}
	return d, nil
}

// prescanJSON checks the syntax, the top-level shape, the nesting depth and
// duplicate keys in one streaming pass (jsonscan), which is iterative and
// therefore safe on any input.
func prescanJSON(data []byte) error {
	sc := jsonscan.New(data) // 1e400 is a driver error later, not a float overflow here
	first := true
	for {
		outside := sc.Depth() == 0
		tok, err := sc.Next()
		if errors.Is(err, io.EOF) {
			if first {
				return apperr.Invalid("malformed JSON: empty body, expected an object")
			}
			if sc.Depth() > 0 {
				return apperr.Invalid("malformed JSON: unexpected end of input")
			}
			return nil
		}
		var dup *jsonscan.DuplicateKeyError
		if errors.As(err, &dup) {
			return apperr.Invalid("malformed JSON: duplicate key %q", dup.Key)
		}
		if err != nil {
			return jsonSyntaxError(err)
		}
		if first {
			if d, ok := tok.(json.Delim); !ok || d != '{' {
				return apperr.Invalid("malformed JSON: the top level must be an object")
			}
			first = false
		} else if outside {
			return apperr.Invalid("malformed JSON: unexpected data after the top-level object")
		}
		if sc.Depth() > MaxJSONDepth {
			return apperr.Invalid("malformed JSON: nested deeper than %d levels", MaxJSONDepth)
		}
	}
}

func jsonSyntaxError(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return apperr.Wrap(apperr.KindInvalid, err, "malformed JSON at byte %d: %s", se.Offset, se.Error())
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return apperr.Wrap(apperr.KindInvalid, err, "malformed JSON: unexpected end of input")
	}
	return apperr.Wrap(apperr.KindInvalid, err, "malformed JSON: %s", err.Error())
}
