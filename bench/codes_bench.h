// `cairn bench codes`: candidate recall of the binary code families
// (index/code_model.h) on a real base, before they go into postings.
//
// Heads are the centroids of balanced k-means (index/balanced_kmeans.h) on a
// sample of the base (about base / 16 of them); every base vector is
// assigned to its nearest head and encoded as the residual to it, posting by
// posting. Each family is trained on a sample of those residuals. Every
// query then estimates every base vector (exhaustively, through
// EstimatePosting per posting, as a searcher would) and the report gives,
// per family / bits / rotation:
//   recall@C      fraction of the true top-k inside the top C by estimate,
//                 C = 10, 50, 100, 500 (k = 10);
//   rel_err       mean |est - true| / |true| over all pairs (L2, cosine as
//                 1 - cos); for inner product the ratio of means;
//   coverage      fraction of pairs with |est - true| <= err (and among the
//                 true top-k only), against the stated confidence;
//   width         mean err / |true| (inner product: ratio of means);
//   train / encode times, scan ns per entry, bytes per entry, code bits.
// Single-threaded apart from OpenBLAS inside k-means and training.
#ifndef CAIRN_BENCH_CODES_BENCH_H_
#define CAIRN_BENCH_CODES_BENCH_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "kernels/metric.h"
#include "nlohmann/json.hpp"

namespace cairn {

struct CodesBenchOptions {
  std::string base_path, query_path;
  std::string gt_path;  // optional (ibin/ivecs): its top-k replaces the computed one
  Metric metric = Metric::kL2;
  std::vector<std::string> families = {"lsh", "itq", "rabitq"};
  std::vector<uint32_t> bits_per_dim = {1};           // families other than lsh run at 1 only
  std::vector<std::string> rotations = {"hadamard"};  // rabitq: hadamard, learned
  uint32_t heads = 0;                                 // 0: base / 16
  uint32_t queries_limit = 200;                       // first N queries
  uint32_t train_sample = 20000;                      // residuals the families are trained on
  uint32_t kmeans_sample = 20000;  // points k-means clusters (at least 4 per head)
  uint32_t itq_iterations = 50;
  uint32_t k = 10;
  std::vector<uint32_t> candidates = {10, 50, 100, 500};
  double eps0 = 1.9;
  uint64_t seed = 0x5eed;
  bool progress = true;

  absl::Status Validate() const;
};

// Runs the benchmark, printing a table to `out`; *json (if not null) gets the
// settings, the data set's figures and one object per configuration.
absl::Status RunCodesBench(const CodesBenchOptions& options, std::ostream& out,
                           nlohmann::json* json);

}  // namespace cairn

#endif  // CAIRN_BENCH_CODES_BENCH_H_
