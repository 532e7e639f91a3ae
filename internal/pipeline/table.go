package pipeline

import (
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/permission-mongo/permission-mongo/internal/apperr"
)

// stageTable is every stage this package knows: the ones it accepts (with
// the check that rewrites them), the ones it refuses with a reason, and
// where each carries nested pipelines or accumulators. Rewrite, StagesUsed
// and docs/aggregation.md all follow it (TestStageTableDocs keeps the docs
// in step); a stage missing from the table is refused as unknown.
var stageTable = []stageDef{
	{name: "$match", check: func(w *walker, c stageCall) (bson.D, error) { return c.keep(w.match(c.arg, c.sc, c.loc)) }},
	{name: "$project", check: func(w *walker, c stageCall) (bson.D, error) { return c.keep(w.project(c.arg, c.sc, c.loc)) }},
	{name: "$addFields", check: checkAddFields},
	{name: "$set", check: checkAddFields},
	{name: "$unset", check: func(_ *walker, c stageCall) (bson.D, error) { return c.keep(unsetSpec(c.arg, c.loc)) }},
	{name: "$sort", check: func(w *walker, c stageCall) (bson.D, error) { return c.keep(w.sort(c.arg, c.sc, c.loc)) }},
	{name: "$limit", check: func(_ *walker, c stageCall) (bson.D, error) { return c.keep(checkCount(c.arg, 1, c.loc)) }},
	{name: "$skip", check: func(_ *walker, c stageCall) (bson.D, error) { return c.keep(checkCount(c.arg, 0, c.loc)) }},
	{name: "$sample", check: func(w *walker, c stageCall) (bson.D, error) { return c.keep(w.sample(c.arg, c.loc)) }},
	{name: "$count", check: checkCountStage},
	{name: "$group", check: func(w *walker, c stageCall) (bson.D, error) { return c.keep(w.group(c.arg, c.sc, c.loc)) }, nested: nestedGroup},
	{name: "$unwind", check: func(w *walker, c stageCall) (bson.D, error) { return c.keep(w.unwind(c.arg, c.sc, c.loc)) }},
	{name: "$replaceRoot", check: checkReplaceRoot},
	{name: "$replaceWith", check: checkReshapeExpr},
	{name: "$sortByCount", check: checkReshapeExpr},
	{name: "$bucket", check: checkBucket, nested: nestedOutput},
	{name: "$bucketAuto", check: checkBucket, nested: nestedOutput},
	{name: "$facet", check: func(w *walker, c stageCall) (bson.D, error) { return w.facet(c.arg, c.sc, c.depth, c.loc) }, nested: nestedFacets},
	{name: "$lookup", check: func(w *walker, c stageCall) (bson.D, error) { return w.lookup(c.arg, c.sc, c.depth, c.loc) }, nested: nestedPipeline},
	{name: "$graphLookup", check: func(w *walker, c stageCall) (bson.D, error) { return w.graphLookup(c.arg, c.sc, c.depth, c.loc) }},
	{name: "$unionWith", check: func(w *walker, c stageCall) (bson.D, error) { return w.unionWith(c.arg, c.sc, c.depth, c.loc) }, nested: nestedPipeline},

	// Known to the server, refused anywhere in the tree. Listing them only
	// makes the message better than "unknown".
	{name: "$out", refused: "stages that write are not allowed"},
	{name: "$merge", refused: "stages that write are not allowed"},
	{name: "$collStats", refused: "diagnostic stages are not allowed"},
	{name: "$indexStats", refused: "diagnostic stages are not allowed"},
	{name: "$currentOp", refused: "diagnostic stages are not allowed"},
	{name: "$planCacheStats", refused: "diagnostic stages are not allowed"},
	{name: "$listSessions", refused: "diagnostic stages are not allowed"},
	{name: "$listLocalSessions", refused: "diagnostic stages are not allowed"},
	{name: "$listSampledQueries", refused: "diagnostic stages are not allowed"},
	{name: "$querySettings", refused: "diagnostic stages are not allowed"},
	{name: "$shardedDataDistribution", refused: "diagnostic stages are not allowed"},
	{name: "$changeStream", refused: "change streams are not supported"},
	{name: "$changeStreamSplitLargeEvent", refused: "change streams are not supported"},
	{name: "$documents", refused: "stages that do not read a collection are not allowed"},
	{name: "$function", refused: "server-side JavaScript is not allowed"},
	{name: "$accumulator", refused: "server-side JavaScript is not allowed"},
	{name: "$where", refused: "server-side JavaScript is not allowed"},
}

// stageDef is one row of stageTable: exactly one of check and refused is set.
type stageDef struct {
	name string
	// check checks an accepted stage and returns it as it is to be sent.
	check func(w *walker, c stageCall) (bson.D, error)
	// refused is the reason a refused stage gives the client.
	refused string
	// nested is where StagesUsed looks for more stage (or accumulator) names.
	nested nested
}

type nested int

const (
	nestedNone     nested = iota
	nestedPipeline        // the "pipeline" argument ($lookup, $unionWith)
	nestedFacets          // every argument is a pipeline ($facet)
	nestedGroup           // accumulators in the fields other than _id ($group)
	nestedOutput          // accumulators in the "output" argument ($bucket, $bucketAuto)
)

// stageCall is one client stage being checked.
type stageCall struct {
	name  string
	arg   any
	sc    *scope
	depth int
	loc   string
}

// keep sends the stage unchanged once its check passed.
func (c stageCall) keep(err error) (bson.D, error) {
	if err != nil {
		return nil, err
	}
	return bson.D{{Key: c.name, Value: c.arg}}, nil
}

// stageByName indexes stageTable by name. It is filled by init rather than by
// its declaration because the checks in the table reach back to it
// (walker.stage), which Go would refuse as an initialization cycle.
var stageByName = map[string]stageDef{}

func init() {
	for _, d := range stageTable {
		stageByName[d.name] = d
	}
}

func checkAddFields(w *walker, c stageCall) (bson.D, error) {
	return c.keep(w.addFields(c.arg, c.sc, c.loc))
}

func checkBucket(w *walker, c stageCall) (bson.D, error) {
	return c.keep(w.bucket(c.name, c.arg, c.sc, c.loc))
}

func checkCountStage(_ *walker, c stageCall) (bson.D, error) {
	s, ok := c.arg.(string)
	if !ok {
		return nil, apperr.Invalid("%s: $count takes a field name", c.loc)
	}
	if err := checkFieldName(s, c.loc); err != nil {
		return nil, err
	}
	c.sc.reshape()
	return c.keep(nil)
}

func checkReplaceRoot(w *walker, c stageCall) (bson.D, error) {
	d, err := spec(c.arg, c.loc, "newRoot")
	if err != nil {
		return nil, err
	}
	if _, has := get(d, "newRoot"); !has {
		return nil, apperr.Invalid("%s: $replaceRoot requires newRoot", c.loc)
	}
	if err := w.expr(d[0].Value, c.sc, c.loc, 1); err != nil {
		return nil, err
	}
	if !isRoot(d[0].Value) {
		c.sc.reshape()
	}
	return c.keep(nil)
}

// checkReshapeExpr: $replaceWith and $sortByCount take one expression and
// build new documents from it.
func checkReshapeExpr(w *walker, c stageCall) (bson.D, error) {
	if err := w.expr(c.arg, c.sc, c.loc, 1); err != nil {
		return nil, err
	}
	if c.name != "$replaceWith" || !isRoot(c.arg) {
		c.sc.reshape()
	}
	return c.keep(nil)
}
