// `cairn bench route-study`: flags into RouteStudyOptions, RunRouteStudy,
// print (bench/route_study.h).
#include "cli/bench_route_command.h"

#include <cstdio>
#include <exception>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "bench/route_study.h"

namespace cairn {
namespace {

struct RouteArgs {
  RouteStudyOptions options;
  std::string out;
};

int RunRoute(const RouteArgs& args) {
  std::ostringstream report;
  absl::Status s = RunRouteStudy(args.options, report);
  if (!s.ok()) {
    std::fprintf(stderr, "cairn bench route-study: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  std::cout << report.str();
  std::cout.flush();
  if (!args.out.empty()) {
    std::ofstream f(args.out, std::ios::app);
    f << report.str() << "\n";
    if (!f) {
      std::fprintf(stderr, "cairn bench route-study: cannot write %s\n", args.out.c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace

void AddBenchRouteCommand(CLI::App* bench, int* exit_code) {
  auto args = std::make_shared<RouteArgs>();
  RouteStudyOptions& o = args->options;
  CLI::App* cmd = bench->add_subcommand(
      "route-study",
      "Oracle postings per query and how well routing features (GMM entropy, head distance "
      "ratios) predict them: the budget rules calibrated on base-vector queries, on test queries");
  cmd->add_option("--index", o.index, "Index directory (L2)")->required();
  cmd->add_option("--base", o.base, "The base vectors it was built from")->required();
  cmd->add_option("--queries", o.queries, "Test query vectors")->required();
  cmd->add_option("--gt", o.gt, "Ground truth of the test queries")->required();
  cmd->add_option("--max-queries", o.max_queries, "Use the first N test queries (0: all)");
  cmd->add_option("--calib-queries", o.calib_queries, "Calibration queries sampled from the base")
      ->capture_default_str();
  cmd->add_option("--k", o.k, "Neighbours per query")->capture_default_str();
  cmd->add_option("--prefix", o.prefix, "Postings studied per query (head order length)")
      ->capture_default_str();
  cmd->add_option("--head-ef", o.head_ef, "Beam of the wide head search")->capture_default_str();
  cmd->add_option("--components", o.components, "GMM components (0: sqrt(heads))")
      ->capture_default_str();
  cmd->add_option("--buckets", o.buckets, "Score buckets of a budget rule")->capture_default_str();
  cmd->add_option("--targets", o.targets, "Recall targets")->delimiter(',')->capture_default_str();
  cmd->add_option("--stage-postings", o.stage_postings,
                  "Second-stage features after this many postings (0: none)")
      ->capture_default_str();
  cmd->add_option("--check-postings", o.check_postings,
                  "Fixed count of the real-searcher check (0: none)")
      ->capture_default_str();
  cmd->add_option("--seed", o.seed, "Seed of sampling and the GMM")->capture_default_str();
  cmd->add_option("--out", args->out, "Also append the report to this file");
  cmd->callback([args, exit_code] {
    try {
      *exit_code = RunRoute(*args);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "cairn bench route-study: %s\n", e.what());
      *exit_code = 1;
    }
  });
}

}  // namespace cairn
