package pipeline

import "go.mongodb.org/mongo-driver/v2/bson"

// StagesUsed lists the stage names a pipeline uses, sub-pipelines of
// $lookup, $unionWith and $facet included, in order of first use, without
// duplicates. It never fails: malformed parts are skipped (Rewrite reports
// them). The api layer uses it to name what a backend could not run when the
// server answers NotImplemented (store.TranslateFor), so it should be given
// the client's pipeline, not the rewritten one.
//
// $group, $bucket and $bucketAuto accumulators are listed too, as
// "$group $avg": a backend may run a stage but not every accumulator in it
// (FerretDB runs $group only with $sum and $count).
func StagesUsed(pipeline bson.A) []string {
	u := &used{seen: map[string]bool{}}
	if p, err := normalize(pipeline); err == nil {
		u.pipeline(p, 0)
	}
	return u.list
}

type used struct {
	list []string
	seen map[string]bool
}

func (u *used) add(s string) {
	if !u.seen[s] {
		u.seen[s] = true
		u.list = append(u.list, s)
	}
}

// maxUsedDepth bounds recursion on hostile input; Rewrite refuses far
// shallower trees anyway.
const maxUsedDepth = 32

func (u *used) pipeline(p bson.A, depth int) {
	if depth > maxUsedDepth {
		return
	}
	for _, st := range p {
		d, ok := st.(bson.D)
		if !ok || len(d) != 1 {
			continue
		}
		name := d[0].Key
		u.add(name)
		arg, _ := d[0].Value.(bson.D)
		switch stageByName[name].nested {
		case nestedPipeline:
			if sub, ok := get(arg, "pipeline"); ok {
				if a, ok := sub.(bson.A); ok {
					u.pipeline(a, depth+1)
				}
			}
		case nestedFacets:
			for _, e := range arg {
				if a, ok := e.Value.(bson.A); ok {
					u.pipeline(a, depth+1)
				}
			}
		case nestedGroup:
			u.accumulators(name, arg)
		case nestedOutput:
			if out, ok := get(arg, "output"); ok {
				od, _ := out.(bson.D)
				u.accumulators(name, od)
			}
		}
	}
}

func (u *used) accumulators(stage string, fields bson.D) {
	for _, e := range fields {
		if e.Key == "_id" && stageByName[stage].nested == nestedGroup {
			continue
		}
		if acc, ok := e.Value.(bson.D); ok && len(acc) == 1 {
			u.add(stage + " " + acc[0].Key)
		}
	}
}
