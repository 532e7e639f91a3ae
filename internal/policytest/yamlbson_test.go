package policytest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.yaml.in/yaml/v3"
)

func TestYAMLDocumentTypes(t *testing.T) {
	src := `
small: 42
big: 99999999999
hex: 0x10
float: 4.5
date: 2026-01-31
time: 2026-01-31T12:30:00Z
yes: true
nothing: ~
quoted: "42"
oid: {$oid: "5f1d7e3b2c8a4e0012345678"}
dec: {$numberDecimal: "1.50"}
bin: !!binary aGk=
nested: {list: [1, {a: b}]}
`
	var n yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte(src), &n))
	doc, err := YAMLDocument(n.Content[0])
	require.NoError(t, err)
	for key, want := range map[string]bson.Type{
		"small": bson.TypeInt32, "big": bson.TypeInt64, "hex": bson.TypeInt32, "float": bson.TypeDouble,
		"date": bson.TypeDateTime, "time": bson.TypeDateTime, "yes": bson.TypeBoolean, "nothing": bson.TypeNull,
		"quoted": bson.TypeString, "oid": bson.TypeObjectID, "dec": bson.TypeDecimal128, "bin": bson.TypeBinary,
		"nested": bson.TypeEmbeddedDocument,
	} {
		require.Equal(t, want, doc.Lookup(key).Type, key)
	}
	require.Equal(t, time.Date(2026, 1, 31, 12, 30, 0, 0, time.UTC), doc.Lookup("time").Time().UTC())
	require.Equal(t, int32(16), doc.Lookup("hex").Int32())
	require.Equal(t, "b", doc.Lookup("nested", "list", "1", "a").StringValue())

	require.NoError(t, yaml.Unmarshal([]byte("a: 1\na: 2\n"), &n))
	_, err = YAMLDocument(n.Content[0])
	require.ErrorContains(t, err, `duplicate key "a"`)
}
