package audit_test

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
	"github.com/permission-mongo/permission-mongo/internal/audit"
	"github.com/permission-mongo/permission-mongo/internal/principal"
	"github.com/permission-mongo/permission-mongo/internal/store"
)

func fullEntry() audit.Entry {
	return audit.Entry{
		ID: "w-000000000001", TS: time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC),
		RequestID:  "r1",
		Actor:      audit.Actor{ID: "u1", TenantID: "t1", Roles: []string{"a", "b"}, Auth: "jwt", KeyID: "sub"},
		Action:     "update",
		Collection: "orders",
		DocIDs:     []string{"1", "2"}, Count: 2, Failed: 1,
		Outcome: audit.OutcomeAllowed, Status: 200, ErrorCode: "",
		ChangedFields: []string{"a", "b.c"},
		IP:            "1.2.3.4", UserAgent: "ua", LatencyMS: 12.345,
		Writer: "w", Seq: 1, PrevHash: audit.Genesis("w"),
	}
}

// Every field except Hash is covered by the hash: changing any one of them
// changes it.
func TestHashCoversEveryField(t *testing.T) {
	base := fullEntry()
	h := audit.HashOf(&base)
	mutators := map[string]func(e *audit.Entry){
		"id":             func(e *audit.Entry) { e.ID += "x" },
		"ts":             func(e *audit.Entry) { e.TS = e.TS.Add(time.Millisecond) },
		"request_id":     func(e *audit.Entry) { e.RequestID += "x" },
		"actor.id":       func(e *audit.Entry) { e.Actor.ID += "x" },
		"actor.tenant":   func(e *audit.Entry) { e.Actor.TenantID += "x" },
		"actor.roles":    func(e *audit.Entry) { e.Actor.Roles = []string{"a"} },
		"actor.roles2":   func(e *audit.Entry) { e.Actor.Roles = []string{"ab"} }, // not the concatenation
		"actor.auth":     func(e *audit.Entry) { e.Actor.Auth = "api_key" },
		"actor.key_id":   func(e *audit.Entry) { e.Actor.KeyID += "x" },
		"action":         func(e *audit.Entry) { e.Action = "delete" },
		"collection":     func(e *audit.Entry) { e.Collection += "x" },
		"doc_ids":        func(e *audit.Entry) { e.DocIDs = []string{"2", "1"} },
		"count":          func(e *audit.Entry) { e.Count++ },
		"failed":         func(e *audit.Entry) { e.Failed++ },
		"outcome":        func(e *audit.Entry) { e.Outcome = audit.OutcomeDenied },
		"status":         func(e *audit.Entry) { e.Status = 403 },
		"error_code":     func(e *audit.Entry) { e.ErrorCode = "FORBIDDEN" },
		"changed_fields": func(e *audit.Entry) { e.ChangedFields = nil },
		"ip":             func(e *audit.Entry) { e.IP += "x" },
		"user_agent":     func(e *audit.Entry) { e.UserAgent += "x" },
		"latency_ms":     func(e *audit.Entry) { e.LatencyMS += 0.001 },
		"writer":         func(e *audit.Entry) { e.Writer += "x" },
		"seq":            func(e *audit.Entry) { e.Seq++ },
		"prev_hash":      func(e *audit.Entry) { e.PrevHash = audit.Genesis("other") },
		// A value moved from one field to its neighbour must not hash alike.
		"shift": func(e *audit.Entry) { e.RequestID, e.Actor.ID = "", "r1u1" },
	}
	for name, mutate := range mutators {
		t.Run(name, func(t *testing.T) {
			e := fullEntry()
			e.Actor.Roles = append([]string(nil), e.Actor.Roles...)
			mutate(&e)
			require.NotEqual(t, h, audit.HashOf(&e))
		})
	}
	e := fullEntry()
	e.Hash = "anything"
	require.Equal(t, h, audit.HashOf(&e), "Hash itself is not hashed")
}

// The hash survives the round trips an entry makes: BSON (MongoDB) and JSON
// (spill file, GET /audit). nil and empty lists hash alike because those
// round trips turn one into the other.
func TestHashSurvivesRoundTrips(t *testing.T) {
	e := fullEntry()
	e.Hash = audit.HashOf(&e)

	raw, err := bson.Marshal(e)
	require.NoError(t, err)
	var fromBSON audit.Entry
	require.NoError(t, bson.Unmarshal(raw, &fromBSON))
	require.Equal(t, e.Hash, audit.HashOf(&fromBSON))

	js, err := json.Marshal(e)
	require.NoError(t, err)
	var fromJSON audit.Entry
	require.NoError(t, json.Unmarshal(js, &fromJSON))
	require.Equal(t, e.Hash, audit.HashOf(&fromJSON))

	empty := fullEntry()
	empty.DocIDs, empty.ChangedFields, empty.Actor.Roles = []string{}, []string{}, []string{}
	none := fullEntry()
	none.DocIDs, none.ChangedFields, none.Actor.Roles = nil, nil, nil
	require.Equal(t, audit.HashOf(&empty), audit.HashOf(&none))
}

// The contract's field names, on the wire.
func TestEntryJSONFields(t *testing.T) {
	js, err := json.Marshal(fullEntry())
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(js, &m))
	for _, k := range []string{"id", "ts", "request_id", "actor", "action", "collection", "doc_ids", "count",
		"outcome", "status", "changed_fields", "ip", "user_agent", "latency_ms", "hash", "prev_hash", "writer", "seq"} {
		require.Contains(t, m, k)
	}
	require.ElementsMatch(t, []string{"id", "tenant_id", "roles", "auth", "key_id"}, slices.Collect(maps.Keys(m["actor"].(map[string]any))))
}

// ARCHITECTURE.md, security rule 16: the entry type has no place for a secret or a
// document value, and ActorOf leaves the claims (which can hold anything)
// behind.
func TestNoPlaceForSecrets(t *testing.T) {
	forbidden := []string{"password", "secret", "token", "apikey", "api_key", "claims", "value", "values", "doc", "document", "body", "before", "after"}
	var walk func(t reflect.Type, path string)
	walk = func(typ reflect.Type, path string) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			name := strings.ToLower(f.Name)
			tag := strings.Split(f.Tag.Get("json"), ",")[0]
			for _, bad := range forbidden {
				require.NotEqual(t, bad, name, "%s.%s", path, f.Name)
				require.NotEqual(t, bad, tag, "%s.%s", path, f.Name)
			}
			switch f.Type.Kind() {
			case reflect.Struct:
				if f.Type != reflect.TypeOf(time.Time{}) {
					walk(f.Type, path+"."+f.Name)
				}
			case reflect.Map, reflect.Interface:
				t.Errorf("%s.%s: a map or interface field could carry anything", path, f.Name)
			case reflect.Slice:
				require.Equal(t, reflect.String, f.Type.Elem().Kind(), "%s.%s", path, f.Name)
			}
		}
	}
	walk(reflect.TypeOf(audit.Entry{}), "Entry")

	p := &principal.Principal{ID: "u1", TenantID: "t1", Roles: []string{"r"}, Auth: "jwt", KeyID: "sub-1",
		Claims: map[string]any{"access_token": "eyJhbGciOi.secret", "ssn": "123-45-6789"}}
	a := audit.ActorOf(p)
	js, err := json.Marshal(a)
	require.NoError(t, err)
	require.NotContains(t, string(js), "secret")
	require.NotContains(t, string(js), "123-45")
	require.Equal(t, audit.Actor{ID: "u1", TenantID: "t1", Roles: []string{"r"}, Auth: "jwt", KeyID: "sub-1"}, a)
	require.Equal(t, audit.Actor{}, audit.ActorOf(nil))
}

func TestOutcomeOf(t *testing.T) {
	for status, want := range map[int]audit.Outcome{
		200: audit.OutcomeAllowed, 201: audit.OutcomeAllowed, 204: audit.OutcomeAllowed,
		401: audit.OutcomeDenied, 403: audit.OutcomeDenied,
		400: audit.OutcomeError, 404: audit.OutcomeError, 409: audit.OutcomeError, 500: audit.OutcomeError, 503: audit.OutcomeError,
	} {
		require.Equal(t, want, audit.OutcomeOf(status), "status %d", status)
	}
}

// What a client controls is cut to size and made valid UTF-8 before it is
// hashed, so the stored entry hashes the same after the server's round trip.
func TestRecordNormalizes(t *testing.T) {
	coll := auditColl(t)
	w := newWriter(t, coll, audit.Options{})
	e := entry("find", "c", 1)
	e.UserAgent = strings.Repeat("é", 1000) + "\xff"
	e.RequestID = "bad\xffutf8"
	e.ChangedFields = []string{"b", "a", "b"}
	e.ID, e.Hash, e.Seq, e.Writer = "forged", "forged", 99, "forged" // overwritten by the writer
	e.Outcome = ""
	e.Status = 403
	require.NoError(t, w.Record(t.Context(), e))
	closeWriter(t, w)

	got := stored(t, coll)
	require.Len(t, got, 1)
	g := got[0]
	require.LessOrEqual(t, len(g.UserAgent), 512)
	require.True(t, strings.HasPrefix(g.UserAgent, "éé"))
	require.Equal(t, "bad\uFFFDutf8", g.RequestID)
	require.Equal(t, []string{"a", "b"}, g.ChangedFields)
	require.Equal(t, audit.OutcomeDenied, g.Outcome)
	require.Equal(t, audit.ChainOf(w.ID(), "t1"), g.Writer, "the tenant's chain")
	require.EqualValues(t, 1, g.Seq)
	require.Equal(t, audit.Genesis(g.Writer), g.PrevHash)
	require.Equal(t, audit.HashOf(&g), g.Hash)
	require.True(t, verifyAll(t, coll).OK)
}

func TestOptionsValidation(t *testing.T) {
	_, err := audit.NewWriter(audit.Options{})
	require.Error(t, err)
	coll := auditColl(t)
	_, err = audit.NewWriter(audit.Options{Collection: store.NewCollection(coll), Mode: "sometimes"})
	require.Error(t, err)
	_, err = audit.NewWriter(audit.Options{Collection: store.NewCollection(coll), Mode: audit.ModeBuffer})
	require.ErrorContains(t, err, "SpillPath")
	require.Equal(t, apperr.KindInternal, apperr.KindOf(err), "a configuration error, not a request error")
}
