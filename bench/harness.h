// The benchmark harness: loads a base, its queries and their ground truth,
// then for each SearchMethod builds it and runs every sweep setting over all
// queries, measuring recall, throughput, per-query latency, memory and work.
//
// Measurement rules (also written into BenchReport::latency_note):
// - Latency and QPS come from a timed pass that searches with k = config.k
//   (default 10): steady_clock around each Search() call; QPS = queries / wall
//   time of the whole pass. recall@1 and recall@10 come from that same pass.
// - recall@100 (when the ground truth has >= 100 neighbours and k < 100) comes
//   from a second, untimed pass with k = 100, so the latency figures are those
//   of the k=10 search people compare.
// - Queries run on the calling thread, or with query_threads > 1 on that many
//   std::threads taking queries from a shared counter.
// - Memory: ResidentBytes() of the method (what it says it holds), and the
//   process RSS before/after Build() plus the peak during Build() (VmHWM,
//   reset first through /proc/self/clear_refs; -1 when it cannot be reset).
// No timing is ever asserted; tests check recall and report shape only.
#ifndef CAIRN_BENCH_HARNESS_H_
#define CAIRN_BENCH_HARNESS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bench/method.h"
#include "bench/report.h"
#include "bench/search_params.h"
#include "kernels/metric.h"

namespace cairn {

struct BenchConfig {
  std::string base_path;
  std::string query_path;
  // Ground truth (ibin or ivecs). Empty: the exact top-100 is computed first
  // (datasets/ground_truth.h), which costs a full scan per query.
  std::string gt_path;
  Metric metric = Metric::kL2;
  uint32_t k = 10;              // k of the timed search
  int query_threads = 1;        // threads running queries
  int build_threads = 0;        // threads for Build(); 0 = all hardware threads
  uint64_t max_queries = 0;     // 0 = all queries
  uint32_t warmup_queries = 0;  // untimed queries before each setting's timed pass
  // Settings per method name; methods not named here use DefaultSweep().
  std::map<std::string, std::vector<SearchParams>> sweeps;
  // Build knobs per method name, for the report only (the methods were
  // constructed with them already).
  std::map<std::string, SearchParams> build_params;
  bool verbose = true;  // one line per step on stderr

  absl::Status Validate() const;
};

// Runs the benchmark. Each method is destroyed right after it is measured
// (its slot in `methods` becomes null) so the next one's memory figures start
// from a clean heap. Fails on the first error, naming the method.
absl::StatusOr<BenchReport> RunBenchmark(const BenchConfig& config,
                                         std::vector<std::unique_ptr<SearchMethod>>& methods);

}  // namespace cairn

#endif  // CAIRN_BENCH_HARNESS_H_
