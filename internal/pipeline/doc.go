// Package pipeline rewrites a client's aggregation pipeline so that it can
// only see what the caller's read policy lets it see. It is pure: it never
// talks to the database, and policy decisions come in through the Access
// interface, so every rule here is tested without a server.
//
// The rewritten pipeline is, for the collection the request names and for
// every collection a stage reads ($lookup, $graphLookup, $unionWith, also
// nested in $facet and in sub-pipelines):
//
//  1. the caller's policy $match (always present: {} when the policy does
//     not restrict, a match-nothing filter when it can never match);
//  2. the removal and masking of the fields the caller cannot read, from the
//     strictest combination of the caller's field rules (policy.Decision's
//     StrictFields), because no later stage can tell which role granted
//     which document: an inclusion $project for allow lists (plus _id),
//     $unset of denied paths, and $set of masked top-level fields to the
//     constant "****" (masked sub-fields are removed, see below);
//  3. the client's stages, checked against allowlists of stages, expression
//     operators and accumulators.
//
// Security decisions (see docs/ and ARCHITECTURE.md, security rules 3-10):
//
//   - Masks are applied as the constant string "****" whatever the mask type:
//     a policy Masker is Go code the server cannot run, and the only
//     expression every supported backend evaluates is a plain constant
//     (FerretDB has no $cond, $concat or $literal, and stores "$a" given to
//     $set as the literal string). A string constant not starting with '$'
//     is a literal in every stage, so no $literal is needed. Consequences:
//     arrays are masked as a whole, and a masked field that is missing in a
//     document appears as "****" (its absence is not revealed either). A
//     masked sub-field (contact.zip) is removed instead: FerretDB turns a
//     $set of a dotted path into a new top-level field and leaves the real
//     value in place. The find endpoints, which mask in Go, show the mask's
//     partial form (j***@example.com) instead; aggregation output is never
//     more revealing than theirs.
//   - Field paths: every path a client stage uses before the documents are
//     reshaped must be readable unmasked (Target.Readable), like a filter:
//     $match (query.CheckFilter plus $expr), `$path` strings and $$ROOT/
//     $$CURRENT paths in expressions, literal $getField names, $sort keys,
//     inclusion $project paths, $unwind paths, $lookup localField, and in
//     the target collection $lookup foreignField and $graphLookup
//     connectFromField/connectToField/restrictSearchWithMatch. A masked
//     field is therefore refused for grouping or sorting (403) even though
//     after step 2 it only holds "****".
//   - Reshaping: after a stage that builds new documents ($group, $project
//     with inclusions or computed fields, $replaceRoot and $replaceWith other
//     than $$ROOT/$$CURRENT, $count, $bucket, $bucketAuto, $sortByCount,
//     $facet) paths are no longer checked:
//     every value in the new documents was computed by a checked stage from
//     stripped input. Likewise a path under a field created by an earlier
//     client stage ($addFields/$set keys, $lookup/$graphLookup `as`,
//     $graphLookup depthField, $unwind includeArrayIndex) is not checked:
//     its value was computed by a checked expression or comes from another
//     collection already filtered and stripped by that collection's policy.
//     Exclusions ($project with only 0s, $unset) remove data and are never
//     checked.
//   - After $unionWith the stream mixes two collections, so later paths must
//     be readable in both.
//   - What is not statically checkable is harmless because of step 2: a
//     computed $getField name, $$ROOT, $objectToArray, renames and
//     accumulators can only see stripped documents.
//   - $lookup with localField/foreignField keeps that form and gets
//     `pipeline: [policy $match, strip]` alongside (MongoDB 5.0+); the
//     equality join itself runs on unstripped target documents, which is why
//     foreignField must be readable in the target.
//   - $graphLookup cannot run a pipeline on the documents it collects, so
//     the target's policy filter is ANDed into restrictSearchWithMatch and
//     $graphLookup is refused (403) when the target has any field rules.
//   - Refused anywhere in the tree: writing stages ($out, $merge),
//     diagnostic stages, $documents, $changeStream, server-side JavaScript
//     ($function, $accumulator, $where, also inside $expr), unknown stages,
//     unknown expression operators and unknown system variables
//     ($$USER_ROLES would reveal the proxy's own database user).
//   - $expr is accepted at the top level of a $match only (it is split off
//     and checked as an expression; the rest goes through query.CheckFilter,
//     which refuses $expr nested in $and/$or).
//
// Every error is an *apperr.Error: KindInvalid (400) for syntax, refused
// stages and operators; KindForbidden (403) for unreadable fields and
// collections; KindTooLarge (413) for pipelines over Limits.
package pipeline
