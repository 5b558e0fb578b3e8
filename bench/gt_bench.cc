#include "bench/gt_bench.h"

#include <faiss/IndexFlat.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "common/summary.h"
#include "datasets/ground_truth.h"
#include "datasets/vector_file.h"
#include "kernels/distance.h"

namespace cairn {

absl::Status RunGtBench(const GtBenchOptions& o, std::ostream& out, nlohmann::json* json) {
  const int threads =
      o.threads > 0 ? o.threads : std::max(1, (int)std::thread::hardware_concurrency());
  using Clock = std::chrono::steady_clock;

  GroundTruthOptions gto;
  gto.k = o.k;
  gto.metric = o.metric;
  gto.threads = threads;
  gto.progress = false;
  auto t0 = Clock::now();
  CAIRN_ASSIGN_OR_RETURN(GroundTruth ours, ComputeGroundTruth(o.base_path, o.query_path, gto));
  const double cairn_s = Nanos(t0, Clock::now()) / 1e9;

  // faiss needs everything in RAM; loading is not timed, the search is.
  CAIRN_ASSIGN_OR_RETURN(FloatMatrix base, ReadFloatMatrix(o.base_path));
  CAIRN_ASSIGN_OR_RETURN(FloatMatrix queries, ReadFloatMatrix(o.query_path));
  if (o.metric == Metric::kCosine) {
    for (uint64_t i = 0; i < base.rows; ++i) Normalize(base.row(i), base.dim);
    for (uint64_t i = 0; i < queries.rows; ++i) Normalize(queries.row(i), queries.dim);
  }
  const uint32_t k = std::min<uint64_t>(o.k, base.rows);
  std::vector<faiss::Index::idx_t> ids(queries.rows * k);
  std::vector<float> dists(queries.rows * k);
  omp_set_num_threads(threads);
  double faiss_s = 0;
  try {
    std::unique_ptr<faiss::IndexFlat> index;
    if (o.metric == Metric::kL2) {
      index = std::make_unique<faiss::IndexFlatL2>(base.dim);
    } else {
      index = std::make_unique<faiss::IndexFlatIP>(base.dim);
    }
    auto t1 = Clock::now();
    index->add(static_cast<faiss::Index::idx_t>(base.rows), base.data.data());
    index->search(static_cast<faiss::Index::idx_t>(queries.rows), queries.data.data(), k, dists.data(),
                  ids.data());
    faiss_s = Nanos(t1, Clock::now()) / 1e9;
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("faiss: ", e.what()));
  }

  // Agreement: faiss's top-k as a result list scored against ours.
  std::vector<int64_t> faiss_ids(ids.begin(), ids.end());
  const double agreement = RecallAtK(ours, faiss_ids, k, k);
  double max_rel_diff = 0;
  for (size_t q = 0; q < queries.rows; ++q) {
    // faiss IP reports +dot; ours is -dot (or 1 - cos).
    float theirs = dists[q * k];
    if (o.metric == Metric::kInnerProduct) theirs = -theirs;
    if (o.metric == Metric::kCosine) theirs = 1.0f - theirs;
    float mine = ours.distances[q * ours.k];
    max_rel_diff = std::max<double>(max_rel_diff, std::abs(theirs - mine) /
                                                      std::max(1e-6f, std::abs(mine)));
  }

  const double flops = 2.0 * base.rows * queries.rows * base.dim;
  out << absl::StrFormat(
      "exact ground truth: %llu base x %llu queries x %u-d, top-%u, %s, %d threads\n",
      (unsigned long long)base.rows, (unsigned long long)queries.rows, base.dim, k,
      MetricName(o.metric), threads);
  out << absl::StrFormat("  %-28s %9s %9s\n", "method", "seconds", "GFLOP/s");
  out << absl::StrFormat("  %-28s %9.2f %9.1f\n", "cairn gt (blocked SGEMM)", cairn_s,
                         flops / cairn_s / 1e9);
  out << absl::StrFormat("  %-28s %9.2f %9.1f\n", "faiss IndexFlat (Debian)", faiss_s,
                         flops / faiss_s / 1e9);
  out << absl::StrFormat("  speedup cairn/faiss: %.2fx; agreement recall@%u: %.5f; "
                         "max relative diff of 1st distance: %.2e\n",
                         faiss_s / cairn_s, k, agreement, max_rel_diff);
  if (json != nullptr) {
    *json = {{"base_vectors", base.rows}, {"queries", queries.rows}, {"dim", base.dim},
             {"k", k}, {"metric", MetricName(o.metric)}, {"threads", threads},
             {"cairn_seconds", cairn_s}, {"faiss_seconds", faiss_s},
             {"speedup", faiss_s / cairn_s}, {"agreement_recall", agreement},
             {"max_rel_diff_first", max_rel_diff},
             {"note", "faiss from Debian (1.7.3, generic build without AVX); the faiss time "
                      "excludes loading the base into RAM, the cairn time includes streaming it"}};
  }
  return absl::OkStatus();
}

}  // namespace cairn
