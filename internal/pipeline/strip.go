package pipeline

import (
	"math"
	"sort"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/fieldpath"
)

// MaskedValue is what every masked field holds in an aggregation result.
// It is a plain string constant, so it is a literal in every stage and on
// every backend (see the package comment for why masks are not expressed).
const MaskedValue = "****"

// neverFilter matches no document: every stored document has an _id, and
// nothing is in the empty list. It is the same filter policy decisions use.
func neverFilter() bson.D {
	return bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{}}}}}
}

// policyMatch is the $match a target's documents must pass first.
func policyMatch(t *Target) bson.D {
	var f any = bson.D{}
	switch {
	case t.Never:
		f = neverFilter()
	case len(t.Filter) > 0:
		f = t.Filter
	}
	return bson.D{{Key: "$match", Value: f}}
}

// policyFilter is the filter alone, nil when nothing restricts.
func policyFilter(t *Target) any {
	switch {
	case t.Never:
		return neverFilter()
	case len(t.Filter) > 0:
		return t.Filter
	}
	return nil
}

// prefix is what is injected at the start of every pipeline that reads
// target: its policy $match, then the stripping of what the caller cannot
// read.
func prefix(t *Target) []any {
	out := []any{policyMatch(t)}
	for _, s := range stripStages(t) {
		out = append(out, s)
	}
	return out
}

// covers reports whether path r is p or a parent of p (fieldpath.Covers:
// index and positional segments are not field names).
func covers(r, p string) bool { return fieldpath.Covers(r, p) }

// outermost sorts and deduplicates paths and drops those below another one:
// the server refuses overlapping paths in one $project or $unset ("path
// collision"), and the parent already covers the child.
func outermost(paths []string) []string {
	s := append([]string(nil), paths...)
	sort.Strings(s)
	var out []string
	for _, p := range s {
		if p == "" {
			continue
		}
		dup := false
		for _, q := range out {
			if covers(q, p) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, p)
		}
	}
	return out
}

// stripStages removes and masks what t.Fields hides, in this order:
//
//   - allow list: an inclusion $project of the allowed paths, with _id,
//     which field rules never hide;
//   - deny: $unset of the denied paths (through arrays of documents too);
//   - mask: $set of each masked top-level field to MaskedValue. Fields
//     already removed (denied, or outside the allow list) are skipped, or
//     the $set would bring them back as "****".
//
// A masked path below the top level (contact.zip) is removed with the
// denied paths instead of being set to "****": FerretDB v1.24 answers a $set
// of "contact.zip" by adding a top-level field literally named
// "contact.zip" and leaving the real sub-field in place (measured by
// TestEndToEndAllowList), which would show the unmasked value. Removing it
// is correct on every backend and hides strictly more: only the existence
// of the sub-field, which "****" would have shown, is lost.
func stripStages(t *Target) []bson.D {
	f := t.Fields
	var out []bson.D
	allow := outermost(f.Allow)
	if len(allow) > 0 {
		proj := bson.D{{Key: "_id", Value: 1}}
		for _, p := range allow {
			if p != "_id" {
				proj = append(proj, bson.E{Key: p, Value: 1})
			}
		}
		out = append(out, bson.D{{Key: "$project", Value: proj}})
	}
	var top []string
	for p := range f.Mask {
		if !strings.Contains(p, ".") && p != "_id" {
			top = append(top, p)
		}
	}
	sort.Strings(top)
	remove := append([]string(nil), f.Deny...)
	for p := range f.Mask {
		// A sub-field of a masked top-level field goes with the whole
		// field's mask.
		if strings.Contains(p, ".") && !coveredByAny(top, p) {
			remove = append(remove, p)
		}
	}
	var unset []string
	for _, p := range outermost(remove) {
		if p != "_id" { // _id is never hidden: every view shows it
			unset = append(unset, p)
		}
	}
	if len(unset) > 0 {
		arr := bson.A{}
		for _, p := range unset {
			arr = append(arr, p)
		}
		out = append(out, bson.D{{Key: "$unset", Value: arr}})
	}
	set := bson.D{}
	for _, p := range top {
		if coveredByAny(unset, p) || (len(allow) > 0 && !relatedToAny(allow, p)) {
			continue
		}
		set = append(set, bson.E{Key: p, Value: MaskedValue})
	}
	if len(set) > 0 {
		out = append(out, bson.D{{Key: "$set", Value: set}})
	} else if len(unset) > 0 {
		out = append(out, stripBarrier)
	}
	return out
}

// stripBarrier ends a strip whose last stage is $unset. FerretDB v2 on
// DocumentDB evaluates a $set/$addFields that directly follows an $unset
// against the document as it was before the $unset, so a client's
// {"$addFields": {"x": "$$ROOT"}} would see the hidden fields (found by the
// generated HTTP test, internal/httpfuzz). A $limit far above the proxy's result cap
// keeps the two stages apart on that engine and changes nothing anywhere
// else (it is an int32: FerretDB v1 returns nothing for a $limit of 2^62);
// a $set barrier would not do on FerretDB v1, which stores "$_id"
// literally.
var stripBarrier = bson.D{{Key: "$limit", Value: int32(math.MaxInt32)}}

func coveredByAny(parents []string, p string) bool {
	for _, q := range parents {
		if covers(q, p) {
			return true
		}
	}
	return false
}

// relatedToAny: p survives an inclusion of list when one of them is p, a
// parent of p or below p.
func relatedToAny(list []string, p string) bool {
	for _, q := range list {
		if covers(q, p) || covers(p, q) {
			return true
		}
	}
	return false
}
