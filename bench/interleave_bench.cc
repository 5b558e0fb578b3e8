#include "bench/interleave_bench.h"
#include "bench/spann_queries.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "common/summary.h"
#include "datasets/ground_truth.h"
#include "datasets/vector_file.h"
#include "index/spann/spann_index.h"
#include "nlohmann/json.hpp"

namespace cairn {
namespace {

struct Arm {
  std::string spec;
  std::unique_ptr<SpannIndex> index;
  std::unique_ptr<SearchContext> ctx;
  SpannSearchParams params;
  std::vector<double> latency_ms;  // measured rounds only
  std::vector<int64_t> ids;        // last round
  std::vector<uint32_t> postings;  // per query, measured rounds only
  SearchStats stats;               // measured rounds only
};

absl::Status ParseArm(const std::string& spec, Arm* arm) {
  arm->spec = spec;
  const size_t colon = spec.find(':');
  const std::string dir = spec.substr(0, colon);
  if (colon != std::string::npos) {
    for (absl::string_view kv : absl::StrSplit(spec.substr(colon + 1), ',', absl::SkipEmpty())) {
      std::pair<std::string, std::string> p = absl::StrSplit(kv, absl::MaxSplits('=', 1));
      double v = 0;
      const bool number = absl::SimpleAtod(p.second, &v);
      if (p.first == "plan") {
        if (p.second == "auto") {
          arm->params.plan = SpannSearchParams::Plan::kAuto;
        } else if (p.second == "two-step") {
          arm->params.plan = SpannSearchParams::Plan::kTwoStep;
        } else if (p.second == "whole") {
          arm->params.plan = SpannSearchParams::Plan::kWhole;
        } else {
          return absl::InvalidArgumentError(
              absl::StrCat(spec, ": plan must be auto, two-step or whole"));
        }
      } else if (!number) {
        return absl::InvalidArgumentError(absl::StrCat(spec, ": ", p.first, " needs a number"));
      } else if (p.first == "max_postings") {
        arm->params.max_postings = static_cast<uint32_t>(v);
      } else if (p.first == "target_recall") {
        arm->params.target_recall = v;
      } else if (p.first == "epsilon") {
        arm->params.epsilon = static_cast<float>(v);
      } else if (p.first == "head_ef") {
        arm->params.head_ef = static_cast<uint32_t>(v);
      } else if (p.first == "bound_scale") {
        arm->params.bound_scale = static_cast<float>(v);
      } else if (p.first == "whole_nearest") {
        arm->params.whole_nearest = static_cast<uint32_t>(v);
      } else if (p.first == "merge_gap") {
        arm->params.merge_gap = static_cast<uint32_t>(v);
      } else if (p.first == "batch_cost_kib") {
        arm->params.batch_cost_kib = static_cast<uint32_t>(v);
      } else if (p.first == "rerank_top") {
        arm->params.rerank_top = static_cast<uint32_t>(v);
      } else {
        return absl::InvalidArgumentError(absl::StrCat(spec, ": unknown key ", p.first));
      }
    }
  }
  CAIRN_ASSIGN_OR_RETURN(arm->index, SpannIndex::Open(dir));
  CAIRN_ASSIGN_OR_RETURN(arm->ctx, arm->index->NewContext());
  return absl::OkStatus();
}

}  // namespace

absl::Status InterleaveBenchOptions::Validate() const {
  if (arms.size() < 2) return absl::InvalidArgumentError("give at least two --arm");
  if (rounds < 2) return absl::InvalidArgumentError("--rounds must be >= 2 (the first warms up)");
  return absl::OkStatus();
}

absl::Status RunInterleaveBench(const InterleaveBenchOptions& a) {
  CAIRN_RETURN_IF_ERROR(a.Validate());
  CAIRN_ASSIGN_OR_RETURN(
      FloatMatrix q, ReadFloatMatrix(a.queries, 0, a.max_queries > 0 ? a.max_queries : UINT64_MAX));
  std::vector<Arm> arms(a.arms.size());
  for (size_t i = 0; i < arms.size(); ++i) {
    CAIRN_RETURN_IF_ERROR(ParseArm(a.arms[i], &arms[i]));
    arms[i].params.k = a.k;
    CAIRN_RETURN_IF_ERROR(arms[i].params.Validate());
    if (arms[i].index->dim() != q.dim) {
      return absl::InvalidArgumentError(absl::StrCat(
          a.arms[i], ": dimension ", arms[i].index->dim(), ", the queries have ", q.dim));
    }
    arms[i].ids.assign(q.rows * a.k, -1);
  }
  std::vector<Neighbor> out;
  for (uint32_t round = 0; round < a.rounds; ++round) {
    const bool measured = round > 0;
    for (uint64_t i = 0; i < q.rows; ++i) {
      // Rotate which arm goes first so none always follows another.
      for (size_t j = 0; j < arms.size(); ++j) {
        Arm& arm = arms[(i + j) % arms.size()];
        SearchStats st;
        const auto t0 = std::chrono::steady_clock::now();
        CAIRN_RETURN_IF_ERROR(arm.index->Search(q.row(i), arm.params, arm.ctx.get(), &out, &st));
        const double ms = Nanos(t0, std::chrono::steady_clock::now()) / 1e6;
        if (!measured) continue;
        arm.latency_ms.push_back(ms);
        arm.postings.push_back(st.postings_read);
        arm.stats.Add(st);
        for (size_t r = 0; r < out.size() && r < a.k; ++r) arm.ids[i * a.k + r] = out[r].id;
      }
    }
  }
  std::unique_ptr<GroundTruth> gt;
  if (!a.gt.empty()) {
    CAIRN_ASSIGN_OR_RETURN(GroundTruth g, ReadGroundTruth(a.gt));
    gt = std::make_unique<GroundTruth>(std::move(g));
  }
  nlohmann::json report = nlohmann::json::array();
  std::printf("%u queries x %u measured rounds, arms interleaved query by query on 1 thread\n",
              static_cast<unsigned>(q.rows), a.rounds - 1);
  std::printf("%-60s %7s %8s %8s %8s %7s %8s %7s %7s %9s\n", "arm", "R@10", "mean ms", "p50 ms",
              "p99 ms", "ratio", "KiB/q", "pages/q", "reads/q", "2-step %");
  double first_mean = 0;
  for (size_t i = 0; i < arms.size(); ++i) {
    Arm& arm = arms[i];
    const double n = static_cast<double>(arm.latency_ms.size());
    const LatencyMs latency = Summarize(arm.latency_ms);
    const double mean = latency.mean;
    if (i == 0) first_mean = mean;
    const double recall = gt ? RecallAtK(*gt, arm.ids, a.k, std::min<uint32_t>(10, a.k)) : -1;
    const double kib = arm.stats.bytes_read / 1024.0 / n, pages = arm.stats.pages_read / n;
    const double reads = arm.stats.reads / n;
    const double two_step = 100.0 * arm.stats.two_step_queries / n;
    std::printf("%-60s %7.4f %8.3f %8.3f %8.3f %7.3f %8.1f %7.1f %7.1f %9.0f\n", arm.spec.c_str(),
                recall, mean, latency.p50, latency.p99, mean / first_mean, kib, pages, reads,
                two_step);
    report.push_back({{"arm", arm.spec}, {"recall_at_10", recall}, {"mean_latency_ms", mean},
                      {"p50_latency_ms", latency.p50},
                      {"p99_latency_ms", latency.p99},
                      {"latency_ratio_to_first", mean / first_mean}, {"kib_read_per_query", kib},
                      {"pages_read_per_query", pages}, {"reads_per_query", reads},
                      {"two_step_percent", two_step},
                      {"head_ms", arm.stats.head_ns / 1e6 / n},
                      {"io_wait_ms", arm.stats.io_wait_ns / 1e6 / n},
                      {"scan_ms", arm.stats.scan_ns / 1e6 / n},
                      {"postings_per_query", arm.stats.postings_read / n},
                      {"postings_histogram", PostingsHistogram(arm.postings)},
                      {"ram_bytes_per_vector",
                       arm.index->ResidentBytes() / double(arm.index->num_vectors())},
                      {"ssd_bytes_per_vector",
                       arm.index->PostingFileBytes() / double(arm.index->num_vectors())}});
  }
  // Per arm: how many postings its queries read, and what it keeps in RAM.
  for (size_t i = 0; i < arms.size(); ++i) {
    std::printf("arm %zu: postings/query %s; RAM %.1f B/vector, SSD %.1f B/vector\n", i + 1,
                report[i]["postings_histogram"].get<std::string>().c_str(),
                report[i]["ram_bytes_per_vector"].get<double>(),
                report[i]["ssd_bytes_per_vector"].get<double>());
  }
  if (!a.json.empty()) {
    std::ofstream f(a.json);
    f << report.dump(2) << "\n";
    if (!f) return absl::InternalError(a.json + ": write failed");
  }
  return absl::OkStatus();
}

}  // namespace cairn
