package principal

import (
	"encoding/json"
	"errors"
	"math"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// ErrClaimValue is returned for a claim value that has no representation
// policies can compare: a JSON number outside float64's range.
var ErrClaimValue = errors.New("claim value out of range")

// NormalizeClaims converts claims, however they were decoded, to the types
// Principal documents. Claims reach a principal four ways — a JWT decoded
// with json.Number, a key's principal in a request body decoded as BSON, a
// stored key read back from the database, and a key in the config file
// decoded from YAML — and a policy must compare the same claim the same way
// whichever way it came, so all four go through here. Nil stays nil.
func NormalizeClaims(m map[string]any) (map[string]any, error) {
	if m == nil {
		return nil, nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		n, err := NormalizeClaim(v)
		if err != nil {
			return nil, err
		}
		out[k] = n
	}
	return out, nil
}

// NormalizeClaim converts one claim value: documents to map[string]any,
// arrays to []any, Go integers and integral json.Number to int64 (unsigned
// ones above MaxInt64 to float64, never wrapping negative), other
// json.Number and float32 to float64, a YAML timestamp to its RFC 3339
// text; strings, bools, float64 and nil are kept.
func NormalizeClaim(v any) (any, error) {
	switch x := v.(type) {
	case int:
		return int64(x), nil
	case int8:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case uint:
		return NormalizeClaim(uint64(x))
	case uint8:
		return int64(x), nil
	case uint16:
		return int64(x), nil
	case uint32:
		return int64(x), nil
	case uint64:
		if x > math.MaxInt64 {
			return float64(x), nil
		}
		return int64(x), nil
	case float32:
		return float64(x), nil
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano), nil
	case map[any]any:
		// Older YAML decoders give these; a key that is not a string has no
		// claim path, so it is left out.
		m := make(map[string]any, len(x))
		for k, e := range x {
			if ks, ok := k.(string); ok {
				n, err := NormalizeClaim(e)
				if err != nil {
					return nil, err
				}
				m[ks] = n
			}
		}
		return m, nil
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, nil
		}
		f, err := x.Float64()
		if err != nil {
			return nil, ErrClaimValue
		}
		return f, nil
	case int32:
		return int64(x), nil
	case map[string]any:
		return NormalizeClaims(x)
	case bson.M:
		return NormalizeClaims(x)
	case bson.D:
		m := make(map[string]any, len(x))
		for _, e := range x {
			n, err := NormalizeClaim(e.Value)
			if err != nil {
				return nil, err
			}
			m[e.Key] = n
		}
		return m, nil
	case []any:
		return normalizeArray(x)
	case bson.A:
		return normalizeArray(x)
	}
	return v, nil
}

func normalizeArray(a []any) ([]any, error) {
	out := make([]any, len(a))
	for i, e := range a {
		n, err := NormalizeClaim(e)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}
