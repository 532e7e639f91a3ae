package principal

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.yaml.in/yaml/v3"
)

// claimsJSON holds one claim of each kind a token or a request body can carry.
const claimsJSON = `{
	"n": 7, "neg": -3, "big": 9007199254740993, "f": 1.5, "b": true, "s": "x", "null": null,
	"obj": {"k": 2, "in": {"deep": [1, "a", false]}},
	"arr": [1, 2.5, {"k": null}, [3]]
}`

var wantClaims = map[string]any{
	"n": int64(7), "neg": int64(-3), "big": int64(9007199254740993), "f": 1.5, "b": true, "s": "x", "null": nil,
	"obj": map[string]any{"k": int64(2), "in": map[string]any{"deep": []any{int64(1), "a", false}}},
	"arr": []any{int64(1), 2.5, map[string]any{"k": nil}, []any{int64(3)}},
}

// The three ways claims reach a principal must agree on every value.
func TestNormalizeClaimsSameThroughEveryPath(t *testing.T) {
	t.Run("jwt", func(t *testing.T) {
		// The JWT parser decodes with UseNumber.
		dec := json.NewDecoder(bytes.NewReader([]byte(claimsJSON)))
		dec.UseNumber()
		var raw map[string]any
		require.NoError(t, dec.Decode(&raw))
		got, err := NormalizeClaims(raw)
		require.NoError(t, err)
		require.Equal(t, wantClaims, got)
	})
	t.Run("request body", func(t *testing.T) {
		// The api decodes bodies as relaxed extended JSON into bson.D, small
		// integers arriving as int32.
		var d bson.D
		require.NoError(t, bson.UnmarshalExtJSON([]byte(claimsJSON), false, &d))
		got, err := NormalizeClaim(d)
		require.NoError(t, err)
		require.Equal(t, wantClaims, got)
	})
	t.Run("config file", func(t *testing.T) {
		// Keys in the config file come from YAML, of which JSON is a subset.
		var raw map[string]any
		require.NoError(t, yaml.Unmarshal([]byte(claimsJSON), &raw))
		got, err := NormalizeClaims(raw)
		require.NoError(t, err)
		require.Equal(t, wantClaims, got)
	})
	t.Run("stored key", func(t *testing.T) {
		// The store writes the normalized map and reads it back into a
		// map[string]any field, nested values as BSON types.
		in, err := NormalizeClaims(wantClaims)
		require.NoError(t, err)
		raw, err := bson.Marshal(struct {
			Claims map[string]any `bson:"claims"`
		}{in})
		require.NoError(t, err)
		var back struct {
			Claims map[string]any `bson:"claims"`
		}
		require.NoError(t, bson.Unmarshal(raw, &back))
		got, err := NormalizeClaims(back.Claims)
		require.NoError(t, err)
		require.Equal(t, wantClaims, got)
	})
}

func TestNormalizeClaimKinds(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   any
		want any
	}{
		{"int32", int32(5), int64(5)},
		{"integral number", json.Number("12"), int64(12)},
		{"fractional number", json.Number("0.25"), 0.25},
		{"number beyond int64", json.Number("1e20"), 1e20},
		{"bson.M", bson.M{"a": int32(1)}, map[string]any{"a": int64(1)}},
		{"bson.A", bson.A{int32(1), bson.D{{Key: "x", Value: "y"}}}, []any{int64(1), map[string]any{"x": "y"}}},
		{"int", 7, int64(7)},
		{"uint", uint(7), int64(7)},
		{"uint above MaxInt64", uint(math.MaxUint64), float64(math.MaxUint64)},
		{"uint64 above MaxInt64", uint64(math.MaxUint64), float64(math.MaxUint64)},
		{"float32", float32(0.5), 0.5},
		{"YAML timestamp", time.Date(2026, 1, 2, 4, 4, 5, 0, time.FixedZone("", 3600)), "2026-01-02T03:04:05Z"},
		{"map[any]any", map[any]any{"a": 1, 2: "dropped"}, map[string]any{"a": int64(1)}},
		{"nil", nil, nil},
		{"string", "s", "s"},
	} {
		got, err := NormalizeClaim(tc.in)
		require.NoError(t, err, tc.name)
		require.Equal(t, tc.want, got, tc.name)
	}
	nilMap, err := NormalizeClaims(nil)
	require.NoError(t, err)
	require.Nil(t, nilMap)
}

func TestNormalizeClaimOutOfRange(t *testing.T) {
	_, err := NormalizeClaims(map[string]any{"a": []any{json.Number("1e400")}})
	require.ErrorIs(t, err, ErrClaimValue)
}
