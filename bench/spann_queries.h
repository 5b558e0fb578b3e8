// A query file run through a built SpannIndex, as `cairn search` reports it:
// one timed pass split across threads, and recall@1/10/100 against ground
// truth (RecallAtK, datasets/ground_truth.h).
#ifndef CAIRN_BENCH_SPANN_QUERIES_H_
#define CAIRN_BENCH_SPANN_QUERIES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "datasets/ground_truth.h"
#include "datasets/vector_file.h"
#include "index/spann/spann_index.h"

namespace cairn {

struct SpannQueryRun {
  std::vector<int64_t> ids;         // queries x k, -1 past a short result
  std::vector<double> latency_ms;   // per query
  std::vector<uint32_t> postings;   // read, per query
  SearchStats stats;                // summed over queries
  std::string io_kind;              // e.g. "io_uring+O_DIRECT"
  double wall_seconds = 0;
};

// Every query, query i on thread i % threads, each thread with its own
// SearchContext; the first error stops the run.
absl::StatusOr<SpannQueryRun> RunSpannQueries(const SpannIndex& index, const FloatMatrix& queries,
                                              const SpannSearchParams& params, int threads);

struct SpannRecall {
  std::optional<double> at_1, at_10, at_100;  // absent when not measurable
};

// recall@1, and recall@10 when k >= 10, from `run`'s ids; recall@100 from a
// separate, untimed pass with k = 100 when the ground truth holds 100
// neighbours per query. InvalidArgument when gt has fewer rows than queries.
absl::StatusOr<SpannRecall> MeasureSpannRecall(const SpannIndex& index,
                                               const FloatMatrix& queries,
                                               const SpannSearchParams& params, int threads,
                                               const GroundTruth& gt,
                                               const SpannQueryRun& run);

// Postings read per query as text: mean, p50/p90/p99/max and a histogram
// over power-of-two bins ("1:12% 2:30% 3-4:40% ..."), for reports.
std::string PostingsHistogram(const std::vector<uint32_t>& postings);

}  // namespace cairn

#endif  // CAIRN_BENCH_SPANN_QUERIES_H_
