// `cairn bench` and its subcommands: flags into each benchmark's options,
// the run, and the printing; the benchmarks themselves live in bench/.
#include "cli/bench_command.h"

#include <cstdio>
#include <exception>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "bench/codes_bench.h"
#include "bench/gt_bench.h"
#include "bench/harness.h"
#include "bench/http_bench.h"
#include "bench/interleave_bench.h"
#include "bench/io_cost_bench.h"
#include "bench/kernel_bench.h"
#include "bench/method_registry.h"
#include "bench/report.h"
#include "bench/stream_bench.h"
#include "cli/bench_route_command.h"
#include "cli/bench_soak_command.h"
#include "common/progress.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace cairn {
namespace {

struct BenchArgs {
  std::string base, queries, gt, metric = "l2", json;
  std::string methods = "exact,hnswlib,faiss-ivf-flat,faiss-ivf-pq-refine";
  std::string sweep, build_params;
  int threads = 1;
  int build_threads = 0;
  uint64_t max_queries = 0;
  uint32_t k = 10;
  uint32_t warmup = 100;
  bool quiet = false;
};

struct KernelArgs {
  KernelBenchOptions options;
  std::string json;
};

struct GtArgs {
  GtBenchOptions options;
  std::string metric = "l2", json;
};

struct StreamArgs {
  StreamBenchOptions options;
  std::string metric = "l2", json;
  bool quiet = false;
};

struct CodesArgs {
  CodesBenchOptions options;
  std::string metric = "l2", out;
  bool quiet = false;
};

// Prints what ran to stdout, then writes its JSON to `path` if one is set.
absl::Status FinishRun(const nlohmann::json& json, const std::string& path) {
  std::cout.flush();
  if (path.empty()) return absl::OkStatus();
  CAIRN_RETURN_IF_ERROR(WriteJson(json, path));
  std::printf("wrote %s\n", path.c_str());
  return absl::OkStatus();
}

absl::Status RunBench(const BenchArgs& args) {
  if (args.base.empty() || args.queries.empty()) {
    return absl::InvalidArgumentError(
        "--base and --queries are required (or run `cairn bench kernels`)");
  }
  BenchConfig config;
  config.base_path = args.base;
  config.query_path = args.queries;
  config.gt_path = args.gt;
  CAIRN_ASSIGN_OR_RETURN(config.metric, ParseMetric(args.metric));
  config.k = args.k;
  config.query_threads = args.threads;
  config.build_threads = args.build_threads;
  config.max_queries = args.max_queries;
  config.warmup_queries = args.warmup;
  config.verbose = !args.quiet;
  if (!args.sweep.empty()) {
    CAIRN_ASSIGN_OR_RETURN(config.sweeps, ParseSweepSpec(args.sweep));
  }
  if (!args.build_params.empty()) {
    CAIRN_ASSIGN_OR_RETURN(config.build_params, ParseBuildSpec(args.build_params));
  }
  CAIRN_RETURN_IF_ERROR(config.Validate());
  CAIRN_ASSIGN_OR_RETURN(std::vector<std::unique_ptr<SearchMethod>> methods,
                         MakeMethods(args.methods, config.build_params));

  Progress::SetGloballyEnabled(!args.quiet);
  CAIRN_ASSIGN_OR_RETURN(BenchReport report, RunBenchmark(config, methods));
  PrintTable(report, std::cout);
  std::cout.flush();
  if (!args.json.empty()) {
    CAIRN_RETURN_IF_ERROR(WriteJsonReport(report, args.json));
    std::printf("wrote %s\n", args.json.c_str());
  }
  return absl::OkStatus();
}

absl::Status RunKernels(const KernelArgs& args) {
  nlohmann::json json;
  CAIRN_RETURN_IF_ERROR(RunKernelBench(args.options, std::cout, &json));
  return FinishRun(json, args.json);
}

absl::Status RunGt(GtArgs args) {
  CAIRN_ASSIGN_OR_RETURN(args.options.metric, ParseMetric(args.metric));
  nlohmann::json json;
  CAIRN_RETURN_IF_ERROR(RunGtBench(args.options, std::cout, &json));
  return FinishRun(json, args.json);
}

absl::Status RunStream(StreamArgs args) {
  CAIRN_ASSIGN_OR_RETURN(args.options.metric, ParseMetric(args.metric));
  args.options.progress = !args.quiet;
  nlohmann::json json;
  CAIRN_RETURN_IF_ERROR(RunStreamBench(args.options, std::cout, &json));
  return FinishRun(json, args.json);
}

absl::Status RunCodes(CodesArgs args) {
  CAIRN_ASSIGN_OR_RETURN(args.options.metric, ParseMetric(args.metric));
  args.options.progress = !args.quiet;
  Progress::SetGloballyEnabled(!args.quiet);
  nlohmann::json json;
  CAIRN_RETURN_IF_ERROR(RunCodesBench(args.options, std::cout, &json));
  return FinishRun(json, args.out.empty() ? "" : args.out + ".json");
}

// Runs body and turns its Status, or anything it throws, into the exit code;
// nothing escapes into CLI11.
template <typename F>
void RunCommand(const char* command, int* exit_code, F&& body) {
  absl::Status status;
  try {
    status = body();
  } catch (const std::exception& e) {
    status = absl::InternalError(e.what());
  } catch (...) {
    status = absl::InternalError("unknown exception");
  }
  if (!status.ok()) {
    std::fprintf(stderr, "%s: %s\n", command, std::string(status.message()).c_str());
    *exit_code = 1;
    return;
  }
  *exit_code = 0;
}

// `cairn bench` itself: the methods' sweep over one data set.
void AddBenchOptions(CLI::App* cmd, BenchArgs* args) {
  cmd->add_option("--base", args->base, "Base vectors file (fbin, fvecs, ...)");
  cmd->add_option("--queries", args->queries, "Query vectors file");
  cmd->add_option("--gt", args->gt, "Ground truth (ibin or ivecs); omitted: computed exactly");
  cmd->add_option("--metric", args->metric, "l2 | ip | cosine")->capture_default_str();
  cmd->add_option("--methods", args->methods,
                  absl::StrCat("Comma-separated, from: ", absl::StrJoin(KnownMethodNames(), ",")))
      ->capture_default_str();
  cmd->add_option("--threads", args->threads, "Threads running queries")->capture_default_str();
  cmd->add_option("--build-threads", args->build_threads, "Threads for index builds (0: all)")
      ->capture_default_str();
  cmd->add_option("--max-queries", args->max_queries, "Use only the first N queries (0: all)");
  cmd->add_option("--k", args->k, "k of the timed search")->capture_default_str();
  cmd->add_option("--warmup", args->warmup, "Untimed warm-up queries before each setting")
      ->capture_default_str();
  cmd->add_option("--json", args->json, "Also write the report as JSON to this file");
  cmd->add_option("--sweep", args->sweep,
                  "Search settings, e.g. \"hnswlib:ef=10,20;faiss-ivf-pq-refine:nprobe=8,16:"
                  "k_factor=2,4\" (cartesian product per method)");
  cmd->add_option("--build-params", args->build_params,
                  "Build knobs, e.g. \"hnswlib:M=32:ef_construction=400;faiss-ivf-flat:"
                  "nlist=1024\"");
  cmd->add_flag("--quiet", args->quiet, "No progress output on stderr");
}

CLI::App* AddKernelsCommand(CLI::App* bench, int* exit_code) {
  auto args = std::make_shared<KernelArgs>();
  CLI::App* cmd =
      bench->add_subcommand("kernels", "Throughput of the distance kernels at every SIMD level");
  cmd->add_option("--dims", args->options.dims, "Dimensions, e.g. 128,384")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--seconds", args->options.seconds_per_case, "Measured seconds per case")
      ->capture_default_str();
  cmd->add_option("--json", args->json, "Also write the results as JSON to this file");
  cmd->callback([args, exit_code] {
    RunCommand("cairn bench kernels", exit_code, [&] { return RunKernels(*args); });
  });
  return cmd;
}

CLI::App* AddGtCommand(CLI::App* bench, int* exit_code) {
  auto args = std::make_shared<GtArgs>();
  CLI::App* cmd = bench->add_subcommand(
      "gt", "Time exact ground truth: cairn's blocked SGEMM vs faiss IndexFlat, same files");
  cmd->add_option("--base", args->options.base_path, "Base vectors file")->required();
  cmd->add_option("--queries", args->options.query_path, "Query vectors file")->required();
  cmd->add_option("--k", args->options.k, "Neighbours per query")->capture_default_str();
  cmd->add_option("--metric", args->metric, "l2 | ip | cosine")->capture_default_str();
  cmd->add_option("--threads", args->options.threads, "Threads for both (0: all cores)");
  cmd->add_option("--json", args->json, "Also write the results as JSON to this file");
  cmd->callback([args, exit_code] {
    RunCommand("cairn bench gt", exit_code, [&] { return RunGt(*args); });
  });
  return cmd;
}

CLI::App* AddStreamCommand(CLI::App* bench, int* exit_code) {
  auto args = std::make_shared<StreamArgs>();
  StreamBenchOptions& o = args->options;
  CLI::App* cmd = bench->add_subcommand(
      "stream", "Live updates: build on half, insert the rest, delete some, compare with a "
                "fresh build");
  cmd->add_option("--base", o.base_path, "Base vectors file")->required();
  cmd->add_option("--queries", o.query_path, "Query vectors file")->required();
  cmd->add_option("--out", o.work_dir, "Work directory (replaced)")->required();
  cmd->add_option("--metric", args->metric, "l2 | ip | cosine")->capture_default_str();
  cmd->add_option("--max-postings", o.max_postings, "Postings read per query")
      ->capture_default_str();
  cmd->add_option("--delete-fraction", o.delete_fraction, "Fraction of all vectors deleted live")
      ->capture_default_str();
  cmd->add_option("--batch", o.batch, "Vectors per upsert call")->capture_default_str();
  cmd->add_option("--max-queries", o.max_queries, "Queries for recall and latency")
      ->capture_default_str();
  cmd->add_option("--json", args->json, "Also write the results as JSON to this file");
  cmd->add_flag("--quiet", args->quiet, "No progress output");
  cmd->callback([args, exit_code] {
    RunCommand("cairn bench stream", exit_code, [&] { return RunStream(*args); });
  });
  return cmd;
}

CLI::App* AddHttpCommand(CLI::App* bench, int* exit_code) {
  auto o = std::make_shared<HttpBenchOptions>();
  CLI::App* cmd = bench->add_subcommand(
      "http", "Search over HTTP/JSON at several connection counts beside the same queries in "
              "process: the serving overhead");
  cmd->add_option("--index", o->index, "A `cairn build` index directory")->required();
  cmd->add_option("--queries", o->queries, "Query vectors file")->required();
  cmd->add_option("--work", o->work, "Work directory (the served collection)")
      ->capture_default_str();
  cmd->add_option("--k", o->k, "Results per query")->capture_default_str();
  cmd->add_option("--max-postings", o->max_postings, "Postings read per query")
      ->capture_default_str();
  cmd->add_option("--connections", o->connections, "Concurrent keep-alive connections")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--seconds", o->seconds, "Duration of each HTTP run")->capture_default_str();
  cmd->add_option("--max-queries", o->max_queries, "Distinct queries used")->capture_default_str();
  cmd->add_option("--workers", o->workers, "Server worker threads (0: one per core)");
  cmd->add_option("--json", o->json, "Also write the results as JSON to this file");
  cmd->callback([o, exit_code] {
    RunCommand("cairn bench http", exit_code, [&] { return RunHttpBench(*o); });
  });
  return cmd;
}

CLI::App* AddCodesCommand(CLI::App* bench, int* exit_code) {
  auto args = std::make_shared<CodesArgs>();
  CodesBenchOptions& o = args->options;
  CLI::App* cmd = bench->add_subcommand(
      "codes", "Candidate recall, error and bound coverage of the binary code families "
               "(lsh, itq, rabitq), exhaustively over the base");
  cmd->add_option("--base", o.base_path, "Base vectors file")->required();
  cmd->add_option("--queries", o.query_path, "Query vectors file")->required();
  cmd->add_option("--gt", o.gt_path, "Ground truth (ibin or ivecs); omitted: computed exactly");
  cmd->add_option("--metric", args->metric, "l2 | ip | cosine")->capture_default_str();
  cmd->add_option("--families", o.families, "Comma-separated: lsh, itq, rabitq")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--bits-per-dim", o.bits_per_dim, "Comma-separated (more than 1: lsh only)")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--rotations", o.rotations, "rabitq rotations: hadamard, learned")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--heads", o.heads,
                  "Heads (0: base / 16, at most 4096: every base vector is assigned "
                  "exhaustively)")
      ->capture_default_str();
  cmd->add_option("--queries-limit", o.queries_limit, "Use the first N queries")
      ->capture_default_str();
  cmd->add_option("--train-sample", o.train_sample, "Residuals each family is trained on")
      ->capture_default_str();
  cmd->add_option("--kmeans-sample", o.kmeans_sample, "Points clustered into heads")
      ->capture_default_str();
  cmd->add_option("--itq-iterations", o.itq_iterations, "ITQ iterations")->capture_default_str();
  cmd->add_option("--eps0", o.eps0, "Error bound width (confidence P(|Z| <= eps0))")
      ->capture_default_str();
  cmd->add_option("--seed", o.seed, "Seed of sampling and transforms")->capture_default_str();
  cmd->add_option("--out", args->out, "Also write the results to PREFIX.json");
  cmd->add_flag("--quiet", args->quiet, "No progress output");
  cmd->callback([args, exit_code] {
    RunCommand("cairn bench codes", exit_code, [&] { return RunCodes(*args); });
  });
  return cmd;
}

CLI::App* AddInterleaveCommand(CLI::App* bench, int* exit_code) {
  auto a = std::make_shared<InterleaveBenchOptions>();
  CLI::App* cmd = bench->add_subcommand(
      "interleave", "Latency of several (index, setting) arms measured query by query in turn");
  cmd->add_option("--arm", a->arms,
                  "DIR[:max_postings=N,target_recall=R,head_ef=E,epsilon=X,bound_scale=S,"
                  "merge_gap=G,whole_nearest=W,rerank_top=C,"
                  "batch_cost_kib=B,plan=auto|two-step|whole] "
                  "(repeat; ratios are to the first)")
      ->required();
  cmd->add_option("--queries", a->queries, "Query vectors file")->required();
  cmd->add_option("--gt", a->gt, "Ground truth for recall@10");
  cmd->add_option("--k", a->k, "Results per query")->capture_default_str();
  cmd->add_option("--max-queries", a->max_queries, "Use the first N queries (0: all)");
  cmd->add_option("--rounds", a->rounds, "Passes over the queries; the first warms up")
      ->capture_default_str();
  cmd->add_option("--json", a->json, "Also write the results as JSON to this file");
  cmd->callback([a, exit_code] {
    RunCommand("cairn bench interleave", exit_code, [&] { return RunInterleaveBench(*a); });
  });
  return cmd;
}

CLI::App* AddIoCostCommand(CLI::App* bench, int* exit_code) {
  auto a = std::make_shared<IoCostOptions>();
  CLI::App* cmd = bench->add_subcommand(
      "io-cost",
      "Fixed cost per read batch and cost per KiB on this machine (the planner's batch_cost_kib)");
  cmd->add_option("--file", a->file, "File to read (e.g. an index's postings.dat)")->required();
  cmd->add_option("--sizes-kib", a->sizes_kib, "KiB per read, multiples of 4")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--batch", a->batch, "Reads per batch")->capture_default_str();
  cmd->add_option("--batches", a->batches, "Batches per size")->capture_default_str();
  cmd->add_option("--seed", a->seed, "Seed of read offsets")->capture_default_str();
  cmd->add_option("--json", a->json, "Also write the results as JSON to this file");
  cmd->callback([a, exit_code] {
    RunCommand("cairn bench io-cost", exit_code, [&] { return RunIoCostBench(*a); });
  });
  return cmd;
}

}  // namespace

void AddBenchCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* cmd =
      app.add_subcommand("bench", "Benchmark search methods on a base/queries/ground-truth triple");
  AddBenchOptions(cmd, args.get());
  cmd->require_subcommand(0, 1);
  // The help lists the subcommands in this order.
  AddKernelsCommand(cmd, exit_code);
  AddGtCommand(cmd, exit_code);
  AddStreamCommand(cmd, exit_code);
  AddHttpCommand(cmd, exit_code);
  AddCodesCommand(cmd, exit_code);
  AddInterleaveCommand(cmd, exit_code);
  AddIoCostCommand(cmd, exit_code);
  AddBenchSoakCommand(cmd, exit_code);
  AddBenchRouteCommand(cmd, exit_code);
  // CLI11 runs this after a nested subcommand's callback; they own the run.
  cmd->callback([cmd, args, exit_code] {
    for (const CLI::App* sub : cmd->get_subcommands({})) {
      if (sub->parsed()) return;
    }
    RunCommand("cairn bench", exit_code, [&] { return RunBench(*args); });
  });
}

}  // namespace cairn
