package policy

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

// Grants (at load) and grant requests (at run time) both read address ranges
// through ParsePrefix, so a bare address must mean exactly itself.
func TestParsePrefix(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.0/8":    "10.0.0.0/8",
		"192.0.2.7":     "192.0.2.7/32",
		"2001:db8::1":   "2001:db8::1/128",
		"2001:db8::/32": "2001:db8::/32",
	} {
		got, err := ParsePrefix(in)
		require.NoError(t, err, in)
		require.Equal(t, netip.MustParsePrefix(want), got, in)
	}
	for _, bad := range []string{"", "10.0.0", "10.0.0.0/33", "host.example"} {
		_, err := ParsePrefix(bad)
		require.Error(t, err, bad)
	}
}
