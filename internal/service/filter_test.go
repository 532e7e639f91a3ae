package service

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// driverBytes is what the driver sends for filter: the encoding of the
// bson.D built before the raw $and existed, through the default registry.
func driverBytes(t *testing.T, filter any) bson.Raw {
	t.Helper()
	b, err := bson.Marshal(filter)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustRaw(t *testing.T, v any) bson.Raw {
	t.Helper()
	return driverBytes(t, v)
}

func TestIDFilterMatchesDriverEncoding(t *testing.T) {
	oid := bson.NewObjectID()
	for _, id := range []any{
		oid, bson.ObjectID{}, "", "a", "x\x00y", "\xff\xfe not utf-8", "é✓", strings.Repeat("z", 1024),
	} {
		got := idFilter(id)
		raw, ok := got.(bson.Raw)
		if !ok {
			t.Fatalf("idFilter(%q) is %T, want raw BSON", id, got)
		}
		if want := driverBytes(t, bson.D{{Key: "_id", Value: id}}); !bytes.Equal(raw, want) {
			t.Fatalf("idFilter(%q) = %x, driver writes %x", id, []byte(raw), []byte(want))
		}
	}
	// Other _id types (stored documents may carry any) keep the bson.D.
	for _, id := range []any{int32(7), int64(7), 2.5, bson.D{{Key: "k", Value: 1}}} {
		if got := driverBytes(t, idFilter(id)); !bytes.Equal(got, driverBytes(t, bson.D{{Key: "_id", Value: id}})) {
			t.Fatalf("idFilter(%v) encodes as %s", id, got)
		}
	}
}

func TestAndMatchesDriverEncoding(t *testing.T) {
	oid := bson.NewObjectID()
	policyFilter := mustRaw(t, bson.D{{Key: "$or", Value: bson.A{
		bson.D{{Key: "tenant_id", Value: "t1"}},
		bson.D{{Key: "owner", Value: bson.D{{Key: "$in", Value: bson.A{"u1", nil, int64(3)}}}}},
	}}})
	pre := mustRaw(t, bson.D{{Key: FieldUpdatedAt, Value: bson.DateTime(1700000000000)}})
	cas := casCond(pre)
	client := bson.D{{Key: "age", Value: bson.D{{Key: "$gt", Value: 30}}}, {Key: "name", Value: nil}}
	after := bson.D{{Key: "$or", Value: bson.A{bson.D{{Key: "_id", Value: bson.D{{Key: "$gt", Value: oid}}}}}}}
	when := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)

	cases := []struct {
		name  string
		parts []any
	}{
		{"id and policy", []any{idFilter(oid), policyFilter}},
		{"string id and policy", []any{idFilter("doc-1"), policyFilter}},
		{"id, policy, cas", []any{idFilter(oid), policyFilter, cas}},
		{"id, policy, cas on a missing field", []any{idFilter("x"), policyFilter, casCond(mustRaw(t, bson.D{}))}},
		{"policy, client, after", []any{policyFilter, client, after}},
		{"client and after", []any{client, after}},
		{"bson.D id of another type", []any{idFilter(int64(5)), policyFilter}},
		{"a time value and a map", []any{bson.D{{Key: "t", Value: when}}, bson.M{"k": "v"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var ops bson.A
			for _, p := range c.parts {
				ops = append(ops, p)
			}
			want := driverBytes(t, bson.D{{Key: "$and", Value: ops}})
			got := and(c.parts...)
			raw, ok := got.(bson.Raw)
			if !ok {
				t.Fatalf("and is %T, want raw BSON", got)
			}
			if !bytes.Equal(raw, want) {
				t.Fatalf("and = %s\ndriver: %s", raw, want)
			}
		})
	}

	// Empty operands are left out as before: none gives {}, one gives the
	// operand itself, untouched.
	if got := driverBytes(t, and(nil, bson.Raw(nil), bson.D{})); !bytes.Equal(got, driverBytes(t, bson.D{})) {
		t.Fatalf("and of nothing = %s", got)
	}
	if got := and(nil, policyFilter, bson.D{}); !bytes.Equal(got.(bson.Raw), policyFilter) {
		t.Fatalf("and of one operand = %v", got)
	}

	// Keys past 9 are written as the driver writes them.
	many := make([]any, 12)
	var manyA bson.A
	for i := range many {
		many[i] = bson.D{{Key: "n", Value: int32(i)}}
		manyA = append(manyA, many[i])
	}
	raw, ok := andRaw(many)
	if !ok || !bytes.Equal(raw, driverBytes(t, bson.D{{Key: "$and", Value: manyA}})) {
		t.Fatalf("andRaw of 12 operands = %s", raw)
	}
}

// An operand the encoder refuses is handed to the driver in the bson.D, so
// that the request fails the way it did (a clear error, not a filter with
// the operand missing).
func TestAndLeavesUnencodableOperandsToTheDriver(t *testing.T) {
	bad := bson.D{{Key: "c", Value: make(chan int)}}
	got := and(idFilter("x"), bad)
	d, ok := got.(bson.D)
	if !ok || len(d) != 1 || d[0].Key != "$and" || len(d[0].Value.(bson.A)) != 2 {
		t.Fatalf("and with an unencodable operand = %#v", got)
	}
	if _, err := bson.Marshal(got); err == nil {
		t.Fatal("the unencodable operand was dropped")
	}
}

// BenchmarkAndFilter: building the filter of a get by id and encoding it as
// the driver does (bson.Marshal through the default registry), the bson.D of
// before against the raw document of now.
func BenchmarkAndFilter(b *testing.B) {
	oid := bson.NewObjectID()
	pf, err := bson.Marshal(bson.D{{Key: "tenant_id", Value: "t1"}})
	if err != nil {
		b.Fatal(err)
	}
	policy := bson.Raw(pf)
	b.Run("bson.D", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			f := bson.D{{Key: "$and", Value: bson.A{bson.D{{Key: "_id", Value: oid}}, policy}}}
			if _, err := bson.Marshal(f); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := bson.Marshal(and(idFilter(oid), policy)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
