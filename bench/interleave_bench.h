// `cairn bench interleave`: latency of two or more (index, search setting)
// arms measured query by query in turn on one thread, so that drift of the
// machine over minutes (other tenants, SSD state, CPU clocks: we measured
// the same setting 40% apart ten minutes later) lands on every arm alike.
// The sequential sweeps of `cairn bench` cannot compare two close latencies;
// this can. Reports per arm recall@10, mean/p50/p99 latency, KiB and pages
// read per query, and each arm's mean latency as a ratio of the first arm's.
#ifndef CAIRN_BENCH_INTERLEAVE_BENCH_H_
#define CAIRN_BENCH_INTERLEAVE_BENCH_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace cairn {

struct InterleaveBenchOptions {
  // Each arm: "DIR" or "DIR:key=value,key=value" with the keys
  // max_postings, target_recall, head_ef, epsilon, bound_scale, merge_gap,
  // whole_nearest, rerank_top, batch_cost_kib,
  // plan (auto|two-step|whole).
  std::vector<std::string> arms;
  std::string queries, gt;
  uint32_t k = 10;
  uint32_t max_queries = 0;   // 0: all
  uint32_t rounds = 2;        // passes over the queries (the first also warms up)
  std::string json;
  absl::Status Validate() const;
};

absl::Status RunInterleaveBench(const InterleaveBenchOptions& options);

}  // namespace cairn

#endif  // CAIRN_BENCH_INTERLEAVE_BENCH_H_
