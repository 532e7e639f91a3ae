package policytest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.yaml.in/yaml/v3"

	"github.com/permission-mongo/permission-mongo/internal/yamlnode"
)

// The YAML of a test case becomes the BSON a driver would have stored, so
// that a case exercises the same type rules as production: a `when` that
// compares resource.level > 3 must see an int32, not a float64 or a string.
//
//	YAML                        BSON
//	42, 0x2a                    int32 (int64 when it does not fit)
//	4.5, .inf                   double
//	2026-01-31, 2026-01-31T…Z   date (UTC)
//	!!binary aGk=               binary (subtype 0)
//	{$oid: "…"}, {$date: …}…    the Extended JSON type: a mapping whose only
//	                            key starts with $ is read as Extended JSON
//	mapping, sequence           document (key order kept), array

// yamlError is a conversion problem at a place in the YAML source.
type yamlError struct {
	node *yaml.Node
	msg  string
}

func (e *yamlError) Error() string { return e.msg }

func yamlErrorf(n *yaml.Node, format string, args ...any) error {
	return &yamlError{n, fmt.Sprintf(format, args...)}
}

// YAMLDocument converts a YAML mapping to a BSON document.
func YAMLDocument(n *yaml.Node) (bson.Raw, error) {
	n = yamlnode.Deref(n)
	if n.Kind != yaml.MappingNode {
		return nil, yamlErrorf(n, "must be a mapping (a document)")
	}
	v, err := yamlValue(n)
	if err != nil {
		return nil, err
	}
	if rv, ok := v.(bson.RawValue); ok { // an Extended JSON value such as {$oid: …}
		return nil, yamlErrorf(n, "must be a document, not an Extended JSON %s", rv.Type)
	}
	b, err := bson.Marshal(v)
	if err != nil {
		return nil, yamlErrorf(n, "cannot encode as BSON: %v", err)
	}
	return b, nil
}

// yamlRawValue converts any YAML value to one BSON value.
func yamlRawValue(n *yaml.Node) (bson.RawValue, error) {
	v, err := yamlValue(n)
	if err != nil {
		return bson.RawValue{}, err
	}
	if rv, ok := v.(bson.RawValue); ok {
		return rv, nil
	}
	t, data, err := bson.MarshalValue(v)
	if err != nil {
		return bson.RawValue{}, yamlErrorf(n, "cannot encode as BSON: %v", err)
	}
	return bson.RawValue{Type: t, Value: data}, nil
}

func yamlValue(n *yaml.Node) (any, error) {
	n = yamlnode.Deref(n)
	switch n.Kind {
	case yaml.MappingNode:
		if len(n.Content) == 2 && strings.HasPrefix(n.Content[0].Value, "$") {
			return extJSONValue(n)
		}
		d := make(bson.D, 0, len(n.Content)/2)
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			kn, vn := n.Content[i], n.Content[i+1]
			if kn.Kind != yaml.ScalarNode {
				return nil, yamlErrorf(kn, "document keys must be strings")
			}
			if kn.Tag == "!!merge" {
				return nil, yamlErrorf(kn, "merge keys (<<) are not supported in documents")
			}
			if seen[kn.Value] {
				return nil, yamlErrorf(kn, "duplicate key %q", kn.Value)
			}
			seen[kn.Value] = true
			v, err := yamlValue(vn)
			if err != nil {
				return nil, err
			}
			d = append(d, bson.E{Key: kn.Value, Value: v})
		}
		return d, nil
	case yaml.SequenceNode:
		a := make(bson.A, 0, len(n.Content))
		for _, it := range n.Content {
			v, err := yamlValue(it)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		return a, nil
	case yaml.ScalarNode:
		return yamlScalar(n)
	}
	return nil, yamlErrorf(n, "unsupported YAML node")
}

func yamlScalar(n *yaml.Node) (any, error) {
	switch n.ShortTag() {
	case "!!str":
		return n.Value, nil
	case "!!null":
		return nil, nil
	case "!!bool":
		return decodeScalar[bool](n)
	case "!!int":
		var i int64
		if err := n.Decode(&i); err != nil {
			return nil, yamlErrorf(n, "integer %s does not fit in 64 bits", n.Value)
		}
		// The drivers store small integers as int32; do the same so a case
		// sees the type a real document would have.
		if i >= math.MinInt32 && i <= math.MaxInt32 {
			return int32(i), nil
		}
		return i, nil
	case "!!float":
		return decodeScalar[float64](n)
	case "!!timestamp":
		t, err := decodeScalar[time.Time](n)
		if err != nil {
			return nil, err
		}
		return bson.NewDateTimeFromTime(t), nil
	case "!!binary":
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(n.Value), ""))
		if err != nil {
			return nil, yamlErrorf(n, "invalid !!binary: %v", err)
		}
		return bson.Binary{Data: b}, nil
	}
	return nil, yamlErrorf(n, "unsupported YAML tag %s", n.Tag)
}

// decodeScalar decodes a scalar YAML already tagged as T, with the node's
// position on the error.
func decodeScalar[T any](n *yaml.Node) (T, error) {
	var v T
	if err := n.Decode(&v); err != nil {
		return v, yamlErrorf(n, "%v", err)
	}
	return v, nil
}

// extJSONValue reads a one-key mapping such as {$oid: "…"} or
// {$numberDecimal: "1.5"} as Extended JSON, so that cases can hold the BSON
// types YAML has no syntax for.
func extJSONValue(n *yaml.Node) (bson.RawValue, error) {
	var plain any
	if err := n.Decode(&plain); err != nil {
		return bson.RawValue{}, yamlErrorf(n, "%v", err)
	}
	j, err := json.Marshal(map[string]any{"v": plain})
	if err != nil {
		return bson.RawValue{}, yamlErrorf(n, "not Extended JSON: %v", err)
	}
	var doc bson.Raw
	if err := bson.UnmarshalExtJSON(j, false, &doc); err != nil {
		return bson.RawValue{}, yamlErrorf(n, "not a valid Extended JSON value: %v", err)
	}
	return doc.Lookup("v"), nil
}

// showValue renders a BSON value for a failure message, as relaxed Extended
// JSON (the way mongosh would show it).
func showValue(v bson.RawValue) string {
	b, err := bson.MarshalExtJSON(bson.D{{Key: "v", Value: v}}, false, false)
	if err != nil {
		return v.String()
	}
	s := strings.TrimSpace(string(b))
	s = strings.TrimPrefix(s, `{"v":`)
	s = strings.TrimSuffix(s, "}")
	return strings.TrimSpace(s)
}
