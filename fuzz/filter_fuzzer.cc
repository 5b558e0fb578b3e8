// Payload filters (server/filter.cc parse, server/filter_eval.cc match). The
// input is JSON: {"filter": F, "payload": P, "id": I} matches F against one
// point (P, I), any other JSON is a filter matched against a few fixed
// points, so that both the parser and the evaluator see fuzzed trees.
#include <cstddef>
#include <cstdint>
#include <string>

#include "nlohmann/json.hpp"
#include "server/filter.h"

namespace {

using Json = nlohmann::json;

const Json& FixedPayloads() {
  static const Json* payloads = new Json(Json::parse(R"([
    {"city": "Paris", "n": 3, "tags": ["a", "b"], "nested": {"x": [{"y": 1}, {"y": 2.5}]}},
    {"when": "2024-01-02T03:04:05Z", "empty": [], "none": null, "flag": true},
    {"a": {"b.c": [[1, 2], {"d": "text with words"}]}, "n": -7},
    null
  ])"));
  return *payloads;
}

cairn::FilterPointId IdOf(const Json& j) {
  if (j.is_number_unsigned()) return cairn::FilterPointId::Number(j.get<uint64_t>());
  if (j.is_string()) return cairn::FilterPointId::Text(j.get_ref<const std::string&>());
  return cairn::FilterPointId::Number(3);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Json j = Json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  const bool framed = j.is_object() && j.contains("filter") && j.contains("payload");
  absl::StatusOr<cairn::Filter> filter = cairn::Filter::Parse(framed ? j["filter"] : j);
  if (!filter.ok()) return 0;
  (void)filter->empty();
  if (const auto* ids = filter->CandidateIds(); ids != nullptr) (void)ids->size();
  if (framed) {
    (void)filter->Matches(IdOf(j.contains("id") ? j["id"] : Json()), j["payload"]);
    return 0;
  }
  uint64_t n = 0;
  for (const Json& payload : FixedPayloads()) {
    (void)filter->Matches(cairn::FilterPointId::Number(++n), payload);
    (void)filter->Matches(cairn::FilterPointId::Text("seven"), payload);
  }
  return 0;
}
