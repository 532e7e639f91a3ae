package permissionmongo

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The server speaks MongoDB Extended JSON v2 (relaxed). This file maps the
// wrappers that matter to Go types without pulling in a BSON library:
// ObjectID, Date (time.Time), Decimal, and Doc, a map that decodes every
// wrapper it meets.

// M is a document or filter to send: map[string]any with time.Time values
// sent as dates.
type M = map[string]any

// A is a list (a pipeline, $in values, ...).
type A = []any

// ObjectID is a MongoDB ObjectId, its 24 hex digits. It is sent as
// {"$oid": "..."} and decoded from that form (or from a plain string).
type ObjectID string

var hex24 = regexp.MustCompile(`^[0-9a-fA-F]{24}$`)

// ParseObjectID checks s is 24 hex digits.
func ParseObjectID(s string) (ObjectID, error) {
	if !hex24.MatchString(s) {
		return "", fmt.Errorf("permission-mongo: %q is not an ObjectId (24 hex digits)", s)
	}
	return ObjectID(strings.ToLower(s)), nil
}

// String is the hex form, which is also the id used in URLs.
func (o ObjectID) String() string { return string(o) }

// MarshalJSON writes {"$oid": "..."}.
func (o ObjectID) MarshalJSON() ([]byte, error) {
	if !hex24.MatchString(string(o)) {
		return nil, fmt.Errorf("permission-mongo: %q is not an ObjectId", string(o))
	}
	return json.Marshal(map[string]string{"$oid": string(o)})
}

// UnmarshalJSON reads {"$oid": "..."} or a plain string.
func (o *ObjectID) UnmarshalJSON(b []byte) error {
	var w struct {
		OID *string `json:"$oid"`
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*o = ObjectID(s)
		return nil
	}
	if err := json.Unmarshal(b, &w); err != nil || w.OID == nil {
		return fmt.Errorf("permission-mongo: expected {\"$oid\": ...}, got %s", truncate(b))
	}
	*o = ObjectID(*w.OID)
	return nil
}

// Date is a BSON date: sent as {"$date": "RFC 3339, milliseconds, UTC"},
// decoded from any relaxed or canonical $date form.
type Date struct{ time.Time }

// MarshalJSON writes {"$date": ...}.
func (d Date) MarshalJSON() ([]byte, error) { return json.Marshal(dateValue(d.Time)) }

// UnmarshalJSON reads {"$date": "..."} / {"$date": {"$numberLong": "..."}}.
func (d *Date) UnmarshalJSON(b []byte) error {
	v, err := decodeValue(b)
	if err != nil {
		return err
	}
	t, ok := v.(time.Time)
	if !ok {
		return fmt.Errorf("permission-mongo: expected {\"$date\": ...}, got %s", truncate(b))
	}
	d.Time = t
	return nil
}

// Decimal is a decimal128 value, kept as its text.
type Decimal string

// MarshalJSON writes {"$numberDecimal": "..."}.
func (d Decimal) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"$numberDecimal": string(d)})
}

// UnmarshalJSON reads {"$numberDecimal": "..."}.
func (d *Decimal) UnmarshalJSON(b []byte) error {
	var w struct {
		V *string `json:"$numberDecimal"`
	}
	if err := json.Unmarshal(b, &w); err != nil || w.V == nil {
		return fmt.Errorf("permission-mongo: expected {\"$numberDecimal\": ...}, got %s", truncate(b))
	}
	*d = Decimal(*w.V)
	return nil
}

func dateValue(t time.Time) any {
	t = t.UTC()
	if t.Year() >= 1970 && t.Year() <= 9999 {
		return map[string]string{"$date": t.Truncate(time.Millisecond).Format("2006-01-02T15:04:05.000Z07:00")}
	}
	return map[string]any{"$date": map[string]string{"$numberLong": strconv.FormatInt(t.UnixMilli(), 10)}}
}

// Doc is a decoded document: Extended JSON wrappers become ObjectID,
// time.Time, int64 ($numberLong and integral numbers), float64, Decimal,
// []byte ($binary) and nested Doc / []any. Other wrappers stay maps.
type Doc map[string]any

// UnmarshalJSON decodes the wrappers (see Doc).
func (d *Doc) UnmarshalJSON(b []byte) error {
	v, err := decodeValue(b)
	if err != nil {
		return err
	}
	m, ok := v.(Doc)
	if !ok {
		return fmt.Errorf("permission-mongo: expected a document, got %s", truncate(b))
	}
	*d = m
	return nil
}

// MarshalJSON sends the document back with the same wrappers.
func (d Doc) MarshalJSON() ([]byte, error) { return json.Marshal(encodeValue(map[string]any(d))) }

// ID returns the document's _id as the text used in URLs.
func (d Doc) ID() string {
	switch v := d["_id"].(type) {
	case ObjectID:
		return string(v)
	case string:
		return v
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

func decodeValue(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return nil, err
	}
	return convert(raw), nil
}

func convert(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 1 {
			for k, w := range x {
				if strings.HasPrefix(k, "$") {
					if out, ok := wrapper(k, w); ok {
						return out
					}
				}
			}
		}
		out := make(Doc, len(x))
		for k, w := range x {
			out[k] = convert(w)
		}
		return out
	case []any:
		for i := range x {
			x[i] = convert(x[i])
		}
		return x
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	default:
		return v
	}
}

func wrapper(k string, w any) (any, bool) {
	switch k {
	case "$oid":
		if s, ok := w.(string); ok && hex24.MatchString(s) {
			return ObjectID(s), true
		}
	case "$date":
		switch d := w.(type) {
		case string:
			if t, err := time.Parse(time.RFC3339Nano, d); err == nil {
				return t.UTC(), true
			}
		case map[string]any:
			if s, ok := d["$numberLong"].(string); ok && len(d) == 1 {
				if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
					return time.UnixMilli(ms).UTC(), true
				}
			}
		case json.Number:
			if ms, err := d.Int64(); err == nil {
				return time.UnixMilli(ms).UTC(), true
			}
		}
	case "$numberLong", "$numberInt":
		if s, ok := w.(string); ok {
			if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				return i, true
			}
		}
	case "$numberDouble":
		if s, ok := w.(string); ok {
			if f, err := strconv.ParseFloat(s, 64); err == nil {
				return f, true
			}
		}
	case "$numberDecimal":
		if s, ok := w.(string); ok {
			return Decimal(s), true
		}
	case "$binary":
		if m, ok := w.(map[string]any); ok {
			if s, ok := m["base64"].(string); ok {
				if raw, err := base64Decode(s); err == nil {
					return raw, true
				}
			}
		}
	}
	return nil, false
}

// encodeValue turns time.Time (and []byte, non-finite floats) inside maps
// and slices into their Extended JSON wrappers; other values are left to
// encoding/json (ObjectID, Date and Decimal marshal themselves).
func encodeValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, w := range x {
			out[k] = encodeValue(w)
		}
		return out
	case Doc:
		return encodeValue(map[string]any(x))
	case []any:
		out := make([]any, len(x))
		for i, w := range x {
			out[i] = encodeValue(w)
		}
		return out
	case []map[string]any:
		out := make([]any, len(x))
		for i, w := range x {
			out[i] = encodeValue(w)
		}
		return out
	case time.Time:
		return dateValue(x)
	case *time.Time:
		if x == nil {
			return nil
		}
		return dateValue(*x)
	case []byte:
		return map[string]any{"$binary": map[string]string{"base64": base64Encode(x), "subType": "00"}}
	case float64:
		switch {
		case math.IsNaN(x):
			return map[string]string{"$numberDouble": "NaN"}
		case math.IsInf(x, 1):
			return map[string]string{"$numberDouble": "Infinity"}
		case math.IsInf(x, -1):
			return map[string]string{"$numberDouble": "-Infinity"}
		}
		return x
	default:
		return v
	}
}

func truncate(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "..."
	}
	return string(b)
}

func base64Encode(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func base64Decode(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }
