// JSON helpers of the REST layer: typed field access that answers with a
// message naming the field, point and payload selectors, and the Qdrant
// record shapes.
#ifndef CAIRN_SERVER_API_JSON_H_
#define CAIRN_SERVER_API_JSON_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "server/collection.h"

namespace cairn {

using Json = nlohmann::json;

// Body -> object; "" -> {}. InvalidArgument with the parser's message.
absl::StatusOr<Json> ParseBody(const std::string& body);

absl::StatusOr<std::vector<float>> ParseVector(const Json& j, const std::string& where);
absl::StatusOr<std::optional<uint32_t>> OptUint(const Json& obj, const char* key,
                                                const std::string& where);
absl::StatusOr<std::optional<double>> OptNumber(const Json& obj, const char* key,
                                                const std::string& where);
absl::StatusOr<std::optional<bool>> OptBool(const Json& obj, const char* key,
                                            const std::string& where);
absl::StatusOr<std::vector<ExternalId>> ParseIdList(const Json& j, const std::string& where);

// with_payload: true/false, a list of keys, {"include": [...]} or
// {"exclude": [...]}. Keys are top-level names or dot paths.
struct PayloadSelector {
  bool enabled = false;
  std::vector<std::string> include, exclude;
  static absl::StatusOr<PayloadSelector> Parse(const Json* j, bool fallback);
  Json Apply(const Json& payload) const;
};
// with_vector: true/false (one unnamed vector per point).
absl::StatusOr<bool> ParseWithVector(const Json* j, bool fallback);

// The body of PUT /collections/{name}: {"vectors": {"size": N, "distance":
// "Cosine" | "Euclid" | "Dot"}, "cairn": {"max_postings", "sync_writes"}}.
// InvalidArgument naming the field for anything else.
absl::StatusOr<CollectionConfig> ParseCollectionConfig(const Json& body);

Json RecordJson(const PointData& p, const PayloadSelector& payload, bool with_vector);
Json ScoredJson(const ScoredPoint& p, const PayloadSelector& payload, bool with_vector);

}  // namespace cairn

#endif  // CAIRN_SERVER_API_JSON_H_
