// Package yamlnode holds the walking of yaml.v3 node trees that the policy,
// schema and policy-test loaders share. The loaders read nodes rather than
// decoding into structs so that every problem carries a line and column, and
// so that a duplicate key — which YAML lets silently win — is refused; all of
// them must do that the same way.
package yamlnode

import (
	"regexp"
	"strconv"
	"strings"

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

// Reader is what the loaders share on top of the walk: the checks of a
// node's kind, the dispatch of a mapping's keys and the scalar types, each
// problem reported through Errf at the node it concerns. Every loader keeps
// its own problem type (and position), so it supplies Errf; the messages
// are the same across the loaders because they are written once, here.
type Reader struct {
	Errf func(n *yaml.Node, format string, args ...any)
}

// Mapping reports "<what> must be a mapping" unless n is one.
func (r Reader) Mapping(n *yaml.Node, what string) bool {
	n = Deref(n)
	if n.Kind != yaml.MappingNode {
		r.Errf(n, "%s must be a mapping", what)
		return false
	}
	return true
}

// Each is EachKey with a repeated key reported as `duplicate key "k"`.
func (r Reader) Each(n *yaml.Node, f func(k string, kn, v *yaml.Node)) {
	EachKey(n, func(kn *yaml.Node) { r.Errf(kn, "duplicate key %q", kn.Value) }, f)
}

// Key is one key a mapping may hold: read gets the key and value nodes, so
// a problem can point at either. A nil read accepts the key and ignores it.
type Key struct {
	name string
	read func(kn, v *yaml.Node)
}

// On declares a known key.
func On(name string, read func(kn, v *yaml.Node)) Key { return Key{name, read} }

// Keys hands each entry of mapping n to the Key of that name, in file
// order. Any other key is reported at itself as `unknown key "k" in <where>
// (known: ...)` ("in <where>" left out when where is empty), the known keys
// listed in the order given: the list in the message is the list the code
// accepts, so the two cannot drift apart.
func (r Reader) Keys(n *yaml.Node, where string, keys ...Key) {
	in := ""
	if where != "" {
		in = " in " + where
	}
	r.Each(n, func(k string, kn, v *yaml.Node) {
		for _, key := range keys {
			if key.name == k {
				if key.read != nil {
					key.read(kn, v)
				}
				return
			}
		}
		names := make([]string, len(keys))
		for i, key := range keys {
			names[i] = key.name
		}
		r.Errf(kn, "unknown key %q%s (known: %s)", k, in, strings.Join(names, ", "))
	})
}

// Has reports whether mapping n holds key k (whatever its value).
func Has(n *yaml.Node, k string) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == k {
			return true
		}
	}
	return false
}

// Bool reads true or false.
func (r Reader) Bool(n *yaml.Node, what string) bool {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		r.Errf(n, "%s must be true or false", what)
		return false
	}
	// YAML spells true also True and TRUE (each tagged !!bool).
	return strings.EqualFold(n.Value, "true")
}

// Str reads a scalar that is not null, as its text.
func (r Reader) Str(n *yaml.Node, what string) string {
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		r.Errf(n, "%s must be a string", what)
		return ""
	}
	return n.Value
}
