package pipeline

import "testing"

// A limit left at zero, or set below it, takes the default; a limit is
// never off. The filter limits are query's business and pass through.
func TestLimitsDefaults(t *testing.T) {
	for _, l := range []Limits{{}, {MaxStages: -1, MaxDepth: -2, MaxLimit: -1 << 40, MaxExprDepth: -1}} {
		if got := l.withDefaults(); got != DefaultLimits {
			t.Errorf("%+v.withDefaults() = %+v, want %+v", l, got, DefaultLimits)
		}
	}
	set := Limits{MaxStages: 1, MaxDepth: 2, MaxLimit: 3, MaxExprDepth: 4}
	set.Filter.MaxDepth = 7
	if got := set.withDefaults(); got != set {
		t.Errorf("set limits changed: %+v", got)
	}
}
