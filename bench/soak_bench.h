// `cairn bench soak`: a long mixed workload against a running server over
// its REST API, watching the server's memory and open files and checking at
// the end that nothing acknowledged was lost.
//
// C client threads, each with one keep-alive connection
// (client/cpp/http_connection.h), run for the duration: upserts with
// wait=true (batches, payload {"kind": keyword, "n": integer, "v": version}),
// searches, filtered searches (kind matches, n in a range), scroll pages
// (following next_page_offset), deletes by id with wait=true and, now and
// then, a retrieve by ids. Point ids are partitioned by thread, so each
// thread knows exactly which of its points are live and at which version;
// a retrieve must agree with that.
//
// Every sample_seconds the server's RSS and open files are read from /proc
// (the process listening on the URL's port, or --pid) and a line is printed.
// At the end: per operation requests, errors by class (4xx, 5xx, transport)
// and latency (common/summary.h), RSS at start, after warm-up and at the end,
// then the consistency check: the server's points_count against the points
// the threads know are live, and a search for a sample of live points with
// their own vectors, each of which must come back as the top hit.
#ifndef CAIRN_BENCH_SOAK_BENCH_H_
#define CAIRN_BENCH_SOAK_BENCH_H_

#include <array>
#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/summary.h"
#include "nlohmann/json.hpp"

namespace cairn {

enum class SoakOp { kUpsert, kSearch, kFilteredSearch, kScroll, kDelete, kRetrieve };
inline constexpr int kSoakOps = 6;
const char* SoakOpName(SoakOp op);  // "upsert", "search", "filtered_search", ...

struct SoakOptions {
  std::string url;  // http://host:port of a running `cairn serve`
  double minutes = 10;
  double duration_seconds = 0;  // > 0: replaces minutes (tests run seconds)
  int connections = 8;
  std::string collection = "soak";  // created if missing; reused if its size is dim
  uint32_t dim = 64;
  std::string api_key;
  uint64_t seed = 1;
  int64_t pid = 0;  // the server's pid; 0: the process listening on the URL's port
  double sample_seconds = 10;
  // Ids of thread t: 1 + t * ids_per_connection + [0, ids_per_connection).
  // Upserts and deletes pick among them at random, so the data set levels
  // off (about 85% live) and RSS growth after warm-up means a leak.
  uint32_t ids_per_connection = 5000;
  // Before the clock starts, every id is written once (batches of
  // prefill_batch), so that the mixed load starts at its steady size: RSS
  // growth after warm-up then measures leaks, not a collection filling up.
  bool prefill = true;
  uint32_t prefill_batch = 250;
  uint32_t upsert_batch = 32;
  uint32_t delete_batch = 8;
  uint32_t verify_sample = 200;  // live points searched with their own vectors
  std::chrono::milliseconds request_timeout{30000};

  absl::Status Validate() const;
  double Seconds() const { return duration_seconds > 0 ? duration_seconds : minutes * 60; }
};

struct SoakOpStats {
  uint64_t requests = 0;
  uint64_t errors_4xx = 0, errors_5xx = 0;
  // No complete response (connect, write, read, timeout) or a 2xx whose
  // body could not be read.
  uint64_t errors_transport = 0;
  LatencyMs latency_ms;  // every request, failed ones included
};

struct SoakSample {
  double elapsed_s = 0;
  std::array<double, kSoakOps> requests_per_s{};  // since the previous sample
  int64_t rss_bytes = -1, open_fds = -1;          // -1: not sampled
};

struct SoakConsistency {
  // Live points the threads know of, plus the collection's other points;
  // max adds the points whose last write failed (outcome unknown).
  uint64_t expected_min = 0, expected_max = 0;
  int64_t points_count = -1;  // the server's, after writes settled
  bool count_ok = false;
  uint32_t sampled = 0, top_hits = 0;
  std::vector<uint64_t> not_top;  // sampled ids that were not the top hit (first 20)
  // Retrieves during the run whose answer disagreed with acknowledged writes
  // (a live point missing, a deleted one present, or an old version).
  uint64_t retrieve_mismatches = 0;
};

struct SoakReport {
  SoakOptions options;
  double seconds = 0;    // measured duration of the workload
  int64_t pid = -1;      // the sampled server process; -1: none
  std::string pid_note;  // why there is none
  std::array<SoakOpStats, kSoakOps> ops;
  std::vector<SoakSample> samples;  // the first at 0 s, the last at the end
  int64_t rss_start = -1, rss_warm = -1, rss_end = -1;
  double warm_elapsed_s = 0;  // when rss_warm was sampled
  double prefill_seconds = 0;  // 0: no prefill
  double rss_growth_pct = 0;  // (end - warm) / warm
  SoakConsistency consistency;
  std::vector<std::string> first_errors;  // the first few error messages
  std::vector<std::string> failures;      // why the run failed; empty: passed
  bool passed() const { return failures.empty(); }
};

// Runs the soak; progress lines go to `progress`. An error Status when the
// run could not be set up (bad options, server unreachable, collection of
// another size); failures of the run itself are in report.failures.
absl::StatusOr<SoakReport> RunSoakBench(const SoakOptions& options, std::ostream& progress);

void PrintSoakReport(const SoakReport& report, std::ostream& out);
nlohmann::json SoakReportJson(const SoakReport& report);

}  // namespace cairn

#endif  // CAIRN_BENCH_SOAK_BENCH_H_
