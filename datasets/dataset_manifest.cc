#include "datasets/dataset_manifest.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/json_fields.h"
#include "nlohmann/json.hpp"
#include "storage/env.h"

namespace cairn {

absl::Status WriteDatasetManifest(const std::string& dir, const DatasetManifest& m) {
  nlohmann::json j = {{"name", m.name},
                      {"metric", std::string(MetricName(m.metric))},
                      {"dim", m.dim},
                      {"num_base", m.num_base},
                      {"num_queries", m.num_queries},
                      {"gt_k", m.gt_k},
                      {"source", m.source},
                      {"params", m.params},
                      {"files", {{"base", "base.fbin"}, {"queries", "query.fbin"}, {"gt", "gt.ibin"}}}};
  return WriteFileAtomically(Env::Default(), dir + "/dataset.json", j.dump(2) + "\n");
}

absl::StatusOr<DatasetManifest> ReadDatasetManifest(const std::string& dir) {
  const std::string path = dir + "/dataset.json";
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": not found"));
  std::stringstream ss;
  ss << in.rdbuf();
  nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not valid JSON"));
  }
  DatasetManifest m;
  try {
    m.name = j.value("name", "");
    auto metric = ParseMetric(j.value("metric", "l2"));
    if (!metric.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", metric.status().message()));
    m.metric = *metric;
    // Not j.value(): it converts a float or a negative number unchecked.
    constexpr uint64_t kU32 = UINT32_MAX;
    absl::StatusOr<uint64_t> dim = JsonUint(j, "dim", kU32, 0);
    absl::StatusOr<uint64_t> num_base = JsonUint(j, "num_base", UINT64_MAX, 0);
    absl::StatusOr<uint64_t> num_queries = JsonUint(j, "num_queries", kU32, 0);
    absl::StatusOr<uint64_t> gt_k = JsonUint(j, "gt_k", kU32, 0);
    for (const auto* field : {&dim, &num_base, &num_queries, &gt_k}) {
      if (!field->ok()) {
        return absl::InvalidArgumentError(absl::StrCat(path, ": ", field->status().message()));
      }
    }
    m.dim = static_cast<uint32_t>(*dim);
    m.num_base = *num_base;
    m.num_queries = static_cast<uint32_t>(*num_queries);
    m.gt_k = static_cast<uint32_t>(*gt_k);
    m.source = j.value("source", "");
    m.params = j.value("params", "");
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", e.what()));
  }
  return m;
}

bool DatasetComplete(const std::string& dir, const std::string& params) {
  auto m = ReadDatasetManifest(dir);
  if (!m.ok() || m->params != params) return false;
  for (const char* f : {"/base.fbin", "/query.fbin", "/gt.ibin"}) {
    if (!std::filesystem::exists(dir + f)) return false;
  }
  return true;
}

}  // namespace cairn
