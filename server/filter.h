// Qdrant-compatible payload filters: the `filter` object of search, scroll,
// count and delete requests, parsed once into an immutable tree and then
// evaluated against each candidate point's id and payload.
//
// Supported (Qdrant names): clauses must / should / must_not / min_should,
// each an array of conditions or a single condition; nested filters as
// conditions; field conditions {"key", match: value | any | except | text |
// text_any | phrase}, {"key", range: gt/gte/lt/lte} on numbers or RFC 3339
// datetimes, {"key", values_count}; is_empty, is_null, has_id, nested.
// Anything else (geo_*, has_vector, unknown fields) is rejected by Parse with
// InvalidArgument naming the path, e.g. "filter.must[1].range.gt: expected a
// number or a datetime string, got boolean".
//
// Semantics that differ from a naive reading (all follow Qdrant unless said):
// - Keys are dot paths; `a[]` projects every element of an array, `a[2]` one
//   element, and "quoted" segments may hold dots. Unlike current Qdrant
//   (whose `a.b` finds nothing when a is an array), a plain key part also
//   walks into an array of objects: `a.b` on {"a":[{"b":1},{"b":2}]} yields
//   1 and 2, the same as `a[].b`. A leaf that is an array is tested element
//   by element; arrays inside it are not.
// - A field condition holds when ANY value at the key satisfies it. A missing
//   key (or one that yields no values) fails match, range and text.
// - match.except holds when some value is not in the list, so ["a","z"]
//   passes except ["a"]; null, a missing key and [] fail it. Use
//   {"should": [except, is_empty]} to also keep points without the key.
// - match.value/any/except compare strings with strings, integers with
//   integers (a payload 3.0 counts as the integer 3), booleans with
//   booleans: 1 never matches true or "1".
// - is_empty: every value is null or [] (a missing key is empty);
//   is_null: some value is null itself ({"a": [null]} is not null).
// - values_count counts all values at the key (an array counts its
//   elements, null counts 0, a missing key counts 0) and compares the total.
// - "should": [] matches nothing (Qdrant issue #554); an empty filter, {},
//   and a null filter match everything.
//
// Thread-safety: a Filter is immutable after Parse; Matches may run on any
// number of threads at once. Copies share the parsed tree.
#ifndef CAIRN_SERVER_FILTER_H_
#define CAIRN_SERVER_FILTER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace cairn {

// A point id as the filter sees it. Mirrors index/id_map.h's ExternalId
// without depending on it: a number, or `text` holding ExternalId::ToString()
// (lowercase 8-4-4-4-12 for UUIDs, the raw bytes for other strings).
struct FilterPointId {
  bool is_number = false;
  uint64_t number = 0;
  std::string text;

  static FilterPointId Number(uint64_t n);
  // Canonicalises UUID-looking text with CanonicalPointIdText.
  static FilterPointId Text(std::string_view text);

  friend bool operator==(const FilterPointId& a, const FilterPointId& b) {
    return a.is_number == b.is_number && a.number == b.number && a.text == b.text;
  }
};

// 8-4-4-4-12 or 32 hex digits, either case (ExternalId::Uuid's rule), become
// lowercase 8-4-4-4-12; any other string is returned unchanged.
std::string CanonicalPointIdText(std::string_view text);

namespace filter_internal {
struct Clauses;
}  // namespace filter_internal

class Filter {
 public:
  // The empty filter: matches every point.
  Filter();

  // Parses Qdrant's filter object; null means no filter. Never throws.
  // InvalidArgument with the offending path for anything malformed or
  // unsupported; nesting deeper than kMaxDepth is rejected to bound recursion.
  static absl::StatusOr<Filter> Parse(const nlohmann::json& filter);
  static constexpr int kMaxDepth = 32;

  // True when the point matches. `payload` is the point's payload object;
  // null or any non-object counts as {}. `id.text` must be canonical
  // (FilterPointId::Text). Never throws and allocates nothing, except when
  // a datetime range parses the payload's strings.
  bool Matches(const FilterPointId& id, const nlohmann::json& payload) const;

  // True when the filter has no conditions at all, so it matches everything.
  bool empty() const;

  // Non-null when the top-level `must` holds a has_id condition: every
  // matching point's id is in this list (deduplicated), so the server may
  // visit only these points, calling Matches on each for the rest of the
  // filter. With several has_id conditions, the shortest list. Valid while
  // this Filter or a copy of it lives.
  const std::vector<FilterPointId>* CandidateIds() const { return candidate_ids_; }

  // The compiled tree (null for the empty filter), and a filter over a tree
  // rewritten from it (filter_plan.h binds text matches to text indexes).
  const std::shared_ptr<const filter_internal::Clauses>& root() const { return root_; }
  static Filter FromRoot(std::shared_ptr<const filter_internal::Clauses> root);

 private:
  std::shared_ptr<const filter_internal::Clauses> root_;
  const std::vector<FilterPointId>* candidate_ids_ = nullptr;
};

}  // namespace cairn

#endif  // CAIRN_SERVER_FILTER_H_
