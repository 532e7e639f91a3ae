package httpfuzz

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/query"
)

// finding is one failed property.
type finding struct {
	check  string // never-5xx, leak, oracle, stored-change, divergence
	detail string
}

// checkStatus: never a 5xx (501 NOT_SUPPORTED names a missing backend
// capability and is allowed), never a hang, and no batch item failing with
// an internal or unavailable error either.
func checkStatus(w string, r reply) []finding {
	if r.err != nil {
		return []finding{{"never-5xx", fmt.Sprintf("%s: transport error or hang: %v", w, r.err)}}
	}
	var out []finding
	if r.status >= 500 && !(r.status == 501 && bytes.Contains(r.body, []byte(`"NOT_SUPPORTED"`))) {
		out = append(out, finding{"never-5xx", fmt.Sprintf("%s: status %d: %s", w, r.status, clip(r.body))})
	}
	if r.status < 500 && (bytes.Contains(r.body, []byte(`"code":"INTERNAL"`)) || bytes.Contains(r.body, []byte(`"code":"UNAVAILABLE"`))) {
		out = append(out, finding{"never-5xx", fmt.Sprintf("%s: status %d with an item failing internally: %s", w, r.status, clip(r.body))})
	}
	return out
}

var (
	leakMarkers   = regexp.MustCompile(`(HIDSENT|MASKSENT|OTHERSENT)[A-Za-z0-9_]*|7777\d{3}`)
	viewerMarkers = regexp.MustCompile(`VWHID[A-Za-z0-9_]*|8888\d{3}`)
	requestID     = regexp.MustCompile(`"request_id":"[^"]*"`)
)

// checkLeak: no marker of a hidden value, an unmasked masked value or
// another tenant's document in the answer, unless the request itself
// carried that exact token (an error message may quote the client).
func checkLeak(w string, req request, c caller, r reply) []finding {
	sent := req.path + " " + string(req.body)
	// A request id is random hex and may contain any digits.
	body := requestID.ReplaceAllString(string(r.body), `"request_id":""`)
	var out []finding
	scan := func(re *regexp.Regexp) {
		for _, tok := range re.FindAllString(body, -1) {
			if !strings.Contains(sent, tok) {
				out = append(out, finding{"leak", fmt.Sprintf("%s: %s sees %q: %s", w, c.name, tok, clip(r.body))})
				return
			}
		}
	}
	scan(leakMarkers)
	if c.viewer {
		scan(viewerMarkers)
	}
	return out
}

// checkOracle: the twins differ only in what the caller cannot see, so the
// two answers must be the same up to request ids, server clocks, generated
// ids and cursors.
func checkOracle(req request, a, b reply) []finding {
	if a.err != nil || b.err != nil {
		return nil
	}
	na, nb := normalizeJSON(a.body), normalizeJSON(b.body)
	if req.kind == "aggregate" && a.status == 200 && b.status == 200 {
		na, nb = unordered(req, a.body), unordered(req, b.body)
	}
	if a.status != b.status || na != nb {
		return []finding{{"oracle", fmt.Sprintf("A: %d %s\n      B: %d %s", a.status, clipS(na), b.status, clipS(nb))}}
	}
	return nil
}

func normalizeJSON(b []byte) string {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "non-JSON: " + string(b)
	}
	out, _ := json.Marshal(normValue(v))
	return string(out)
}

// positional are the pipeline operators that pick documents or elements by
// position. Without a sort, the order a pipeline sees documents in is the
// storage order, which differs between two databases that received
// different physical writes; ties of a $sort are just as arbitrary. When
// one of these is present only the status is compared: even the number of
// results can differ ($limit then $group by a field).
var positional = []string{`"$limit"`, `"$skip"`, `"$first"`, `"$last"`, `"$arrayElemAt"`}

// unordered is an aggregation answer with order taken out: every array
// sorted, since $group, $push, $lookup and $unionWith order what they
// produce as the storage order falls.
func unordered(req request, body []byte) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		return "non-JSON: " + string(body)
	}
	data, _ := v["data"].([]any)
	for _, p := range positional {
		if bytes.Contains(req.body, []byte(p)) {
			return "picked by position"
		}
	}
	out, _ := json.Marshal(sortArrays(normValue(data)))
	return string(out)
}

func sortArrays(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = sortArrays(e)
		}
		return x
	case []any:
		keys := make([]string, len(x))
		for i, e := range x {
			b, _ := json.Marshal(sortArrays(e))
			keys[i] = string(b)
		}
		sort.Strings(keys)
		out := make([]any, len(keys))
		for i, k := range keys {
			out[i] = json.RawMessage(k)
		}
		return out
	}
	return v
}

var seededOIDs = map[string]bool{oidHex: true}

func normValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if d, ok := x["$date"]; ok && len(x) == 1 {
			_ = d
			return "<date>"
		}
		if id, ok := x["$oid"].(string); ok && len(x) == 1 && !seededOIDs[id] {
			return "<oid>"
		}
		if _, ok := x["$timestamp"]; ok && len(x) == 1 {
			return "<timestamp>"
		}
		m := make(map[string]any, len(x))
		for k, e := range x {
			switch k {
			case "request_id":
				m[k] = "<rid>"
			case "cursor":
				if _, ok := e.(string); ok {
					m[k] = "<cursor>"
					continue
				}
				m[k] = normValue(e)
			default:
				m[k] = normValue(e)
			}
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normValue(e)
		}
		return out
	}
	return v
}

// blindTargets are the paths an update writes without reading them
// ($set, $unset, $currentDate, a merge patch, a $rename's new name): a
// protected field may change when one of them names it (or a parent of
// it) exactly, without an index or positional segment below the field.
func blindTargets(update any) []string {
	u, ok := update.(O)
	if !ok {
		return nil
	}
	var out []string
	merge := len(u) > 0 && !strings.HasPrefix(u[0].k, "$")
	if merge {
		for _, e := range u {
			out = append(out, e.k)
		}
		return out
	}
	for _, op := range u {
		d, ok := op.v.(O)
		if !ok {
			continue
		}
		for _, e := range d {
			switch op.k {
			case "$set", "$unset", "$currentDate":
				out = append(out, e.k)
			case "$rename":
				if s, ok := e.v.(string); ok {
					out = append(out, s)
				}
			}
		}
	}
	return out
}

func isIndexOrPositional(seg string) bool {
	if seg == "" {
		return false
	}
	if strings.HasPrefix(seg, "$") {
		return true
	}
	for _, c := range seg {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func permitsChange(targets []string, protected string) bool {
	for _, t := range targets {
		segs := strings.Split(t, ".")
		if isIndexOrPositional(segs[len(segs)-1]) {
			continue
		}
		n := query.NormalizePath(t)
		if n == protected || strings.HasPrefix(protected, n+".") {
			return true
		}
	}
	return false
}

// values collects what path p holds in d, through arrays at any depth; an
// absent field is recorded so that removing one shows as a change.
func values(v any, segs []string) []any {
	if len(segs) == 0 {
		return []any{v}
	}
	switch x := v.(type) {
	case bson.D:
		for _, e := range x {
			if e.Key == segs[0] {
				return values(e.Value, segs[1:])
			}
		}
		return []any{"<absent>"}
	case bson.A:
		var out []any
		for _, el := range x {
			out = append(out, values(el, segs)...)
		}
		return append(out, fmt.Sprintf("<array of %d>", len(x)))
	}
	return []any{"<absent>"}
}

func pathValues(d bson.D, p string) []any { return values(d, strings.Split(p, ".")) }

// checkStored compares one world's documents before and after a write.
func checkStored(w string, req request, before, after map[string]bson.D) []finding {
	var out []finding
	targets := blindTargets(req.update)
	for _, id := range sortedKeys(before) {
		b := before[id]
		a, ok := after[id]
		if lookup(b, "tenant_id") != "t1" {
			if !ok || !reflect.DeepEqual(a, b) {
				out = append(out, finding{"stored-change", fmt.Sprintf("%s: document %s of another tenant changed or vanished", w, id)})
			}
			continue
		}
		if !ok {
			continue // deleted
		}
		for _, p := range denyWritePaths {
			if vb, va := pathValues(b, p), pathValues(a, p); !reflect.DeepEqual(vb, va) {
				out = append(out, finding{"stored-change", fmt.Sprintf("%s: %s: deny_write %s changed: %v -> %v", w, id, p, vb, va)})
			}
		}
		for _, p := range protectedPaths {
			if !req.put && permitsChange(targets, p) {
				continue
			}
			if vb, va := pathValues(b, p), pathValues(a, p); !reflect.DeepEqual(vb, va) {
				out = append(out, finding{"stored-change", fmt.Sprintf("%s: %s: unreadable %s changed without being named: %v -> %v", w, id, p, clipV(vb), clipV(va))})
			}
		}
	}
	for _, id := range sortedKeys(after) {
		if _, ok := before[id]; ok {
			continue
		}
		if t := lookup(after[id], "tenant_id"); t != "t1" {
			out = append(out, finding{"stored-change", fmt.Sprintf("%s: new document %s has tenant %v", w, id, t)})
		}
	}
	return out
}

// checkDivergence: after the same write the twins still agree on every
// field the caller can see; a write that behaved differently because of a
// hidden value is an oracle even when the answers matched.
func checkDivergence(a, b map[string]bson.D) []finding {
	pa, pb := visibleState(a), visibleState(b)
	if !reflect.DeepEqual(pa, pb) {
		return []finding{{"divergence", fmt.Sprintf("visible state differs:\n      A: %s\n      B: %s", clipS(strings.Join(pa, " | ")), clipS(strings.Join(pb, " | ")))}}
	}
	return nil
}

var unseen = map[string]bool{"secret": true, "email": true, "card": true, "grid": true,
	"created_at": true, "updated_at": true, "created_by": true, "updated_by": true}

func visibleState(docs map[string]bson.D) []string {
	var out []string
	for _, d := range docs {
		out = append(out, fmt.Sprint(visibleDoc(d, "")))
	}
	sort.Strings(out)
	return out
}

func visibleDoc(v any, prefix string) any {
	switch x := v.(type) {
	case bson.D:
		var out bson.D
		for _, e := range x {
			p := e.Key
			if prefix != "" {
				p = prefix + "." + e.Key
			}
			if unseen[p] || p == "nested.hid" || p == "nested.code" || p == "items.hid" {
				continue
			}
			out = append(out, bson.E{Key: e.Key, Value: visibleDoc(e.Value, p)})
		}
		return out
	case bson.A:
		out := make(bson.A, len(x))
		for i, el := range x {
			out[i] = visibleDoc(el, prefix)
		}
		return out
	case bson.DateTime, bson.Timestamp:
		return "<date>"
	case bson.ObjectID:
		if seededOIDs[x.Hex()] {
			return x
		}
		return "<oid>"
	}
	return v
}

func clip(b []byte) string { return clipS(string(b)) }

func clipS(s string) string {
	if len(s) > 400 {
		return s[:400] + "…"
	}
	return s
}

func clipV(v []any) string { return clipS(fmt.Sprint(v)) }
