package service

import (
	"math"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// appendValue appends the element key: v as bson.Marshal encodes it, for
// the value types filters are built of (the keyset filter of a next page, a
// client's filter); false for anything else, which the caller leaves to the
// driver (the same bytes, or the driver's error). The driver walks a bson.D
// through its reflection codecs, a few allocations per value
// (TestAppendValueMatchesDriver).
func appendValue(dst []byte, key string, v any) ([]byte, bool) {
	if strings.IndexByte(key, 0) >= 0 {
		return nil, false // the driver refuses it
	}
	switch x := v.(type) {
	case nil:
		return bsoncore.AppendNullElement(dst, key), true
	case string:
		return bsoncore.AppendStringElement(dst, key, x), true
	case bool:
		return bsoncore.AppendBooleanElement(dst, key, x), true
	case int32:
		return bsoncore.AppendInt32Element(dst, key, x), true
	case int64:
		return bsoncore.AppendInt64Element(dst, key, x), true
	case int:
		// The driver writes an int that fits in 32 bits as an int32.
		if x >= math.MinInt32 && x <= math.MaxInt32 {
			return bsoncore.AppendInt32Element(dst, key, int32(x)), true
		}
		return bsoncore.AppendInt64Element(dst, key, int64(x)), true
	case float64:
		return bsoncore.AppendDoubleElement(dst, key, x), true
	case bson.ObjectID:
		return bsoncore.AppendObjectIDElement(dst, key, x), true
	case bson.DateTime:
		return bsoncore.AppendDateTimeElement(dst, key, int64(x)), true
	case bson.RawValue:
		if !x.Type.IsValid() || x.Type == bson.TypeEmbeddedDocument || x.Type == bson.TypeArray {
			return nil, false // containers: the driver checks their bytes
		}
		dst = bsoncore.AppendHeader(dst, bsoncore.Type(x.Type), key)
		return append(dst, x.Value...), true
	case bson.D:
		if x == nil {
			return bsoncore.AppendNullElement(dst, key), true // as the driver writes a nil slice
		}
		idx, dst := bsoncore.AppendDocumentElementStart(dst, key)
		for _, e := range x {
			var ok bool
			if dst, ok = appendValue(dst, e.Key, e.Value); !ok {
				return nil, false
			}
		}
		dst, err := bsoncore.AppendDocumentEnd(dst, idx)
		return dst, err == nil
	case bson.A:
		if x == nil {
			return bsoncore.AppendNullElement(dst, key), true
		}
		idx, dst := bsoncore.AppendArrayElementStart(dst, key)
		for i, e := range x {
			var ok bool
			if dst, ok = appendValue(dst, arrayKey(i), e); !ok {
				return nil, false
			}
		}
		dst, err := bsoncore.AppendArrayEnd(dst, idx)
		return dst, err == nil
	}
	return nil, false
}
