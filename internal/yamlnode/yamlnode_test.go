package yamlnode

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

func TestEachKeyRefusesDuplicatesAndFollowsAliases(t *testing.T) {
	var doc yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte("base: &b {x: 1}\na: 1\nb: *b\na: 2\n"), &doc))
	root := doc.Content[0]

	var keys []string
	vals := map[string]*yaml.Node{}
	var dups []int
	EachKey(root, func(kn *yaml.Node) { dups = append(dups, kn.Line) }, func(k string, _, v *yaml.Node) {
		keys = append(keys, k)
		vals[k] = v
	})
	require.Equal(t, []string{"base", "a", "b"}, keys, "file order, the repeated key visited once")
	require.Equal(t, []int{4}, dups, "the second a is the duplicate, at its own line")
	require.Equal(t, "1", vals["a"].Value, "the first definition stays in force")
	require.Equal(t, yaml.MappingNode, vals["b"].Kind, "an alias value arrives as the node it names")
	require.Same(t, vals["base"], vals["b"])
}

func TestDeref(t *testing.T) {
	target := &yaml.Node{Kind: yaml.ScalarNode, Value: "v"}
	require.Same(t, target, Deref(&yaml.Node{Kind: yaml.AliasNode, Alias: target}))
	require.Same(t, target, Deref(target))
	require.Nil(t, Deref(nil))
}

func TestErrLine(t *testing.T) {
	var v any
	err := yaml.Unmarshal([]byte("a: 1\nb: [\n"), &v)
	require.Error(t, err)
	require.Equal(t, 2, ErrLine(err), err.Error())
	require.Equal(t, 1, ErrLine(errors.New("no position here")))
}

func TestReaderKeysDispatchesAndNamesTheKnownKeys(t *testing.T) {
	var doc yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte("b: true\nnote: x\nzz: 1\nb: false\ns: ~\n"), &doc))
	root := doc.Content[0]

	var probs []string
	r := Reader{Errf: func(n *yaml.Node, format string, args ...any) {
		probs = append(probs, fmt.Sprintf("%d:%d %s", n.Line, n.Column, fmt.Sprintf(format, args...)))
	}}
	var b bool
	var keyLine int
	r.Keys(root, "thing",
		On("b", func(kn, v *yaml.Node) { b, keyLine = r.Bool(v, "b"), kn.Line }),
		On("s", func(_, v *yaml.Node) { r.Str(v, "s") }),
		On("note", nil),
	)
	require.True(t, b, "the first b stays in force")
	require.Equal(t, 1, keyLine)
	require.Equal(t, []string{
		`3:1 unknown key "zz" in thing (known: b, s, note)`,
		`4:1 duplicate key "b"`,
		`5:4 s must be a string`,
	}, probs)

	probs = nil
	r.Keys(root, "", On("b", nil))
	require.Contains(t, probs, `2:1 unknown key "note" (known: b)`, "no where: no \"in\"")

	probs = nil
	require.False(t, r.Bool(root.Content[3], "note"))
	require.False(t, r.Mapping(root.Content[1], "b"))
	require.True(t, r.Mapping(root, "root"))
	require.Equal(t, []string{"2:7 note must be true or false", "1:4 b must be a mapping"}, probs)

	require.True(t, Has(root, "zz"))
	require.False(t, Has(root, "missing"))
}

// YAML's booleans are read as YAML defines them: True and TRUE are true, not
// a silent false that would turn `required: True` off.
func TestReaderBoolReadsEverySpelling(t *testing.T) {
	var doc yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte("[true, True, TRUE, false, False, FALSE]"), &doc))
	var probs []string
	r := Reader{Errf: func(_ *yaml.Node, format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }}
	var got []bool
	for _, n := range doc.Content[0].Content {
		got = append(got, r.Bool(n, "v"))
	}
	require.Equal(t, []bool{true, true, true, false, false, false}, got)
	require.Empty(t, probs)
}
