package config

import (
	"fmt"
	"strings"
)

// Problems is every problem found in a configuration, in the order found.
// It is returned whole so that a deployment is fixed in one round instead
// of one error per restart.
type Problems []string

func (p *Problems) add(format string, args ...any) {
	*p = append(*p, fmt.Sprintf(format, args...))
}

// Error lists the problems one per line, so that a failed start shows all.
func (p *Problems) Error() string {
	if len(*p) == 1 {
		return "config: " + (*p)[0]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "config: %d problems:", len(*p))
	for _, s := range *p {
		b.WriteString("\n  - ")
		b.WriteString(s)
	}
	return b.String()
}
