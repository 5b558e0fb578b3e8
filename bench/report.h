// The results of a benchmark run and their two renderings: a fixed-width table
// for people and JSON for scripts. Pure data plus formatting; the harness
// (bench/harness.h) fills it.
#ifndef CAIRN_BENCH_REPORT_H_
#define CAIRN_BENCH_REPORT_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "bench/search_params.h"
#include "common/summary.h"
#include "nlohmann/json.hpp"

namespace cairn {

struct MachineInfo {
  std::string cpu_model;   // "model name" of /proc/cpuinfo
  std::string simd_level;  // SimdLevelName(Kernels().level)
  unsigned hardware_threads = 0;
  std::string kernel;  // uname -r
};
// Reads what it can; missing pieces stay empty.
MachineInfo ReadMachineInfo();

// One sweep setting of one method.
struct SettingResult {
  SearchParams params;
  // recall@1/@10 come from the timed k-search, recall@100 from the untimed
  // k=100 pass when k < 100 (see harness.h); nullopt when the ground truth
  // (or k) is too short for it.
  std::optional<double> recall_at_1, recall_at_10, recall_at_100;
  double qps = 0;  // queries / wall seconds of the timed pass (all threads)
  LatencyMs latency;
  std::optional<double> distances_per_query;  // see WorkCounters
  std::optional<double> code_distances_per_query;
  std::optional<double> lists_read_per_query;  // disk methods only
  std::optional<double> kib_read_per_query;
};

struct MethodResult {
  std::string name;
  std::string notes;
  std::string build_params;  // SearchParams::ToString of the build knobs given, "-" if none
  double build_seconds = 0;
  uint64_t resident_bytes = 0;  // SearchMethod::ResidentBytes()
  double resident_bytes_per_vector = 0;
  double ssd_bytes_per_vector = 0;  // disk methods; 0 otherwise
  // Process RSS around Build(), from /proc/self/status; -1 if unreadable.
  int64_t rss_before_build = -1;
  int64_t rss_after_build = -1;
  int64_t peak_rss_during_build = -1;  // VmHWM, reset before the build when the kernel allows
  std::vector<SettingResult> settings;
};

struct BenchReport {
  MachineInfo machine;
  // What was run.
  std::string base_path, query_path, gt_path;
  std::string metric;
  uint64_t base_rows = 0;
  uint32_t dim = 0;
  uint64_t num_queries = 0;  // after --max-queries
  uint32_t gt_k = 0;
  uint32_t k = 10;  // k of the timed search
  int query_threads = 1;
  int build_threads = 1;
  uint32_t warmup_queries = 0;
  std::string latency_note;  // how latency and recall@100 were measured
  std::vector<MethodResult> methods;
};

// The table: one row per method and setting.
void PrintTable(const BenchReport& report, std::ostream& out);
nlohmann::json ReportToJson(const BenchReport& report);
// Writes json, indented, to path (via path.tmp and a rename, so a reader
// never sees half a file).
absl::Status WriteJson(const nlohmann::json& json, const std::string& path);
absl::Status WriteJsonReport(const BenchReport& report, const std::string& path);

}  // namespace cairn

#endif  // CAIRN_BENCH_REPORT_H_
