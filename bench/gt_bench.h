// `cairn bench gt`: times Cairn's exact ground truth (datasets/ground_truth.h)
// against faiss IndexFlatL2 / IndexFlatIP on the same files in the same run,
// and checks that both return the same neighbours.
#ifndef CAIRN_BENCH_GT_BENCH_H_
#define CAIRN_BENCH_GT_BENCH_H_

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "kernels/metric.h"
#include "nlohmann/json.hpp"

namespace cairn {

struct GtBenchOptions {
  std::string base_path;
  std::string query_path;
  uint32_t k = 100;
  Metric metric = Metric::kL2;
  int threads = 0;  // 0: all cores, for both
};

absl::Status RunGtBench(const GtBenchOptions& options, std::ostream& out, nlohmann::json* json);

}  // namespace cairn

#endif  // CAIRN_BENCH_GT_BENCH_H_
