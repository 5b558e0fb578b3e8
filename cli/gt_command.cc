#include "cli/gt_command.h"

#include <chrono>
#include <cstdio>
#include <memory>

#include "datasets/ground_truth.h"

namespace cairn {
namespace {

struct GtArgs {
  std::string base, queries, out, metric = "l2";
  GroundTruthOptions options;
  bool quiet = false;
};

}  // namespace

void AddGtCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<GtArgs>();
  CLI::App* cmd = app.add_subcommand(
      "gt", "Exact ground truth (top-k) by blocked SGEMM; base files larger than RAM work");
  cmd->add_option("--base", args->base, "Base vectors file")->required();
  cmd->add_option("--queries", args->queries, "Query vectors file")->required();
  cmd->add_option("--k", args->options.k, "Neighbours per query")->check(CLI::Range(1u, 100000u));
  cmd->add_option("--metric", args->metric, "l2 | ip | cosine");
  cmd->add_option("--out", args->out, "Output .ibin file")->required();
  cmd->add_option("--threads", args->options.threads, "Threads (0: all cores)");
  cmd->add_option("--memory-budget", args->options.memory_budget_bytes,
                  "Bytes for the base block, scores and heaps");
  cmd->add_flag("--quiet", args->quiet, "No progress output");
  cmd->callback([args, exit_code] {
    auto metric = ParseMetric(args->metric);
    if (!metric.ok()) {
      std::fprintf(stderr, "cairn gt: %s\n", std::string(metric.status().message()).c_str());
      *exit_code = 1;
      return;
    }
    args->options.metric = *metric;
    args->options.progress = !args->quiet;
    auto start = std::chrono::steady_clock::now();
    auto gt = ComputeGroundTruth(args->base, args->queries, args->options);
    if (gt.ok()) {
      absl::Status s = WriteGroundTruth(args->out, *gt);
      if (!s.ok()) gt = s;
    }
    if (!gt.ok()) {
      std::fprintf(stderr, "cairn gt: %s\n", std::string(gt.status().message()).c_str());
      *exit_code = 1;
      return;
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("wrote %s: %u queries x top-%u (%s) in %.2f s\n", args->out.c_str(),
                gt->num_queries, gt->k, std::string(MetricName(*metric)).c_str(), secs);
    *exit_code = 0;
  });
}

}  // namespace cairn
