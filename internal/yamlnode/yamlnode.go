// Package yamlnode holds the walking of yaml.v3 node trees that the policy and
// schema loaders share. The loaders read nodes rather than decoding into
// structs so that every problem carries a line and column, and so that a
// duplicate key — which YAML lets silently win — is refused; both loaders
// must do that the same way.
package yamlnode

import (
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// Deref follows an alias to the node it names. An anchor is always on a
// real node, so one step is enough; the loop guards against a future parser
// that chains them.
func Deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// EachKey visits a mapping's entries in file order with aliases on values
// followed. A key seen before is handed to dup instead of f, so the caller
// reports it at its own position and the first definition stays in force.
func EachKey(n *yaml.Node, dup func(kn *yaml.Node), f func(k string, kn, v *yaml.Node)) {
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, v := n.Content[i], Deref(n.Content[i+1])
		if seen[kn.Value] {
			dup(kn)
			continue
		}
		seen[kn.Value] = true
		f(kn.Value, kn, v)
	}
}

var errLineRe = regexp.MustCompile(`line (\d+)`)

// ErrLine digs the line out of a YAML syntax error, which carries it only in
// its text; 1 when the text names none, so the problem still points into the
// file.
func ErrLine(err error) int {
	if m := errLineRe.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 1
}
