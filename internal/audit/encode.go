package audit

import (
	"math"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// encodeEntry is the document stored for e, written straight as bytes: the
// same bytes the driver's struct codec writes for *e (field order of the
// struct, the same omitempty fields left out, int as int32 when it fits),
// which TestEncodeEntryMatchesDriver checks. Each entry is encoded once, when
// it is queued, so that a batch insert copies bytes instead of walking every
// entry through the driver's reflection; that walk was most of the audit
// writer's CPU per request.
//
// e is normalized (valid UTF-8, bounded lengths) and chained already: the
// bytes hold its final ID, Seq, PrevHash and Hash.
func encodeEntry(e *Entry) bson.Raw {
	a := &e.Actor
	n := 384 + len(e.ID) + len(e.RequestID) + len(a.ID) + len(a.TenantID) + len(a.Auth) + len(a.KeyID) +
		len(e.Action) + len(e.Collection) + len(e.Outcome) + len(e.ErrorCode) + len(e.IP) + len(e.UserAgent) +
		len(e.Writer) + len(e.PrevHash) + len(e.Hash) +
		listSize(a.Roles) + listSize(e.DocIDs) + listSize(e.ChangedFields)
	idx, b := bsoncore.AppendDocumentStart(make([]byte, 0, n))
	b = bsoncore.AppendStringElement(b, "_id", e.ID)
	b = bsoncore.AppendDateTimeElement(b, "ts", e.TS.UnixMilli())
	b = optString(b, "request_id", e.RequestID)

	var actor int32
	actor, b = bsoncore.AppendDocumentElementStart(b, "actor")
	b = bsoncore.AppendStringElement(b, "id", a.ID)
	b = optString(b, "tenant_id", a.TenantID)
	b = optList(b, "roles", a.Roles)
	b = optString(b, "auth", a.Auth)
	b = optString(b, "key_id", a.KeyID)
	b = closeDoc(b, actor)

	b = bsoncore.AppendStringElement(b, "action", e.Action)
	b = optString(b, "collection", e.Collection)
	b = optList(b, "doc_ids", e.DocIDs)
	b = bsoncore.AppendInt64Element(b, "count", e.Count)
	if e.Failed != 0 {
		b = bsoncore.AppendInt64Element(b, "failed", e.Failed)
	}
	b = bsoncore.AppendStringElement(b, "outcome", string(e.Outcome))
	b = appendInt(b, "status", e.Status)
	b = optString(b, "error_code", e.ErrorCode)
	b = optList(b, "changed_fields", e.ChangedFields)
	b = optString(b, "ip", e.IP)
	b = optString(b, "user_agent", e.UserAgent)
	b = bsoncore.AppendDoubleElement(b, "latency_ms", e.LatencyMS)
	b = bsoncore.AppendStringElement(b, "writer", e.Writer)
	b = bsoncore.AppendInt64Element(b, "seq", e.Seq)
	b = bsoncore.AppendStringElement(b, "prev_hash", e.PrevHash)
	b = bsoncore.AppendStringElement(b, "hash", e.Hash)
	return closeDoc(b, idx)
}

// closeDoc ends the document started at idx. bsoncore only fails on an
// index outside b, which the encoder never passes.
func closeDoc(b []byte, idx int32) []byte {
	b, err := bsoncore.AppendDocumentEnd(b, idx)
	if err != nil {
		panic("audit: " + err.Error())
	}
	return b
}

// listSize is what a list of strings adds to the document, roughly.
func listSize(l []string) int {
	n := 0
	for _, s := range l {
		n += len(s) + 12
	}
	return n
}

// optString appends key: s unless s is empty (omitempty).
func optString(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	return bsoncore.AppendStringElement(b, key, s)
}

// optList appends key: [l...] unless l is empty (omitempty leaves out nil
// and empty slices alike). Array keys are the indexes in decimal, written
// in place.
func optList(b []byte, key string, l []string) []byte {
	if len(l) == 0 {
		return b
	}
	idx, b := bsoncore.AppendArrayElementStart(b, key)
	for i, s := range l {
		b = append(b, byte(bsoncore.TypeString))
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, 0)
		b = bsoncore.AppendString(b, s)
	}
	return closeDoc(b, idx)
}

// appendInt appends a Go int as the driver does: int32 when it fits, int64
// otherwise.
func appendInt(b []byte, key string, v int) []byte {
	if v >= math.MinInt32 && v <= math.MaxInt32 {
		return bsoncore.AppendInt32Element(b, key, int32(v)) //nolint:gosec // in range, checked above
	}
	return bsoncore.AppendInt64Element(b, key, int64(v))
}
