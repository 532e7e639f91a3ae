package policytest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.yaml.in/yaml/v3"

	"github.com/permission-mongo/permission-mongo/internal/policy"
	"github.com/permission-mongo/permission-mongo/internal/principal"
	"github.com/permission-mongo/permission-mongo/internal/yamlnode"
)

// Case is one entry of a tests/*.yml file. The format is documented in
// policies/README.md.
type Case struct {
	File string
	Line int
	Name string

	User       *principal.Principal
	Collection string
	Action     policy.Action
	Now        time.Time
	Doc        bson.Raw
	allow      bool

	visible     []fieldValue
	hidden      []string
	writeDenied []string
	writable    []string

	// valid, when set, is whether the document satisfies the collection's
	// schema; validationErrors lists the expected "path:rule" failures.
	valid            *bool
	validationErrors []string
}

type fieldValue struct {
	path  string
	value bson.RawValue
}

// Problem is a mistake in a case file, reported like a load problem.
type Problem struct {
	Pos  policy.Pos
	Msg  string
	Case string // the case it belongs to, when known
}

func (p Problem) String() string {
	if p.Case != "" {
		return fmt.Sprintf("%s: case %q: %s", p.Pos, p.Case, p.Msg)
	}
	return fmt.Sprintf("%s: %s", p.Pos, p.Msg)
}

// caseParser reads one case file, collecting every problem rather than
// stopping at the first, like the policy loader does.
type caseParser struct {
	yamlnode.Reader
	file  string
	users map[string]*yaml.Node
	docs  map[string]*yaml.Node
	probs []Problem
	name  string // case being parsed
	now   time.Time
}

func (p *caseParser) errf(n *yaml.Node, format string, args ...any) {
	p.probs = append(p.probs, Problem{policy.Pos{File: p.file, Line: n.Line, Col: n.Column}, fmt.Sprintf(format, args...), p.name})
}

// yamlErr reports an error from the YAML → BSON conversion at its own node.
func (p *caseParser) yamlErr(at *yaml.Node, what string, err error) {
	var ye *yamlError
	if errors.As(err, &ye) {
		at = ye.node
	}
	p.errf(at, "%s: %v", what, err)
}

// ParseFile reads the cases of one file. Cases with problems are left
// out of the result and reported instead; the others can still run.
// broken counts the cases left out.
func ParseFile(file string, now time.Time) (cases []*Case, broken int, probs []Problem) {
	p := &caseParser{file: file, users: map[string]*yaml.Node{}, docs: map[string]*yaml.Node{}, now: now}
	p.Reader = yamlnode.Reader{Errf: p.errf}
	src, err := os.ReadFile(file) //nolint:gosec // G304: the operator names the test files
	if err != nil {
		return nil, 0, []Problem{{Pos: policy.Pos{File: file}, Msg: "cannot read: " + err.Error()}}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, 0, []Problem{{Pos: policy.Pos{File: file, Line: yamlnode.ErrLine(err), Col: 1}, Msg: "invalid YAML: " + err.Error()}}
	}
	if len(doc.Content) == 0 {
		return nil, 0, []Problem{{Pos: policy.Pos{File: file, Line: 1, Col: 1}, Msg: "empty file: expected a cases: list"}}
	}
	root := yamlnode.Deref(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		p.errf(root, "a test file must be a mapping with a cases: list")
		return nil, 0, p.probs
	}
	var casesNode *yaml.Node
	p.Keys(root, "",
		yamlnode.On("users", func(_, v *yaml.Node) {
			p.eachIn(v, "users must map a name to a caller", func(name string, _, u *yaml.Node) { p.users[name] = u })
		}),
		yamlnode.On("documents", func(_, v *yaml.Node) {
			p.eachIn(v, "documents must map a name to a document", func(name string, _, d *yaml.Node) { p.docs[name] = d })
		}),
		yamlnode.On("cases", func(_, v *yaml.Node) { casesNode = v }),
	)
	if casesNode == nil {
		p.errf(root, "no cases: list")
		return nil, 0, p.probs
	}
	if casesNode.Kind != yaml.SequenceNode {
		p.errf(casesNode, "cases must be a list")
		return nil, 0, p.probs
	}
	for _, cn := range casesNode.Content {
		if tc := p.parseCase(yamlnode.Deref(cn)); tc != nil {
			cases = append(cases, tc)
		} else {
			broken++
		}
	}
	return cases, broken, p.probs
}

// eachIn visits the entries of mapping v, or reports notMap. Duplicates are
// refused (as everywhere in the file): YAML lets a later key silently win,
// which in a test hides the value the author meant.
func (p *caseParser) eachIn(v *yaml.Node, notMap string, f func(k string, kn, v *yaml.Node)) {
	if v.Kind != yaml.MappingNode {
		p.errf(v, "%s", notMap)
		return
	}
	p.Each(v, f)
}

// byName follows a reference to an entry of the file's users: or
// documents:; other nodes are the value written inline. nil after
// reporting an unknown name.
func (p *caseParser) byName(n *yaml.Node, names map[string]*yaml.Node, unknown string) *yaml.Node {
	if n.Kind != yaml.ScalarNode {
		return n
	}
	named, ok := names[n.Value]
	if !ok {
		p.errf(n, unknown, n.Value)
	}
	return named
}

func (p *caseParser) parseCase(n *yaml.Node) *Case {
	p.name = ""
	if n.Kind != yaml.MappingNode {
		p.errf(n, "a case must be a mapping")
		return nil
	}
	// The name first, so every later problem can say which case it is in.
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "name" {
			p.name = n.Content[i+1].Value
		}
	}
	before := len(p.probs)
	tc := &Case{File: p.file, Line: n.Line, Name: p.name, Now: p.now}
	var expectNode, visibleNode, hiddenNode *yaml.Node
	p.Keys(n, "",
		yamlnode.On("name", func(_, v *yaml.Node) {
			if v.Kind != yaml.ScalarNode || v.Value == "" {
				p.errf(v, "name must be a non-empty string")
			}
		}),
		yamlnode.On("user", func(_, v *yaml.Node) { tc.User = p.user(v) }),
		yamlnode.On("collection", func(_, v *yaml.Node) { tc.Collection = p.Str(v, "collection") }),
		yamlnode.On("action", func(_, v *yaml.Node) {
			a := policy.Action(p.Str(v, "action"))
			if a != "" && !slices.Contains(policy.Actions, a) {
				p.errf(v, "unknown action %q (known: %s)", a, actionNames())
			}
			tc.Action = a
		}),
		yamlnode.On("document", func(_, v *yaml.Node) { tc.Doc = p.document(v) }),
		yamlnode.On("expect", func(_, v *yaml.Node) {
			expectNode = v
			switch p.Str(v, "expect") {
			case "allow":
				tc.allow = true
			case "deny":
			default:
				p.errf(v, "expect must be allow or deny, got %q", v.Value)
			}
		}),
		yamlnode.On("visible", func(_, v *yaml.Node) {
			visibleNode = v
			p.eachIn(v, "visible must map field paths to the values they must show", func(path string, _, fv *yaml.Node) {
				rv, err := yamlRawValue(fv)
				if err != nil {
					p.yamlErr(fv, "visible."+path, err)
					return
				}
				tc.visible = append(tc.visible, fieldValue{path, rv})
			})
		}),
		yamlnode.On("hidden", func(_, v *yaml.Node) {
			hiddenNode = v
			tc.hidden = p.paths(v, "hidden")
		}),
		yamlnode.On("write_denied", func(_, v *yaml.Node) { tc.writeDenied = p.paths(v, "write_denied") }),
		yamlnode.On("writable", func(_, v *yaml.Node) { tc.writable = p.paths(v, "writable") }),
		yamlnode.On("valid", func(_, v *yaml.Node) {
			b := p.Bool(v, "valid") // a problem drops the case, so false is safe
			tc.valid = &b
		}),
		yamlnode.On("validation_errors", func(_, v *yaml.Node) {
			tc.validationErrors = p.paths(v, "validation_errors")
			for _, e := range tc.validationErrors {
				if !strings.Contains(e, ":") {
					p.errf(v, "validation_errors entries are path:rule, such as salary:min (got %q)", e)
				}
			}
		}),
		yamlnode.On("now", func(_, v *yaml.Node) {
			var t time.Time
			if err := v.Decode(&t); err != nil {
				p.errf(v, "now must be a timestamp such as 2026-01-31T12:00:00Z")
			}
			tc.Now = t
		}),
	)
	for _, req := range []string{"name", "user", "collection", "action", "document", "expect"} {
		if !yamlnode.Has(n, req) {
			p.errf(n, "%s is required", req)
		}
	}
	// Field expectations describe what an allowed reader sees; on a denied
	// case they could never be checked and would read as if they passed.
	if expectNode != nil && !tc.allow {
		for _, x := range []struct {
			node *yaml.Node
			key  string
		}{{visibleNode, "visible"}, {hiddenNode, "hidden"}} {
			if x.node != nil {
				p.errf(x.node, "%s needs expect: allow", x.key)
			}
		}
		if len(tc.writeDenied)+len(tc.writable) > 0 {
			p.errf(expectNode, "write_denied and writable need expect: allow")
		}
	}
	if tc.valid != nil && *tc.valid && len(tc.validationErrors) > 0 {
		p.errf(n, "validation_errors needs valid: false")
	}
	if len(tc.validationErrors) > 0 && tc.valid == nil {
		f := false
		tc.valid = &f
	}
	if len(p.probs) > before {
		return nil
	}
	return tc
}

// document reads a case's document: inline, or the name of an entry of the
// file's documents:.
func (p *caseParser) document(v *yaml.Node) bson.Raw {
	v = p.byName(v, p.docs, "unknown document %q (define it under documents:, or write it inline)")
	if v == nil {
		return nil
	}
	doc, err := YAMLDocument(v)
	if err != nil {
		p.yamlErr(v, "document", err)
	}
	return doc
}

func (p *caseParser) paths(n *yaml.Node, what string) []string {
	if n.Kind != yaml.SequenceNode {
		p.errf(n, "%s must be a list of field paths", what)
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for _, it := range n.Content {
		if s := p.Str(yamlnode.Deref(it), what+" entries"); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// user reads a caller: inline, or the name of an entry of the file's users:.
// It goes through JSON so that claims get exactly the types a decoded token
// gives them (numbers as float64), as in production.
func (p *caseParser) user(n *yaml.Node) *principal.Principal {
	n = p.byName(n, p.users, "unknown user %q (define it under users:, or write the caller inline)")
	if n == nil {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		p.errf(n, "user must be a mapping such as {id: u1, tenant_id: t1, roles: [employee]}")
		return nil
	}
	var plain any
	if err := n.Decode(&plain); err != nil {
		p.errf(n, "user: %v", err)
		return nil
	}
	j, err := json.Marshal(plain)
	if err != nil {
		p.errf(n, "user: %v", err)
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	var pr principal.Principal
	if err := dec.Decode(&pr); err != nil {
		p.errf(n, "user: %s (known keys: id, tenant_id, roles, claims)", strings.TrimPrefix(err.Error(), "json: "))
		return nil
	}
	return &pr
}
