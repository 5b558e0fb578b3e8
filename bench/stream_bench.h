// `cairn bench stream`: the live-update benchmark. Builds an index on the
// first half of a base file, inserts the second half through the live index
// (first with one writer thread, then with two) while one thread searches,
// deletes a fraction of all vectors, and then compares recall@k at fixed
// search parameters with a fresh bulk build of the final data; reports
// insert throughput, search latency during ingest, maintenance counters and
// SSD bytes per live vector before and after compaction.
#ifndef CAIRN_BENCH_STREAM_BENCH_H_
#define CAIRN_BENCH_STREAM_BENCH_H_

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "kernels/metric.h"
#include "nlohmann/json.hpp"

namespace cairn {

struct StreamBenchOptions {
  std::string base_path;
  std::string query_path;
  std::string work_dir;  // indexes and intermediate files go here
  Metric metric = Metric::kL2;
  uint32_t k = 10;
  uint32_t max_postings = 10;
  double delete_fraction = 0.1;
  uint32_t batch = 64;          // vectors per Upsert call
  uint32_t max_queries = 1000;  // for recall and latency
  int build_threads = 0;
  bool progress = true;
  absl::Status Validate() const;
};

absl::Status RunStreamBench(const StreamBenchOptions& options, std::ostream& out,
                            nlohmann::json* json);

}  // namespace cairn

#endif  // CAIRN_BENCH_STREAM_BENCH_H_
