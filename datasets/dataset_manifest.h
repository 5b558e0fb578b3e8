// dataset.json: what a fetched or generated data set directory holds, so the
// benchmark and build commands can pick the metric and files without flags,
// and a repeated fetch can tell the directory is already complete.
#ifndef CAIRN_DATASETS_DATASET_MANIFEST_H_
#define CAIRN_DATASETS_DATASET_MANIFEST_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/metric.h"

namespace cairn {

struct DatasetManifest {
  std::string name;
  Metric metric = Metric::kL2;
  uint32_t dim = 0;
  uint64_t num_base = 0;
  uint32_t num_queries = 0;
  uint32_t gt_k = 0;
  std::string source;   // where the data came from, for reports
  std::string params;   // the parameters that made it, to detect a stale directory
};

// Written last (write temp, fsync, rename, fsync directory), so its presence
// means the set is complete.
absl::Status WriteDatasetManifest(const std::string& dir, const DatasetManifest& m);
absl::StatusOr<DatasetManifest> ReadDatasetManifest(const std::string& dir);
// True when dir has a manifest with these params and base/query/gt files.
bool DatasetComplete(const std::string& dir, const std::string& params);

}  // namespace cairn

#endif  // CAIRN_DATASETS_DATASET_MANIFEST_H_
