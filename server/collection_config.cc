#include "server/collection_config.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "index/spann/spann_limits.h"
#include "nlohmann/json.hpp"
#include "storage/record_file.h"

namespace cairn {

namespace {

constexpr char kCollectionMagic[] = "CAIRNCOL";

}  // namespace

absl::StatusOr<VectorDistance> ParseDistance(const std::string& name) {
  if (name == "Cosine") return VectorDistance::kCosine;
  if (name == "Euclid") return VectorDistance::kEuclid;
  if (name == "Dot") return VectorDistance::kDot;
  if (name == "Manhattan") return VectorDistance::kManhattan;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown distance \"", name, "\" (Cosine, Euclid, Dot or Manhattan)"));
}

const char* DistanceName(VectorDistance d) {
  switch (d) {
    case VectorDistance::kCosine:
      return "Cosine";
    case VectorDistance::kEuclid:
      return "Euclid";
    case VectorDistance::kDot:
      return "Dot";
    case VectorDistance::kManhattan:
      return "Manhattan";
  }
  return "?";
}

int SparseSlotOf(const CollectionConfig& c, const std::string& name) {
  for (size_t i = 0; i < c.sparse_vectors.size(); ++i) {
    if (c.sparse_vectors[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

absl::Status WriteConfigFile(Env* env, const std::string& dir, const CollectionConfig& c) {
  nlohmann::json j = {{"size", c.size},
                      {"distance", DistanceName(c.distance)},
                      {"max_postings", c.max_postings},
                      {"target_recall", c.target_recall},
                      {"sync_writes", c.sync_writes}};
  if (c.vector_name.has_value()) j["vector_name"] = *c.vector_name;
  if (!c.sparse_vectors.empty()) {
    nlohmann::json sparse = nlohmann::json::array();
    for (const SparseVectorConfig& s : c.sparse_vectors) {
      sparse.push_back({{"name", s.name}, {"modifier", s.modifier == SparseModifier::kIdf ? "idf" : "none"}});
    }
    j["sparse_vectors"] = sparse;
  }
  return WriteRecordFile(env, dir + "/collection.json", kCollectionMagic, ConfigVersionFor(c),
                         j.dump());
}

absl::StatusOr<CollectionConfig> ReadConfigFile(Env* env, const std::string& dir,
                                                uint32_t* version) {
  const std::string path = dir + "/collection.json";
  CAIRN_ASSIGN_OR_RETURN(std::string body, ReadRecordFile(env, path, kCollectionMagic,
                                                          kCollectionConfigVersion, version));
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("size") ||
      !j["size"].is_number_unsigned() || !j.contains("distance") || !j["distance"].is_string() ||
      (j.contains("vector_name") && !j["vector_name"].is_string())) {
    return absl::DataLossError(absl::StrCat(path, ": malformed collection config"));
  }
  CollectionConfig c;
  c.size = j["size"].get<uint32_t>();
  auto distance = ParseDistance(j["distance"].get<std::string>());
  if (!distance.ok()) {
    return absl::DataLossError(absl::StrCat(path, ": ", distance.status().message()));
  }
  c.distance = *distance;
  if (j.contains("vector_name")) c.vector_name = j["vector_name"].get<std::string>();
  if (j.contains("sparse_vectors")) {
    const nlohmann::json& sparse = j["sparse_vectors"];
    if (!sparse.is_array()) return absl::DataLossError(absl::StrCat(path, ": malformed sparse_vectors"));
    for (const nlohmann::json& s : sparse) {
      if (!s.is_object() || !s.contains("name") || !s["name"].is_string() ||
          !s.contains("modifier") || !s["modifier"].is_string()) {
        return absl::DataLossError(absl::StrCat(path, ": malformed sparse_vectors"));
      }
      SparseVectorConfig sc;
      sc.name = s["name"].get<std::string>();
      sc.modifier = s["modifier"] == "idf" ? SparseModifier::kIdf : SparseModifier::kNone;
      c.sparse_vectors.push_back(std::move(sc));
    }
  }
  c.max_postings = j.value("max_postings", 32u);
  c.target_recall = j.value("target_recall", 0.0);
  c.sync_writes = j.value("sync_writes", true);
  if (c.max_postings == 0 || c.max_postings > kMaxPostingsPerQuery ||
      !(c.target_recall >= 0 && c.target_recall <= 1)) {
    return absl::DataLossError(absl::StrCat(path, ": search defaults out of range"));
  }
  return c;
}

}  // namespace cairn
