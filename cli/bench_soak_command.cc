// `cairn bench soak`: flags into SoakOptions, RunSoakBench, print.
#include "cli/bench_soak_command.h"

#include <cstdio>
#include <exception>
#include <iostream>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "bench/report.h"
#include "bench/soak_bench.h"

namespace cairn {

namespace {

struct SoakArgs {
  SoakOptions options;
  std::string json;
};

// 0 when the run passed, 1 when it failed its checks or could not run.
int RunSoak(const SoakArgs& args) {
  absl::StatusOr<SoakReport> report = RunSoakBench(args.options, std::cout);
  if (!report.ok()) {
    std::fprintf(stderr, "cairn bench soak: %s\n", std::string(report.status().message()).c_str());
    return 1;
  }
  std::cout.flush();
  PrintSoakReport(*report, std::cout);
  std::cout.flush();
  if (!args.json.empty()) {
    absl::Status s = WriteJson(SoakReportJson(*report), args.json);
    if (!s.ok()) {
      std::fprintf(stderr, "cairn bench soak: %s\n", std::string(s.message()).c_str());
      return 1;
    }
    std::printf("wrote %s\n", args.json.c_str());
  }
  return report->passed() ? 0 : 1;
}

}  // namespace

void AddBenchSoakCommand(CLI::App* bench, int* exit_code) {
  auto args = std::make_shared<SoakArgs>();
  SoakOptions& o = args->options;
  CLI::App* cmd = bench->add_subcommand(
      "soak",
      "Mixed read/write load on a running server for minutes: memory, open files, "
      "errors, latency, then a consistency check");
  cmd->add_option("--url", o.url, "The server, http://HOST:PORT")->required();
  cmd->add_option("--minutes", o.minutes, "Duration of the load")->capture_default_str();
  cmd->add_option("--connections", o.connections, "Client threads, one keep-alive connection each")
      ->capture_default_str();
  cmd->add_option("--collection", o.collection, "Collection to create or reuse")
      ->capture_default_str();
  cmd->add_option("--dim", o.dim, "Vector dimension")->capture_default_str();
  cmd->add_option("--api-key", o.api_key, "Sent as the api-key header");
  cmd->add_option("--seed", o.seed, "Seed of vectors, payloads and the operation mix")
      ->capture_default_str();
  cmd->add_option("--ids-per-connection", o.ids_per_connection,
                  "Point ids each connection writes and deletes among")
      ->capture_default_str();
  cmd->add_flag("--prefill,!--no-prefill", o.prefill,
                "Write every id once before the clock starts (steady size from the start)")
      ->capture_default_str();
  cmd->add_option("--json", args->json, "Also write the report as JSON to this file");
  cmd->add_option("--pid", o.pid,
                  "Server process to sample (default: the one listening on the URL's port)");
  cmd->callback([args, exit_code] {
    try {
      *exit_code = RunSoak(*args);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "cairn bench soak: %s\n", e.what());
      *exit_code = 1;
    }
  });
}

}  // namespace cairn
