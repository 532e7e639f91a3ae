// Package query validates everything a client sends that ends up inside a
// MongoDB command: Extended JSON documents, filters, sort and projection
// specifications, and update documents.
//
// The package is deliberately pure: it never talks to the database and never
// imports the policy package. Policy decisions ("may the caller read this
// path?", "may the caller write this path?") come in as callbacks, so the
// rules here can be tested exhaustively without a server and the policy
// engine cannot be bypassed by a code path that forgot to consult it.
//
// Design rules (ARCHITECTURE.md, security rules 3, 4, 9 and 10):
//
//   - Allowlists, not denylists: an operator that is not listed here is
//     refused, so a new server release cannot silently widen what clients can
//     do.
//   - Every field path a client names is reported to the caller's callback,
//     normalised (numeric array indexes and positional operators removed), so
//     a hidden field cannot be probed through a filter, a sort, a projection
//     or an update.
//   - Client values stay values: documents supplied as data may not carry
//     `$`-prefixed or dotted keys, because some servers and drivers read those
//     as operators or paths.
//   - Every limit is checked before the expensive work, and every rejection
//     is an *apperr.Error: KindInvalid (400), KindForbidden (403) or
//     KindTooLarge (413). No input makes these functions panic.
//
// Decisions where the HTTP contract is silent (to be mirrored in docs/):
//
//   - JSON bodies with duplicate keys, trailing data, or nesting deeper than
//     MaxJSONDepth are refused (400).
//   - A value document is an operator document when its first key starts
//     with `$` (the server's own rule); mixing operator and field keys in one
//     document is refused. `$`-prefixed keys deeper inside values are refused
//     everywhere, which also refuses DBRef-shaped values ({$ref, $id}).
//   - Filters: JavaScript values ($code) are refused even as comparison
//     operands; $not is only allowed on a field; an $elemMatch whose first key
//     is a field operator applies to the elements, otherwise its paths are
//     relative to the array field and only those inner paths are checked.
//     Equality on a whole document checks only the document's own path; the
//     callback must refuse parents of hidden fields.
//   - Limits with a zero field use DefaultLimits, never "unlimited".
//   - Sort: "-" prefix only; a duplicate field (also "a,-a") is refused; at
//     most MaxSortKeys keys; _id is appended as the tie-breaker with the
//     direction of the last key unless present.
//   - Fields: inclusion only ("-a" is refused as an exclusion); duplicates and
//     overlapping paths ("a" with "a.b") are refused.
//   - Updates: a merge patch becomes $set (null stores null); writing _id in
//     any form is a 400 (it is immutable, not a permission question);
//     $setOnInsert (upserts are off) and $bit (not needed) are refused;
//     pipeline-style updates are refused; two operators writing the same or
//     overlapping paths are refused up front. $pull conditions and $push
//     $sort keys are reported in Update.ReadPaths, to be checked as filter
//     paths.
package query
