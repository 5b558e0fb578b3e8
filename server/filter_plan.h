// How a filter uses a collection's payload indexes (payload_index.h).
//
// BindTextIndexes: Qdrant's `match.text` is a substring test without a
// full-text index and a token match with one; this rewrites every text,
// text_any and phrase condition whose key has a text index into a token
// match (filter_tree.h's MatchTokens) with that index's tokenizer. Nested
// filters keep their conditions as written (their keys are relative to the
// nested array's elements).
//
// PlanCandidates: a sorted superset of the store keys of the points that
// match, from the indexes, or nullopt when the filter has no condition an
// index can answer (then every point must be examined). The rules: the
// top-level (and sub-filter) `must` intersects the candidates of the
// conditions an index answers and ignores the others; `should` gives the
// union of its conditions' candidates when an index answers each of them;
// must_not, min_should, values_count, is_empty, is_null, except and nested
// give none. Answered conditions: match value/any (keyword, uuid, integer,
// bool indexes), range (integer, float), datetime range (datetime), text
// matches bound to a text index, and has_id (without any index).
//
// Thread-safety: as PayloadIndex's readers.
#ifndef CAIRN_SERVER_FILTER_PLAN_H_
#define CAIRN_SERVER_FILTER_PLAN_H_

#include <optional>

#include "server/filter.h"
#include "server/payload_index.h"

namespace cairn {

Filter BindTextIndexes(const Filter& filter, const PayloadIndex& index);
std::optional<PayloadIndex::Keys> PlanCandidates(const Filter& filter, const PayloadIndex& index);

}  // namespace cairn

#endif  // CAIRN_SERVER_FILTER_PLAN_H_
