package yamlnode

import (
	"errors"
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
