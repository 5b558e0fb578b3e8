#include "cli/build_command.h"

#include <cstdio>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "index/spann/spann_builder.h"
#include "index/spann/spann_index.h"

namespace cairn {
namespace {

struct BuildArgs {
  std::string input, out, metric = "l2";
  std::string head_type = "member", codes = "auto";
  SpannBuildOptions options;
  double closure_epsilon = -1;
  bool quiet = false;
};

// *out = the parsed value, or the parse error under the flag's name.
template <typename T>
absl::Status ParseFlag(const char* flag, absl::StatusOr<T> parsed, T* out) {
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": ", parsed.status().message()));
  }
  *out = *parsed;
  return absl::OkStatus();
}

// The flags that are not options as given: strings to enums, sentinels to
// values.
absl::Status ParseBuildArgs(BuildArgs& a) {
  CAIRN_ASSIGN_OR_RETURN(a.options.metric, ParseMetric(a.metric));
  CAIRN_RETURN_IF_ERROR(ParseFlag("--head-type", ParseHeadType(a.head_type), &a.options.head_type));
  a.options.codes_auto = a.codes == "auto";
  if (!a.options.codes_auto) {
    CAIRN_RETURN_IF_ERROR(ParseFlag("--codes", ParseCodeFamily(a.codes), &a.options.codes));
  }
  if (a.closure_epsilon >= 0) a.options.closure_epsilon = a.closure_epsilon;
  a.options.progress = !a.quiet;
  return absl::OkStatus();
}

}  // namespace

void AddBuildCommand(CLI::App& app, int* exit_code) {
  auto a = std::make_shared<BuildArgs>();
  CLI::App* cmd = app.add_subcommand("build", "Bulk-build a SPANN index (heads in RAM, postings on SSD)");
  cmd->add_option("--input", a->input, "Vector file (.fbin .u8bin .i8bin .fvecs .bvecs)")->required();
  cmd->add_option("--out", a->out, "Index directory")->required();
  cmd->add_option("--metric", a->metric, "l2 | ip | cosine");
  cmd->add_option("--threads", a->options.threads, "Threads (0: all cores)");
  cmd->add_option("--memory-budget", a->options.memory_budget_bytes, "Bytes of RAM the build may use (default: half of RAM)");
  cmd->add_option("--head-ratio", a->options.head_ratio, "Heads as a fraction of vectors");
  cmd->add_option("--replicas", a->options.replicas, "Most postings per vector (R)");
  cmd->add_option("--candidates", a->options.candidates, "Nearest heads considered per vector");
  cmd->add_option("--assign-ef", a->options.assign_ef, "Head graph beam when assigning vectors");
  cmd->add_option("--rng-factor", a->options.rng_factor, "RNG rule factor (1 = SPANN's rule)");
  cmd->add_option("--closure-epsilon", a->closure_epsilon, "Skip heads beyond (1+eps) x nearest (default: off)");
  cmd->add_option("--posting-limit", a->options.posting_limit, "Most entries per posting (0: automatic)");
  // "nearest" is the old name of member heads; ParseHeadType still takes it.
  cmd->add_option("--head-type", a->head_type,
                  "centroid | member (the leaf member nearest its centroid; old name: nearest)");
  cmd->add_option("--branching", a->options.branching, "k-means children per level");
  cmd->add_option("--kmeans-iterations", a->options.kmeans_iterations, "Iterations per k-means");
  cmd->add_option("--balance", a->options.balance, "Balance penalty weight (0: plain k-means)");
  cmd->add_option("--hnsw-m", a->options.hnsw_m, "Head graph degree M");
  cmd->add_option("--hnsw-ef-construction", a->options.hnsw_ef_construction, "Head graph build beam");
  cmd->add_option("--seed", a->options.seed, "Seed");
  cmd->add_option("--codes", a->codes,
                  "Codes in postings: auto (sq8 for float32 postings of dim >= 40, else none) | none | lsh | "
                  "itq | rabitq | sq8 (search reads codes first)")
      ->capture_default_str();
  cmd->add_option("--code-bits-per-dim", a->options.code_bits_per_dim,
                  "Code bits per dimension (lsh: hyperplanes per dimension)");
  cmd->add_option("--code-rotation", a->options.code_rotation,
                  "rabitq rotation: hadamard (random) | learned (ITQ)");
  cmd->add_option("--code-sample", a->options.code_sample, "Residuals the code model trains on");
  cmd->add_option("--calibration-queries", a->options.calibration_queries,
                  "Base vectors sampled to calibrate --target-recall searches (0: skip)")
      ->capture_default_str();
  cmd->add_option("--stored-type", a->options.stored_type,
                  "Posting vector type: auto (narrowest lossless) | float32 | uint8 | int8");
  cmd->add_flag("--quiet", a->quiet, "No progress output");
  cmd->callback([a, exit_code] {
    absl::Status parsed = ParseBuildArgs(*a);
    if (!parsed.ok()) {
      std::fprintf(stderr, "cairn build: %s\n", std::string(parsed.message()).c_str());
      *exit_code = 1;
      return;
    }
    auto report = BuildSpannIndex(a->input, a->out, a->options);
    if (!report.ok()) {
      std::fprintf(stderr, "cairn build: %s\n", std::string(report.status().message()).c_str());
      *exit_code = 1;
      return;
    }
    std::printf("built %s: %u heads, %.2f replicas per vector, %llu entries dropped by the posting "
                "limit, %.1f s, peak RSS %.0f MiB%s\n",
                a->out.c_str(), report->num_heads, report->replicas_per_vector,
                (unsigned long long)report->entries_dropped_by_limit, report->seconds,
                report->peak_rss_bytes / 1048576.0,
                report->resumed_from.empty()
                    ? ""
                    : (" (resumed at stage " + report->resumed_from + ")").c_str());
    std::printf("stage seconds: %s\n", report->stage_seconds.dump().c_str());
    if (!report->calibration_skipped.empty()) {
      std::printf("no routing calibration: %s\n", report->calibration_skipped.c_str());
    }
    *exit_code = 0;
  });
}

}  // namespace cairn
