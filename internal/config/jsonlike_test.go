package config

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// An unsigned setting above MaxInt64 must not come out negative.
func TestJSONLikeLargeUnsigned(t *testing.T) {
	require.Equal(t, int64(7), jsonLike(uint(7)))
	require.Equal(t, float64(math.MaxUint64), jsonLike(uint(math.MaxUint64)))
	require.Equal(t, float64(math.MaxUint64), jsonLike(uint64(math.MaxUint64)))
}
