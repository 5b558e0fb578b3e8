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
#include "server/vector_json.h"

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
// The body of PUT /collections/{name}: "vectors" is one vector, unnamed
// ({"size": N, "distance": "Cosine" | "Euclid" | "Dot" | "Manhattan"}) or a
// map with one name ({"<name>": {"size", "distance"}}); "sparse_vectors"
// named with an optional idf modifier (api.md, "Sparse vectors"); "cairn": {"max_postings", "sync_writes"}.
// InvalidArgument naming the field for what Cairn cannot do (several named
// vectors, multivectors, datatypes other than float32).
absl::StatusOr<CollectionConfig> ParseCollectionConfig(const Json& body);
// The "vectors" of collection info: the config as it was given.
Json VectorsConfigJson(const CollectionConfig& c);
// Its "sparse_vectors": {"<name>": {"modifier": "idf"}?}.
Json SparseVectorsConfigJson(const CollectionConfig& c);

Json RecordJson(const PointData& p, const PayloadSelector& payload, const VectorSelector& vectors,
                const CollectionConfig& c);
Json ScoredJson(const ScoredPoint& p, const PayloadSelector& payload, const VectorSelector& vectors,
                const CollectionConfig& c);

}  // namespace cairn

#endif  // CAIRN_SERVER_API_JSON_H_
