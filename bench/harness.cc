#include "bench/harness.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/process_memory.h"
#include "common/status_macros.h"
#include "common/summary.h"
#include "datasets/ground_truth.h"
#include "datasets/vector_file.h"
#include "kernels/distance.h"

namespace cairn {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint32_t kRecallDepths[] = {1, 10, 100};

// Results of one pass over the queries.
struct Pass {
  std::vector<int64_t> ids;        // num_queries * k
  std::vector<double> latency_ms;  // per query; empty for untimed passes
  double wall_seconds = 0;
};

// Runs queries [0, num_queries) through method with k results each. Each
// thread owns its distance scratch; ids and latencies are written per query
// slot, so threads never share a cache line except at slot boundaries.
Pass RunPass(SearchMethod& method, const FloatMatrix& queries, uint64_t num_queries, uint32_t k,
             int threads, bool timed) {
  Pass pass;
  pass.ids.assign(num_queries * k, -1);
  if (timed) pass.latency_ms.assign(num_queries, 0.0);
  std::atomic<uint64_t> next{0};
  auto worker = [&] {
    std::vector<float> dists(k);
    for (;;) {
      const uint64_t q = next.fetch_add(1, std::memory_order_relaxed);
      if (q >= num_queries) break;
      int64_t* ids = pass.ids.data() + q * k;
      if (timed) {
        const Clock::time_point start = Clock::now();
        method.Search(queries.row(q), k, ids, dists.data());
        const Clock::time_point end = Clock::now();
        pass.latency_ms[q] = Nanos(start, end) / 1e6;
      } else {
        method.Search(queries.row(q), k, ids, dists.data());
      }
    }
  };
  const Clock::time_point start = Clock::now();
  if (threads <= 1) {
    worker();
  } else {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) pool.emplace_back(worker);
    for (std::thread& t : pool) t.join();
  }
  pass.wall_seconds = Nanos(start, Clock::now()) / 1e9;
  return pass;
}

void Log(const BenchConfig& config, const std::string& line) {
  if (config.verbose) std::fprintf(stderr, "[bench] %s\n", line.c_str());
}

// The ground truth restricted to the first num_queries queries, checked
// against the base.
absl::StatusOr<GroundTruth> LoadGroundTruth(const BenchConfig& config, const FloatMatrix& base,
                                            uint64_t num_queries, int threads) {
  GroundTruth gt;
  if (config.gt_path.empty()) {
    Log(config, "no ground truth given: computing the exact top-100");
    GroundTruthOptions options;
    options.k = static_cast<uint32_t>(std::min<uint64_t>(100, base.rows));
    options.metric = config.metric;
    options.threads = threads;
    options.progress = config.verbose;
    CAIRN_ASSIGN_OR_RETURN(gt, ComputeGroundTruth(config.base_path, config.query_path, options));
  } else {
    CAIRN_ASSIGN_OR_RETURN(gt, ReadGroundTruth(config.gt_path));
  }
  if (gt.num_queries < num_queries) {
    return absl::InvalidArgumentError(
        absl::StrCat("the ground truth covers ", gt.num_queries, " queries but ", num_queries,
                     " are to be run (use --max-queries or the matching ground-truth file)"));
  }
  if (gt.k == 0) return absl::InvalidArgumentError("the ground truth has k = 0");
  gt.ids.resize(num_queries * gt.k);
  if (!gt.distances.empty()) gt.distances.resize(num_queries * gt.k);
  gt.num_queries = static_cast<uint32_t>(num_queries);
  for (int32_t id : gt.ids) {
    if (id < -1 || id >= static_cast<int64_t>(base.rows)) {
      return absl::InvalidArgumentError(absl::StrCat("the ground truth names vector ", id,
                                                     " but the base has ", base.rows, " rows"));
    }
  }
  return gt;
}

// Catches a ground truth computed under another metric (or base/queries
// swapped) before it silently turns every recall into nonsense. A warning,
// not an error: some published files store sqrt(L2).
void CheckGroundTruthMetric(const BenchConfig& config, const FloatMatrix& base,
                            const FloatMatrix& queries, const GroundTruth& gt) {
  if (gt.distances.empty()) return;
  const uint32_t checks = std::min<uint32_t>(gt.num_queries, 10);
  for (uint32_t q = 0; q < checks; ++q) {
    const int32_t id = gt.row(q)[0];
    if (id < 0) continue;
    const float expected = gt.distances[static_cast<size_t>(q) * gt.k];
    const float actual = Distance(config.metric, queries.row(q), base.row(id), base.dim);
    if (std::fabs(expected - actual) > 1e-3f * std::max(1.0f, std::fabs(actual))) {
      std::fprintf(stderr,
                   "cairn bench: warning: ground-truth distance of query %u (%g) differs from "
                   "its %s distance (%g); was it computed with another metric or files?\n",
                   q, expected, std::string(MetricName(config.metric)).c_str(), actual);
      return;
    }
  }
}

// The deepest recall depth the timed k-search cannot answer (0 if none).
uint32_t ExtraPassK(uint32_t k, uint32_t gt_k) {
  uint32_t extra_k = 0;
  for (uint32_t depth : kRecallDepths) {
    if (depth <= gt_k && depth > k) extra_k = std::max(extra_k, depth);
  }
  return extra_k;
}

absl::StatusOr<SettingResult> MeasureSetting(const BenchConfig& config, SearchMethod& method,
                                             const SearchParams& params, const FloatMatrix& queries,
                                             const GroundTruth& gt) {
  CAIRN_RETURN_IF_ERROR(method.SetParams(params));
  const uint64_t nq = gt.num_queries;
  std::vector<int64_t> ids(config.k);
  std::vector<float> dists(config.k);
  for (uint32_t i = 0; i < config.warmup_queries && nq > 0; ++i) {
    method.Search(queries.row(i % nq), config.k, ids.data(), dists.data());
  }

  SettingResult result;
  result.params = params;
  const WorkCounters before = method.Counters();
  Pass timed = RunPass(method, queries, nq, config.k, config.query_threads, /*timed=*/true);
  const WorkCounters after = method.Counters();
  result.qps = timed.wall_seconds > 0 ? nq / timed.wall_seconds : 0;
  result.latency = Summarize(std::move(timed.latency_ms));
  if (after.available && nq > 0) {
    result.distances_per_query = double(after.distances - before.distances) / nq;
    result.code_distances_per_query = double(after.code_distances - before.code_distances) / nq;
  }
  if (after.io_available && nq > 0) {
    result.lists_read_per_query = double(after.lists_read - before.lists_read) / nq;
    result.kib_read_per_query = double(after.bytes_read - before.bytes_read) / 1024.0 / nq;
  }

  // Depths the timed pass cannot answer come from one deeper untimed pass.
  const uint32_t extra_k = ExtraPassK(config.k, gt.k);
  Pass extra;
  if (extra_k > 0) {
    extra = RunPass(method, queries, nq, extra_k, config.query_threads, /*timed=*/false);
  }
  for (uint32_t depth : kRecallDepths) {
    if (depth > gt.k) continue;
    const double recall = depth <= config.k ? RecallAtK(gt, timed.ids, config.k, depth)
                                            : RecallAtK(gt, extra.ids, extra_k, depth);
    if (depth == 1) result.recall_at_1 = recall;
    if (depth == 10) result.recall_at_10 = recall;
    if (depth == 100) result.recall_at_100 = recall;
  }
  return result;
}

std::string LatencyNote(const BenchConfig& config, uint32_t gt_k) {
  std::string note = absl::StrFormat(
      "latency/QPS: timed pass with k=%d (steady_clock around each query; QPS = queries / wall "
      "time on %d thread(s)); recall@d for d <= %d from that pass",
      config.k, config.query_threads, config.k);
  if (const uint32_t extra_k = ExtraPassK(config.k, gt_k); extra_k > 0) {
    absl::StrAppend(&note, ", deeper recall from a separate untimed k=", extra_k, " pass");
  }
  if (config.warmup_queries > 0) {
    absl::StrAppend(&note, "; ", config.warmup_queries, " warm-up queries per setting");
  }
  return note;
}

}  // namespace

absl::Status BenchConfig::Validate() const {
  if (base_path.empty() || query_path.empty()) {
    return absl::InvalidArgumentError("a base file and a query file are required");
  }
  if (k < 1 || k > 10000) return absl::InvalidArgumentError("k must be in [1, 10000]");
  if (query_threads < 1 || query_threads > 1024) {
    return absl::InvalidArgumentError("query threads must be in [1, 1024]");
  }
  if (build_threads < 0 || build_threads > 1024) {
    return absl::InvalidArgumentError("build threads must be in [0, 1024]");
  }
  return absl::OkStatus();
}

absl::StatusOr<BenchReport> RunBenchmark(const BenchConfig& config,
                                         std::vector<std::unique_ptr<SearchMethod>>& methods) {
  CAIRN_RETURN_IF_ERROR(config.Validate());
  for (const auto& [name, settings] : config.sweeps) {
    bool present = false;
    for (const auto& m : methods) present = present || (m != nullptr && m->name() == name);
    if (!present) {
      return absl::InvalidArgumentError(
          absl::StrCat("the sweep names method \"", name, "\", which is not being run"));
    }
  }
  const int build_threads = config.build_threads > 0
                                ? config.build_threads
                                : std::max(1u, std::thread::hardware_concurrency());

  Log(config, "loading " + config.base_path);
  CAIRN_ASSIGN_OR_RETURN(FloatMatrix base, ReadFloatMatrix(config.base_path));
  CAIRN_ASSIGN_OR_RETURN(FloatMatrix queries, ReadFloatMatrix(config.query_path));
  if (base.rows == 0) return absl::InvalidArgumentError(config.base_path + " has no vectors");
  if (queries.dim != base.dim) {
    return absl::InvalidArgumentError(
        absl::StrCat("queries have dim ", queries.dim, " but the base has dim ", base.dim));
  }
  uint64_t num_queries = queries.rows;
  if (config.max_queries > 0) num_queries = std::min(num_queries, config.max_queries);
  if (num_queries == 0) return absl::InvalidArgumentError(config.query_path + " has no vectors");
  CAIRN_ASSIGN_OR_RETURN(GroundTruth gt, LoadGroundTruth(config, base, num_queries, build_threads));
  CheckGroundTruthMetric(config, base, queries, gt);

  BenchReport report;
  report.machine = ReadMachineInfo();
  report.base_path = config.base_path;
  report.query_path = config.query_path;
  report.gt_path = config.gt_path.empty() ? "(computed)" : config.gt_path;
  report.metric = std::string(MetricName(config.metric));
  report.base_rows = base.rows;
  report.dim = base.dim;
  report.num_queries = num_queries;
  report.gt_k = gt.k;
  report.k = config.k;
  report.query_threads = config.query_threads;
  report.build_threads = build_threads;
  report.warmup_queries = config.warmup_queries;
  report.latency_note = LatencyNote(config, gt.k);

  for (std::unique_ptr<SearchMethod>& method : methods) {
    if (method == nullptr) continue;
    MethodResult result;
    result.name = method->name();
    auto build_params = config.build_params.find(result.name);
    result.build_params =
        build_params == config.build_params.end() ? "-" : build_params->second.ToString();

    Log(config, absl::StrCat("building ", result.name, " with ", build_threads, " thread(s)"));
    TrimHeap();
    const bool peak_reset = ResetPeakRss();
    const ProcessMemory before = ReadProcessMemory();
    const Clock::time_point start = Clock::now();
    absl::Status built = method->Build(base, config.metric, build_threads);
    result.build_seconds = Nanos(start, Clock::now()) / 1e9;
    if (!built.ok()) {
      return absl::Status(built.code(), absl::StrCat(result.name, " build: ", built.message()));
    }
    const ProcessMemory after = ReadProcessMemory();
    result.rss_before_build = before.rss_bytes;
    result.rss_after_build = after.rss_bytes;
    result.peak_rss_during_build = peak_reset ? after.peak_rss_bytes : -1;
    result.resident_bytes = method->ResidentBytes();
    result.resident_bytes_per_vector = double(result.resident_bytes) / base.rows;
    result.ssd_bytes_per_vector = double(method->DiskBytes()) / base.rows;
    Log(config, absl::StrFormat("built %s in %.2f s, %.1f resident bytes/vector", result.name,
                                result.build_seconds, result.resident_bytes_per_vector));

    auto sweep = config.sweeps.find(result.name);
    const std::vector<SearchParams> settings =
        sweep != config.sweeps.end() ? sweep->second : method->DefaultSweep();
    for (const SearchParams& params : settings) {
      absl::StatusOr<SettingResult> setting = MeasureSetting(config, *method, params, queries, gt);
      if (!setting.ok()) {
        return absl::Status(
            setting.status().code(),
            absl::StrCat(result.name, " ", params.ToString(), ": ", setting.status().message()));
      }
      Log(config, absl::StrFormat("%s %s: recall@10 %s, %.0f QPS, mean %.3f ms", result.name,
                                  params.ToString(),
                                  setting->recall_at_10.has_value()
                                      ? absl::StrFormat("%.4f", *setting->recall_at_10)
                                      : std::string("-"),
                                  setting->qps, setting->latency.mean));
      result.settings.push_back(std::move(*setting));
    }
    result.notes = method->Notes();
    report.methods.push_back(std::move(result));
    method.reset();  // free its index before the next build is measured
  }
  return report;
}

}  // namespace cairn
