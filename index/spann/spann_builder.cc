#include "index/spann/spann_builder.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <thread>
#include <utility>

#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "index/spann/route_calibration.h"
#include "index/spann/spann_build_stages.h"
#include "storage/env.h"
#include "storage/file_lock.h"

namespace cairn {
namespace {

using Clock = std::chrono::steady_clock;

uint64_t PeakRss() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<uint64_t>(ru.ru_maxrss) * 1024;
}

uint64_t DefaultBudget() {
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * page / 2 : (4ull << 30);
}

// Build progress: which stages are done, for which options and input.
struct BuildState {
  nlohmann::json key;  // options + input identity
  std::vector<std::string> done;
  bool Done(const std::string& stage) const {
    return std::find(done.begin(), done.end(), stage) != done.end();
  }
};

absl::Status SaveState(Env* env, const std::string& path, const BuildState& s) {
  nlohmann::json j = {{"key", s.key}, {"done", s.done}};
  return WriteFileAtomically(env, path, j.dump(1));
}

BuildState LoadState(Env* env, const std::string& path, const nlohmann::json& key) {
  BuildState s;
  s.key = key;
  auto body = env->ReadFile(path);
  if (!body.ok()) return s;
  auto j = nlohmann::json::parse(*body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("key", nlohmann::json()) != key) {
    std::fprintf(stderr, "build: previous partial build used other options or input; starting over\n");
    return s;
  }
  for (const auto& d : j.value("done", nlohmann::json::array())) s.done.push_back(d.get<std::string>());
  return s;
}

// Stage bookkeeping around the stage functions: which ran, for how long,
// and the state file a resumed build reads.
class StageTracker {
 public:
  StageTracker(Env* env, std::string state_path, BuildState state, bool progress,
               SpannBuildReport* report)
      : env_(env),
        state_path_(std::move(state_path)),
        state_(std::move(state)),
        had_progress_(!state_.done.empty()),
        progress_(progress),
        report_(report) {}

  bool Done(const std::string& stage) const { return state_.Done(stage); }

  // Runs `stage` unless an earlier build finished it, then records it done.
  absl::Status Run(const std::string& stage, absl::FunctionRef<absl::Status()> fn) {
    return Done(stage) ? absl::OkStatus() : RunAgain(stage, fn);
  }
  // Runs `stage` even if an earlier build finished it.
  absl::Status RunAgain(const std::string& stage, absl::FunctionRef<absl::Status()> fn) {
    if (report_->resumed_from.empty() && had_progress_) report_->resumed_from = stage;
    if (progress_) std::fprintf(stderr, "build: stage %s\n", stage.c_str());
    const auto t = Clock::now();
    CAIRN_RETURN_IF_ERROR(fn());
    report_->stage_seconds[stage] = std::chrono::duration<double>(Clock::now() - t).count();
    state_.done.push_back(stage);
    return SaveState(env_, state_path_, state_);
  }

 private:
  Env* const env_;
  const std::string state_path_;
  BuildState state_;
  const bool had_progress_;
  const bool progress_;
  SpannBuildReport* const report_;
};

// The options and input identity a resumed build must match.
nlohmann::json ResumeKey(const BuildInput& in) {
  std::error_code ec;
  return {{"options", in.options->ToJson()},
          {"input",
           {{"path", std::filesystem::absolute(in.input_path, ec).string()},
            {"n", in.n},
            {"dim", in.dim},
            {"bytes", std::filesystem::file_size(in.input_path, ec)}}}};
}

}  // namespace

absl::Status SpannBuildOptions::Validate() const {
  if (!(head_ratio > 0 && head_ratio <= 1)) return absl::InvalidArgumentError("--head-ratio must be in (0, 1]");
  if (replicas == 0 || replicas > kMaxReplicas) {
    return absl::InvalidArgumentError(absl::StrCat("--replicas must be in [1, ", kMaxReplicas, "]"));
  }
  if (candidates < replicas || candidates > kMaxCandidates) {
    return absl::InvalidArgumentError(
        absl::StrCat("--candidates must be in [replicas, ", kMaxCandidates, "]"));
  }
  if (!(rng_factor >= 0)) return absl::InvalidArgumentError("--rng-factor must be >= 0");
  if (!(closure_epsilon >= 0)) return absl::InvalidArgumentError("--closure-epsilon must be >= 0");
  if (branching < 2) return absl::InvalidArgumentError("--branching must be >= 2");
  if (kmeans_iterations == 0) return absl::InvalidArgumentError("--kmeans-iterations must be >= 1");
  if (hnsw_m < 2 || hnsw_m > 256) return absl::InvalidArgumentError("--hnsw-m must be in [2, 256]");
  if (stored_type != "auto" && stored_type != "float32" && stored_type != "uint8" &&
      stored_type != "int8") {
    return absl::InvalidArgumentError("--stored-type must be auto, float32, uint8 or int8");
  }
  if (code_bits_per_dim == 0 || code_bits_per_dim > 8) {
    return absl::InvalidArgumentError("--code-bits-per-dim must be in [1, 8]");
  }
  if (code_rotation != "hadamard" && code_rotation != "learned") {
    return absl::InvalidArgumentError("--code-rotation must be hadamard or learned");
  }
  if (codes_auto && codes != CodeFamily::kNone) {
    return absl::InvalidArgumentError("codes auto and a code family are exclusive");
  }
  if (code_sample < 16) return absl::InvalidArgumentError("--code-sample must be at least 16");
  if (calibration_queries > 1000000) {
    return absl::InvalidArgumentError("--calibration-queries must be at most 1000000");
  }
  if (memory_budget_bytes != 0 && memory_budget_bytes < (16u << 20)) {
    return absl::InvalidArgumentError("--memory-budget must be at least 16 MiB");
  }
  return absl::OkStatus();
}

nlohmann::json SpannBuildOptions::ToJson() const {
  return {{"metric", MetricName(metric)},
          {"head_ratio", head_ratio},
          {"replicas", replicas},
          {"candidates", candidates},
          {"assign_ef", assign_ef},
          {"rng_factor", rng_factor},
          {"closure_epsilon", std::isfinite(closure_epsilon) ? closure_epsilon : -1.0},
          {"posting_limit", posting_limit},
          {"branching", branching},
          {"kmeans_iterations", kmeans_iterations},
          {"balance", balance},
          {"hnsw_m", hnsw_m},
          {"hnsw_ef_construction", hnsw_ef_construction},
          {"seed", seed},
          {"stored_type", stored_type},
          {"head_type", HeadTypeManifestName(head_type)},
          {"codes", codes_auto ? "auto" : CodeFamilyName(codes)},
          {"code_bits_per_dim", code_bits_per_dim},
          {"code_rotation", code_rotation},
          {"code_sample", code_sample}};
}

absl::StatusOr<HeadType> ParseHeadType(std::string_view name) {
  if (name == "centroid") return HeadType::kCentroid;
  if (name == "member" || name == "nearest") return HeadType::kMember;
  return absl::InvalidArgumentError(absl::StrCat(
      "head type must be centroid or member (or its old name, nearest), not \"",
      std::string(name), "\""));
}

const char* HeadTypeManifestName(HeadType type) {
  return type == HeadType::kCentroid ? "centroid" : "nearest";
}

CodeFamily EffectiveCodes(const SpannBuildOptions& o, StoredType stored, uint32_t dim) {
  if (!o.codes_auto) return o.codes;
  const bool pays =
      stored == StoredType::kFloat32 && 2 * uint64_t{Sq8EntryBytes(dim)} <= 4 * uint64_t{dim};
  return pays ? CodeFamily::kSq8 : CodeFamily::kNone;
}

absl::StatusOr<SpannBuildReport> BuildSpannIndex(const std::string& input_path,
                                                 const std::string& out_dir,
                                                 const SpannBuildOptions& o) {
  CAIRN_RETURN_IF_ERROR(o.Validate());
  const auto start = Clock::now();
  CAIRN_ASSIGN_OR_RETURN(auto reader, VectorReader::Open(input_path));
  BuildInput in;
  in.options = &o;
  in.input_path = input_path;
  in.out_dir = out_dir;
  in.env = Env::Default();
  in.reader = reader.get();
  in.n = reader->info().num_vectors;
  in.dim = reader->info().dim;
  in.metric = o.metric;
  in.threads = o.threads > 0 ? o.threads : std::max(1, (int)std::thread::hardware_concurrency());
  in.budget_bytes = o.memory_budget_bytes > 0 ? o.memory_budget_bytes : DefaultBudget();
  if (in.n == 0) return absl::InvalidArgumentError(input_path + ": no vectors");
  if (in.n >= kNoHead) return absl::InvalidArgumentError(input_path + ": more than 2^32-2 vectors");

  CAIRN_RETURN_IF_ERROR(in.env->CreateDirs(out_dir + "/build"));
  // A build into a directory a live index (a server) has open would rewrite
  // its files under it; two builds into one directory would mix stages.
  CAIRN_ASSIGN_OR_RETURN(const std::unique_ptr<DirLock> lock,
                         DirLock::Acquire(out_dir, "cairn build"));
  const std::string state_path = out_dir + "/build/state.json";
  SpannBuildReport report;
  report.stage_seconds = nlohmann::json::object();
  StageTracker stages(in.env, state_path, LoadState(in.env, state_path, ResumeKey(in)), o.progress,
                      &report);

  CAIRN_RETURN_IF_ERROR(stages.Run("inspect", [&] { return InspectStoredType(in); }));
  CAIRN_ASSIGN_OR_RETURN(const StoredType stored, LoadStoredType(in));
  CAIRN_RETURN_IF_ERROR(stages.Run("clustering", [&] { return ClusterHeads(in); }));
  CAIRN_ASSIGN_OR_RETURN(const FloatMatrix head_vectors, LoadHeadVectors(in));
  const uint32_t num_heads = static_cast<uint32_t>(head_vectors.rows);

  std::unique_ptr<HeadIndex> heads;
  if (stages.Done("head_graph")) {
    CAIRN_ASSIGN_OR_RETURN(heads, LoadHeadGraph(in));
  }
  CAIRN_RETURN_IF_ERROR(stages.Run("head_graph", [&]() -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(heads, BuildHeadGraph(in, head_vectors));
    return absl::OkStatus();
  }));
  Assignment assignment;
  if (stages.Done("assignment")) {
    CAIRN_ASSIGN_OR_RETURN(assignment, LoadAssignment(in));
  }
  CAIRN_RETURN_IF_ERROR(stages.Run("assignment", [&]() -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(assignment, AssignVectors(in, *heads));
    return absl::OkStatus();
  }));
  std::unique_ptr<CodeModel> codes;
  const CodeFamily family = EffectiveCodes(o, stored, in.dim);
  if (family != CodeFamily::kNone) {
    if (stages.Done("codes")) {
      CAIRN_ASSIGN_OR_RETURN(codes, LoadCodes(in));
    }
    CAIRN_RETURN_IF_ERROR(stages.Run("codes", [&]() -> absl::Status {
      CAIRN_ASSIGN_OR_RETURN(codes, TrainCodes(in, family, *heads, assignment));
      return absl::OkStatus();
    }));
  }

  const PostingsInput postings{stored, heads.get(), num_heads, codes.get()};
  CAIRN_RETURN_IF_ERROR(stages.Run("postings", [&]() -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(report.entries_dropped_by_limit,
                           WritePostings(in, postings, &assignment));
    return absl::OkStatus();
  }));
  // Always rewritten: the manifest is what marks the index finished.
  CAIRN_RETURN_IF_ERROR(stages.RunAgain("manifest", [&]() -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(report.total_entries,
                           WriteIndexManifest(in, stored, num_heads, codes.get()));
    return absl::OkStatus();
  }));
  if (o.calibration_queries > 0) {
    CAIRN_RETURN_IF_ERROR(stages.Run("calibration", [&]() -> absl::Status {
      CalibrationOptions c;
      c.queries = o.calibration_queries;
      c.seed = o.seed;
      c.progress = o.progress;
      absl::StatusOr<CalibrationReport> r = CalibrateIndex(out_dir, input_path, c);
      // An index too small for any recall target still serves fixed counts.
      if (absl::IsInvalidArgument(r.status())) {
        report.calibration_skipped = std::string(r.status().message());
        return absl::OkStatus();
      }
      return r.status();
    }));
  }
  report.num_heads = num_heads;
  report.replicas_per_vector = static_cast<double>(report.total_entries) / in.n;
  report.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  report.peak_rss_bytes = PeakRss();
  return report;
}

}  // namespace cairn
