// Ground truth: exact k nearest neighbours of each query.
//
// File format "ibin ground truth" (big-ann-benchmarks): int32 n, int32 k,
// n*k int32 ids, then n*k float32 distances. Distances follow index/metric.h
// (squared L2, -dot, 1 - cos). An ivecs file of ids (TEXMEX style) is also
// accepted on read; its distances are then empty.
#ifndef CAIRN_DATASETS_GROUND_TRUTH_H_
#define CAIRN_DATASETS_GROUND_TRUTH_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/metric.h"

namespace cairn {

struct GroundTruth {
  uint32_t num_queries = 0;
  uint32_t k = 0;
  std::vector<int32_t> ids;     // num_queries * k, row-major, nearest first
  std::vector<float> distances;  // num_queries * k, or empty
  const int32_t* row(uint32_t q) const { return ids.data() + static_cast<size_t>(q) * k; }
};

absl::StatusOr<GroundTruth> ReadGroundTruth(const std::string& path);
absl::Status WriteGroundTruth(const std::string& path, const GroundTruth& gt);

struct GroundTruthOptions {
  uint32_t k = 100;
  Metric metric = Metric::kL2;
  int threads = 0;                              // 0: all cores
  uint64_t memory_budget_bytes = 2ull << 30;    // base block + scores + heaps
  bool progress = true;
};

// Exact top-k of every query over a base file of any size, by blocked SGEMM
// (OpenBLAS): queries are held in RAM, the base is streamed in blocks that fit
// the memory budget. Ties are broken by the smaller id. When the base has
// fewer than k vectors, the rest of each row is id -1 and distance +inf.
absl::StatusOr<GroundTruth> ComputeGroundTruth(const std::string& base_path,
                                               const std::string& query_path,
                                               const GroundTruthOptions& options);

// recall@k of result ids (num_queries * result_k, row-major) against the
// ground truth: |result top-k ∩ gt top-k| / k averaged over queries.
double RecallAtK(const GroundTruth& gt, const std::vector<int64_t>& result_ids,
                 uint32_t result_k, uint32_t k);

}  // namespace cairn

#endif  // CAIRN_DATASETS_GROUND_TRUTH_H_
