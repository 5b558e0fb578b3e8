#include "cli/bench_command.h"

#include <cstdio>
#include <exception>
#include <iostream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "bench/codes_bench.h"
#include "bench/gt_bench.h"
#include "bench/http_bench.h"
#include "bench/interleave_bench.h"
#include "bench/io_cost_bench.h"
#include "bench/stream_bench.h"
#include "bench/harness.h"
#include "bench/kernel_bench.h"
#include "bench/method_registry.h"
#include "bench/report.h"
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
  std::vector<uint32_t> dims = KernelBenchOptions().dims;
  double seconds_per_case = KernelBenchOptions().seconds_per_case;
  std::string json;
};

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

  std::vector<std::unique_ptr<SearchMethod>> methods;
  std::set<std::string> names;
  for (absl::string_view raw : absl::StrSplit(args.methods, ',', absl::SkipWhitespace())) {
    const std::string name(absl::StripAsciiWhitespace(raw));
    if (!names.insert(name).second) {
      return absl::InvalidArgumentError(absl::StrCat("method ", name, " is listed twice"));
    }
    auto params = config.build_params.find(name);
    CAIRN_ASSIGN_OR_RETURN(
        std::unique_ptr<SearchMethod> method,
        MakeMethod(name, params == config.build_params.end() ? SearchParams() : params->second));
    methods.push_back(std::move(method));
  }
  if (methods.empty()) return absl::InvalidArgumentError("--methods names no method");
  for (const auto& [name, params] : config.build_params) {
    if (!names.count(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--build-params names method \"", name, "\", which is not being run"));
    }
  }

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
  KernelBenchOptions options;
  options.dims = args.dims;
  options.seconds_per_case = args.seconds_per_case;
  nlohmann::json json;
  CAIRN_RETURN_IF_ERROR(RunKernelBench(options, std::cout, &json));
  std::cout.flush();
  if (!args.json.empty()) {
    CAIRN_RETURN_IF_ERROR(WriteJson(json, args.json));
    std::printf("wrote %s\n", args.json.c_str());
  }
  return absl::OkStatus();
}

struct GtArgs {
  std::string base, queries, metric = "l2", json;
  uint32_t k = 100;
  int threads = 0;
};

absl::Status RunGt(const GtArgs& args) {
  GtBenchOptions options;
  options.base_path = args.base;
  options.query_path = args.queries;
  options.k = args.k;
  options.threads = args.threads;
  CAIRN_ASSIGN_OR_RETURN(options.metric, ParseMetric(args.metric));
  nlohmann::json json;
  CAIRN_RETURN_IF_ERROR(RunGtBench(options, std::cout, &json));
  std::cout.flush();
  if (!args.json.empty()) {
    CAIRN_RETURN_IF_ERROR(WriteJson(json, args.json));
    std::printf("wrote %s\n", args.json.c_str());
  }
  return absl::OkStatus();
}

struct StreamArgs {
  std::string base, queries, out, metric = "l2", json;
  uint32_t max_postings = 10, batch = 64, max_queries = 1000;
  double delete_fraction = 0.1;
  bool quiet = false;
};

absl::Status RunStream(const StreamArgs& args) {
  StreamBenchOptions options;
  options.base_path = args.base;
  options.query_path = args.queries;
  options.work_dir = args.out;
  options.max_postings = args.max_postings;
  options.batch = args.batch;
  options.max_queries = args.max_queries;
  options.delete_fraction = args.delete_fraction;
  options.progress = !args.quiet;
  CAIRN_ASSIGN_OR_RETURN(options.metric, ParseMetric(args.metric));
  nlohmann::json json;
  CAIRN_RETURN_IF_ERROR(RunStreamBench(options, std::cout, &json));
  std::cout.flush();
  if (!args.json.empty()) {
    CAIRN_RETURN_IF_ERROR(WriteJson(json, args.json));
    std::printf("wrote %s\n", args.json.c_str());
  }
  return absl::OkStatus();
}

struct CodesArgs {
  CodesBenchOptions options;
  std::string metric = "l2", out;
  bool quiet = false;
};

absl::Status RunCodes(CodesArgs args) {
  CAIRN_ASSIGN_OR_RETURN(args.options.metric, ParseMetric(args.metric));
  args.options.progress = !args.quiet;
  Progress::SetGloballyEnabled(!args.quiet);
  nlohmann::json json;
  CAIRN_RETURN_IF_ERROR(RunCodesBench(args.options, std::cout, &json));
  std::cout.flush();
  if (!args.out.empty()) {
    const std::string path = args.out + ".json";
    CAIRN_RETURN_IF_ERROR(WriteJson(json, path));
    std::printf("wrote %s\n", path.c_str());
  }
  return absl::OkStatus();
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

}  // namespace

void AddBenchCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* cmd =
      app.add_subcommand("bench", "Benchmark search methods on a base/queries/ground-truth triple");
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
  cmd->require_subcommand(0, 1);

  auto kernel_args = std::make_shared<KernelArgs>();
  CLI::App* kernels =
      cmd->add_subcommand("kernels", "Throughput of the distance kernels at every SIMD level");
  kernels->add_option("--dims", kernel_args->dims, "Dimensions, e.g. 128,384")
      ->delimiter(',')
      ->capture_default_str();
  kernels->add_option("--seconds", kernel_args->seconds_per_case, "Measured seconds per case")
      ->capture_default_str();
  kernels->add_option("--json", kernel_args->json, "Also write the results as JSON to this file");
  kernels->callback([kernel_args, exit_code] {
    RunCommand("cairn bench kernels", exit_code, [&] { return RunKernels(*kernel_args); });
  });

  auto gt_args = std::make_shared<GtArgs>();
  CLI::App* gt = cmd->add_subcommand(
      "gt", "Time exact ground truth: cairn's blocked SGEMM vs faiss IndexFlat, same files");
  gt->add_option("--base", gt_args->base, "Base vectors file")->required();
  gt->add_option("--queries", gt_args->queries, "Query vectors file")->required();
  gt->add_option("--k", gt_args->k, "Neighbours per query")->capture_default_str();
  gt->add_option("--metric", gt_args->metric, "l2 | ip | cosine")->capture_default_str();
  gt->add_option("--threads", gt_args->threads, "Threads for both (0: all cores)");
  gt->add_option("--json", gt_args->json, "Also write the results as JSON to this file");
  gt->callback([gt_args, exit_code] {
    RunCommand("cairn bench gt", exit_code, [&] { return RunGt(*gt_args); });
  });

  auto stream_args = std::make_shared<StreamArgs>();
  CLI::App* stream = cmd->add_subcommand(
      "stream", "Live updates: build on half, insert the rest, delete some, compare with a "
                "fresh build");
  stream->add_option("--base", stream_args->base, "Base vectors file")->required();
  stream->add_option("--queries", stream_args->queries, "Query vectors file")->required();
  stream->add_option("--out", stream_args->out, "Work directory (replaced)")->required();
  stream->add_option("--metric", stream_args->metric, "l2 | ip | cosine")->capture_default_str();
  stream->add_option("--max-postings", stream_args->max_postings, "Postings read per query")
      ->capture_default_str();
  stream->add_option("--delete-fraction", stream_args->delete_fraction,
                     "Fraction of all vectors deleted live")
      ->capture_default_str();
  stream->add_option("--batch", stream_args->batch, "Vectors per upsert call")
      ->capture_default_str();
  stream->add_option("--max-queries", stream_args->max_queries, "Queries for recall and latency")
      ->capture_default_str();
  stream->add_option("--json", stream_args->json, "Also write the results as JSON to this file");
  stream->add_flag("--quiet", stream_args->quiet, "No progress output");
  stream->callback([stream_args, exit_code] {
    RunCommand("cairn bench stream", exit_code, [&] { return RunStream(*stream_args); });
  });

  auto http_args = std::make_shared<HttpBenchOptions>();
  CLI::App* http = cmd->add_subcommand(
      "http", "Search over HTTP/JSON at several connection counts beside the same queries in "
              "process: the serving overhead");
  http->add_option("--index", http_args->index, "A `cairn build` index directory")->required();
  http->add_option("--queries", http_args->queries, "Query vectors file")->required();
  http->add_option("--work", http_args->work, "Work directory (the served collection)")
      ->capture_default_str();
  http->add_option("--k", http_args->k, "Results per query")->capture_default_str();
  http->add_option("--max-postings", http_args->max_postings, "Postings read per query")
      ->capture_default_str();
  http->add_option("--connections", http_args->connections, "Concurrent keep-alive connections")
      ->delimiter(',')
      ->capture_default_str();
  http->add_option("--seconds", http_args->seconds, "Duration of each HTTP run")
      ->capture_default_str();
  http->add_option("--max-queries", http_args->max_queries, "Distinct queries used")
      ->capture_default_str();
  http->add_option("--workers", http_args->workers, "Server worker threads (0: one per core)");
  http->add_option("--json", http_args->json, "Also write the results as JSON to this file");
  http->callback([http_args, exit_code] {
    RunCommand("cairn bench http", exit_code, [&] { return RunHttpBench(*http_args); });
  });

  auto codes_args = std::make_shared<CodesArgs>();
  CodesBenchOptions& co = codes_args->options;
  CLI::App* codes = cmd->add_subcommand(
      "codes", "Candidate recall, error and bound coverage of the binary code families "
               "(lsh, itq, rabitq), exhaustively over the base");
  codes->add_option("--base", co.base_path, "Base vectors file")->required();
  codes->add_option("--queries", co.query_path, "Query vectors file")->required();
  codes->add_option("--gt", co.gt_path, "Ground truth (ibin or ivecs); omitted: computed exactly");
  codes->add_option("--metric", codes_args->metric, "l2 | ip | cosine")->capture_default_str();
  codes->add_option("--families", co.families, "Comma-separated: lsh, itq, rabitq")
      ->delimiter(',')
      ->capture_default_str();
  codes->add_option("--bits-per-dim", co.bits_per_dim, "Comma-separated (more than 1: lsh only)")
      ->delimiter(',')
      ->capture_default_str();
  codes->add_option("--rotations", co.rotations, "rabitq rotations: hadamard, learned")
      ->delimiter(',')
      ->capture_default_str();
  codes->add_option("--heads", co.heads, "Heads (0: base / 16, at most 4096: every base vector is assigned exhaustively)")->capture_default_str();
  codes->add_option("--queries-limit", co.queries_limit, "Use the first N queries")
      ->capture_default_str();
  codes->add_option("--train-sample", co.train_sample, "Residuals each family is trained on")
      ->capture_default_str();
  codes->add_option("--kmeans-sample", co.kmeans_sample, "Points clustered into heads")
      ->capture_default_str();
  codes->add_option("--itq-iterations", co.itq_iterations, "ITQ iterations")->capture_default_str();
  codes->add_option("--eps0", co.eps0, "Error bound width (confidence P(|Z| <= eps0))")
      ->capture_default_str();
  codes->add_option("--seed", co.seed, "Seed of sampling and transforms")->capture_default_str();
  codes->add_option("--out", codes_args->out, "Also write the results to PREFIX.json");
  codes->add_flag("--quiet", codes_args->quiet, "No progress output");
  codes->callback([codes_args, exit_code] {
    RunCommand("cairn bench codes", exit_code, [&] { return RunCodes(*codes_args); });
  });

  auto il_args = std::make_shared<InterleaveBenchArgs>();
  CLI::App* il = cmd->add_subcommand(
      "interleave", "Latency of several (index, setting) arms measured query by query in turn");
  il->add_option("--arm", il_args->arms,
                 "DIR[:max_postings=N,bound_scale=S,merge_gap=G,whole_nearest=W,rerank_top=C,"
                 "batch_cost_kib=B,plan=auto|two-step|whole] "
                 "(repeat; ratios are to the first)")
      ->required();
  il->add_option("--queries", il_args->queries, "Query vectors file")->required();
  il->add_option("--gt", il_args->gt, "Ground truth for recall@10");
  il->add_option("--k", il_args->k, "Results per query")->capture_default_str();
  il->add_option("--max-queries", il_args->max_queries, "Use the first N queries (0: all)");
  il->add_option("--rounds", il_args->rounds, "Passes over the queries; the first warms up")
      ->capture_default_str();
  il->add_option("--json", il_args->json, "Also write the results as JSON to this file");
  il->callback([il_args, exit_code] {
    RunCommand("cairn bench interleave", exit_code, [&] { return RunInterleaveBench(*il_args); });
  });

  auto io_args = std::make_shared<IoCostArgs>();
  CLI::App* io = cmd->add_subcommand(
      "io-cost", "Fixed cost per read batch and cost per KiB on this machine (the planner's batch_cost_kib)");
  io->add_option("--file", io_args->file, "File to read (e.g. an index's postings.dat)")->required();
  io->add_option("--sizes-kib", io_args->sizes_kib, "KiB per read, multiples of 4")
      ->delimiter(',')
      ->capture_default_str();
  io->add_option("--batch", io_args->batch, "Reads per batch")->capture_default_str();
  io->add_option("--batches", io_args->batches, "Batches per size")->capture_default_str();
  io->add_option("--seed", io_args->seed, "Seed of read offsets")->capture_default_str();
  io->add_option("--json", io_args->json, "Also write the results as JSON to this file");
  io->callback([io_args, exit_code] {
    RunCommand("cairn bench io-cost", exit_code, [&] { return RunIoCostBench(*io_args); });
  });

  // CLI11 runs this after a nested subcommand's callback; they own the run.
  cmd->callback([args, kernels, gt, stream, http, codes, il, io, exit_code] {
    if (kernels->parsed() || gt->parsed() || stream->parsed() || http->parsed() ||
        codes->parsed() || il->parsed() || io->parsed()) {
      return;
    }
    RunCommand("cairn bench", exit_code, [&] { return RunBench(*args); });
  });
}

}  // namespace cairn
