package audit

import (
	"bytes"
	"encoding/hex"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/testenv"
)

// fullEntry has every field set, with the strings a client can choose made
// awkward: NUL bytes, multi-byte runes, a key-like "$" and ".", long lists.
func fullEntry() Entry {
	return Entry{
		ID:         "0123456789abcdef.00112233445566778899aabbccddeeff-000000000042",
		TS:         time.Date(2026, 11, 27, 19, 45, 1, 123_000_000, time.UTC),
		RequestID:  "req\x00id-é",
		Actor:      Actor{ID: "user\x00\x01", TenantID: "t-ü", Roles: []string{"editor", "", "$admin.x"}, Auth: "jwt", KeyID: "sub|42"},
		Action:     "batch.update",
		Collection: "orders.items",
		DocIDs:     []string{"65f0c0ffee0000000000abcd", "x\x00y", "日本"},
		Count:      math.MaxInt64,
		Failed:     -3,
		Outcome:    OutcomeError,
		Status:     409,
		ErrorCode:  "CONFLICT",
		ChangedFields: []string{
			"a", "b.c", "d.0.e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", // more than 10: two-digit array keys
		},
		IP:        "2001:db8::1",
		UserAgent: "curl/8.0 \U0001F600",
		LatencyMS: 12.345,
		Writer:    "0123456789abcdef.00112233445566778899aabbccddeeff",
		Seq:       42,
		PrevHash:  "aa",
		Hash:      "bb",
	}
}

// The bytes encodeEntry writes are the driver's encoding of the struct, for
// every optional field set and unset, nil and empty lists, ints that do and
// do not fit 32 bits, odd strings, and times before 1970 and with more than
// millisecond precision (which the Writer never queues, but which must not
// differ either).
func TestEncodeEntryMatchesDriver(t *testing.T) {
	t.Parallel()
	full := fullEntry()
	cases := map[string]func(e *Entry){
		"every field": func(*Entry) {},
		"zero":        func(e *Entry) { *e = Entry{} },
		"optional omitted": func(e *Entry) {
			*e = Entry{ID: e.ID, TS: e.TS, Action: "read", Outcome: OutcomeAllowed, Status: 200, Writer: e.Writer, Seq: 1, PrevHash: e.PrevHash, Hash: e.Hash}
		},
		"empty lists": func(e *Entry) {
			e.Actor.Roles, e.DocIDs, e.ChangedFields = []string{}, []string{}, []string{}
		},
		"one-item lists": func(e *Entry) {
			e.Actor.Roles, e.DocIDs, e.ChangedFields = []string{"r"}, []string{"d"}, []string{"c"}
		},
		"actor without tenant":  func(e *Entry) { e.Actor = Actor{ID: "anon"} },
		"status beyond int32":   func(e *Entry) { e.Status = math.MaxInt32 + 1 },
		"negative status":       func(e *Entry) { e.Status = math.MinInt32 },
		"status below int32":    func(e *Entry) { e.Status = math.MinInt32 - 1 },
		"zero count, failed":    func(e *Entry) { e.Count, e.Failed = 0, 0 },
		"negative latency":      func(e *Entry) { e.LatencyMS = -1.5 },
		"before 1970":           func(e *Entry) { e.TS = time.Date(1969, 12, 31, 23, 59, 59, 999_000_000, time.UTC) },
		"sub-millisecond":       func(e *Entry) { e.TS = time.Date(2026, 1, 2, 3, 4, 5, 6_789_012, time.UTC) },
		"sub-ms before 1970":    func(e *Entry) { e.TS = time.Date(1960, 1, 2, 3, 4, 5, 6_789_012, time.UTC) },
		"other time zone":       func(e *Entry) { e.TS = e.TS.In(time.FixedZone("x", 5*3600)) },
		"zero time":             func(e *Entry) { e.TS = time.Time{} },
		"invalid UTF-8 (raw)":   func(e *Entry) { e.UserAgent, e.Actor.ID, e.DocIDs[0] = "a\xffb", "\xc3", "\xed\xa0\x80" },
		"long user agent (raw)": func(e *Entry) { e.UserAgent = string(bytes.Repeat([]byte("ü"), 2000)) },
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := full
			e.Actor.Roles = append([]string(nil), full.Actor.Roles...)
			e.DocIDs = append([]string(nil), full.DocIDs...)
			edit(&e)
			want, err := bson.Marshal(&e)
			require.NoError(t, err)
			got := encodeEntry(&e)
			require.Equal(t, hex.EncodeToString(want), hex.EncodeToString(got), "bytes differ:\nwant %s\ngot  %s", bson.Raw(want), got)
		})
	}
}

// What the Writer queues is the driver's encoding of the entry it hashed,
// for input that normalize has to fix (invalid UTF-8, over-long strings,
// unsorted fields with duplicates), and the hash it carries is the hash of
// what is stored, so Verify accepts it.
func TestQueuedEntryIsDriverEncodingOfHashedEntry(t *testing.T) {
	t.Parallel()
	coll := testenv.Store(t).Collection("audit")
	w, err := NewWriter(Options{Collection: coll, Logger: testenv.Quiet})
	require.NoError(t, err)
	defer func() { _ = w.Close(t.Context()) }()

	inputs := []Entry{
		{Action: "read", Status: 200},
		{
			RequestID: "r\xff\xfe", UserAgent: string(bytes.Repeat([]byte("a\xff"), 600)),
			Actor:  Actor{ID: "u\xc3", TenantID: "tenant\x00one", Roles: []string{"b\xff", "a"}, Auth: "api_key", KeyID: "k"},
			Action: "update", Collection: "orders", DocIDs: []string{"1", "\xe2\x82"},
			ChangedFields: []string{"z", "a", "z", "m\xff"}, Count: 1, Failed: 2, Status: 207, ErrorCode: "PARTIAL",
			IP: "10.0.0.1", LatencyMS: math.NaN(),
		},
		{Actor: Actor{ID: "u", Roles: []string{}}, Action: "find", DocIDs: []string{}, Status: 500},
	}
	w.mu.Lock()
	for _, e := range inputs {
		w.appendLocked(e)
	}
	queued := append([]bson.Raw(nil), w.queue...)
	w.mu.Unlock()
	require.Len(t, queued, len(inputs))

	for i, raw := range queued {
		var e Entry
		require.NoError(t, bson.Unmarshal(raw, &e), "entry %d", i)
		again, err := bson.Marshal(&e)
		require.NoError(t, err)
		require.Equal(t, hex.EncodeToString(again), hex.EncodeToString(raw), "entry %d: not the driver's encoding of itself", i)
		require.Equal(t, HashOf(&e), e.Hash, "entry %d: the hash is over what is stored", i)
		require.Equal(t, entryID(e.Writer, e.Seq), e.ID, "entry %d", i)
	}
}

// BenchmarkEncodeEntry compares the encoding work per entry of a batch
// insert: InsertMany of Entry values ran the driver's struct codec on each
// (driver_struct); now each entry is encoded once by encodeEntry, and the
// insert command copies the bytes in whole. (A []bson.Raw handed to
// InsertMany is walked again element by element, one allocation per key:
// raw_through_driver.)
func BenchmarkEncodeEntry(b *testing.B) {
	e := fullEntry()
	e.ChangedFields = e.ChangedFields[:2]
	b.Run("driver_struct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := bson.Marshal(&e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw_through_driver", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := bson.Marshal(encodeEntry(&e)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encodeEntry", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = encodeEntry(&e)
		}
	})
}
