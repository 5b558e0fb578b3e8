#include "index/spann/spann_builder.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <numeric>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/progress.h"
#include "common/status_macros.h"
#include "datasets/vector_file.h"
#include "index/spann/balanced_kmeans.h"
#include "index/codes/code_model.h"
#include "kernels/distance.h"
#include "kernels/head_distance.h"
#include "index/spann/head_index.h"
#include "index/spann/page_order.h"
#include "index/spann/posting_format.h"
#include "index/spann/spann_files.h"
#include "storage/env.h"
#include "storage/posting_file.h"
#include "storage/record_file.h"
#include "index/spann/spann_limits.h"

namespace cairn {
namespace {

using Clock = std::chrono::steady_clock;
constexpr char kAssignMagic[8] = {'C', 'A', 'I', 'R', 'N', 'A', 'S', 'G'};
constexpr uint64_t kChunkRows = 8192;

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

// Reads rows [begin, begin+rows) as floats, normalised for cosine.
absl::Status ReadRows(VectorReader* reader, uint64_t begin, size_t rows, Metric metric,
                      float* out) {
  if (reader->position() != begin) CAIRN_RETURN_IF_ERROR(reader->Seek(begin));
  const uint32_t dim = reader->info().dim;
  size_t done = 0;
  while (done < rows) {
    CAIRN_ASSIGN_OR_RETURN(size_t got, reader->ReadFloat(rows - done, out + done * dim));
    if (got == 0) return absl::DataLossError(reader->info().path + ": ended early");
    done += got;
  }
  if (metric == Metric::kCosine) {
    for (size_t r = 0; r < rows; ++r) Normalize(out + r * dim, dim);
  }
  return absl::OkStatus();
}

template <typename Fn>
void ParallelRows(int threads, size_t n, Fn fn) {
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t b = next.fetch_add(64); b < n; b = next.fetch_add(64)) {
      for (size_t i = b; i < std::min(n, b + 64); ++i) fn(i);
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& th : pool) th.join();
}


// Trains the code model on the residuals of an evenly spaced sample of the
// input to each row's nearest assigned head (the head its first copy sits
// under), so learned codes fit what postings store.
absl::StatusOr<std::unique_ptr<CodeModel>> TrainCodeModel(
    VectorReader* reader, const HeadIndex& heads, const std::vector<uint32_t>& assign_head,
    uint32_t R, Metric metric, CodeFamily family, const SpannBuildOptions& o) {
  const uint64_t n = reader->info().num_vectors;
  const uint32_t dim = reader->info().dim;
  const uint64_t m = std::min<uint64_t>(n, o.code_sample);
  std::vector<float> residuals(m * dim), row(dim);
  const double stride = static_cast<double>(n) / m;
  for (uint64_t i = 0; i < m; ++i) {
    const uint64_t r = static_cast<uint64_t>(i * stride);
    CAIRN_RETURN_IF_ERROR(ReadRows(reader, r, 1, metric, row.data()));
    const uint32_t h = assign_head[r * R];
    const float* c = heads.head(h == kNoHead ? 0 : h);
    for (uint32_t d = 0; d < dim; ++d) residuals[i * dim + d] = row[d] - c[d];
  }
  CodeParams params;
  params.family = family;
  params.bits_per_dim = o.code_bits_per_dim;
  params.rotation = o.code_rotation == "learned" ? RotationKind::kLearned : RotationKind::kHadamard;
  params.seed = o.seed + 300;
  return CodeModel::Train(params, metric, dim, residuals.data(), m);
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
  if (head_type != "centroid" && head_type != "nearest") {
    return absl::InvalidArgumentError("--head-type must be centroid or nearest");
  }
  if (stored_type != "auto" && stored_type != "float32" && stored_type != "uint8" &&
      stored_type != "int8") {
    return absl::InvalidArgumentError("--stored-type must be auto, float32, uint8 or int8");
  }
  if (auto family = ParseCodeFamily(codes); !family.ok()) {
    return absl::InvalidArgumentError("--codes must be none, lsh, itq or rabitq");
  }
  if (code_bits_per_dim == 0 || code_bits_per_dim > 8) {
    return absl::InvalidArgumentError("--code-bits-per-dim must be in [1, 8]");
  }
  if (code_rotation != "hadamard" && code_rotation != "learned") {
    return absl::InvalidArgumentError("--code-rotation must be hadamard or learned");
  }
  if (code_sample < 16) return absl::InvalidArgumentError("--code-sample must be at least 16");
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
          {"head_type", head_type},
          {"codes", codes},
          {"code_bits_per_dim", code_bits_per_dim},
          {"code_rotation", code_rotation},
          {"code_sample", code_sample}};
}

absl::StatusOr<SpannBuildReport> BuildSpannIndex(const std::string& input_path,
                                                 const std::string& out_dir,
                                                 const SpannBuildOptions& o) {
  CAIRN_RETURN_IF_ERROR(o.Validate());
  const auto start = Clock::now();
  Env* env = Env::Default();
  const int threads = o.threads > 0 ? o.threads : std::max(1, (int)std::thread::hardware_concurrency());
  const uint64_t budget = o.memory_budget_bytes > 0 ? o.memory_budget_bytes : DefaultBudget();
  CAIRN_ASSIGN_OR_RETURN(auto reader, VectorReader::Open(input_path));
  const uint64_t n = reader->info().num_vectors;
  const uint32_t dim = reader->info().dim;
  if (n == 0) return absl::InvalidArgumentError(input_path + ": no vectors");
  if (n >= kNoHead) return absl::InvalidArgumentError(input_path + ": more than 2^32-2 vectors");
  const Metric metric = o.metric;

  CAIRN_RETURN_IF_ERROR(env->CreateDirs(out_dir + "/build"));
  const std::string state_path = out_dir + "/build/state.json";
  std::error_code ec;
  const nlohmann::json key = {
      {"options", o.ToJson()},
      {"input", {{"path", std::filesystem::absolute(input_path, ec).string()},
                 {"n", n}, {"dim", dim},
                 {"bytes", std::filesystem::file_size(input_path, ec)}}}};
  BuildState state = LoadState(env, state_path, key);
  // A finished index in the directory with these options: nothing to do.
  SpannBuildReport report;
  report.stage_seconds = nlohmann::json::object();
  const bool had_progress = !state.done.empty();
  auto stage_begin = [&](const std::string& name) {
    if (report.resumed_from.empty() && had_progress) report.resumed_from = name;
    if (o.progress) std::fprintf(stderr, "build: stage %s\n", name.c_str());
    return Clock::now();
  };
  auto stage_end = [&](const std::string& name, Clock::time_point t) -> absl::Status {
    report.stage_seconds[name] = std::chrono::duration<double>(Clock::now() - t).count();
    state.done.push_back(name);
    return SaveState(env, state_path, state);
  };

  // ---- Stage 0: inspect ---------------------------------------------------
  const std::string type_path = out_dir + "/build/stored_type";
  if (!state.Done("inspect")) {
    auto t = stage_begin("inspect");
    std::string chosen = o.stored_type;
    if (chosen == "auto") {
      bool u8 = metric != Metric::kCosine, i8 = u8;
      std::vector<float> chunk(kChunkRows * dim);
      Progress progress("inspect", n, "vectors", o.progress);
      for (uint64_t b = 0; b < n && (u8 || i8); b += kChunkRows) {
        const size_t rows = static_cast<size_t>(std::min(kChunkRows, n - b));
        CAIRN_RETURN_IF_ERROR(ReadRows(reader.get(), b, rows, Metric::kL2, chunk.data()));
        for (size_t i = 0; i < rows * dim; ++i) {
          const float v = chunk[i];
          const bool integral = v == std::nearbyint(v);
          u8 = u8 && integral && v >= 0 && v <= 255;
          i8 = i8 && integral && v >= -128 && v <= 127;
        }
        progress.Add(rows);
      }
      chosen = u8 ? "uint8" : i8 ? "int8" : "float32";
    } else if (chosen != "float32") {
      // An explicit integer type must still be lossless: checked on write.
    }
    CAIRN_RETURN_IF_ERROR(WriteFileAtomically(env, type_path, chosen));
    CAIRN_RETURN_IF_ERROR(stage_end("inspect", t));
  }
  StoredType stored = StoredType::kFloat32;
  {
    CAIRN_ASSIGN_OR_RETURN(std::string t, env->ReadFile(type_path));
    if (t == "uint8") stored = StoredType::kUInt8;
    else if (t == "int8") stored = StoredType::kInt8;
    else if (t != "float32") return absl::DataLossError(type_path + ": unknown type " + t);
  }
  if (stored != StoredType::kFloat32 && metric == Metric::kCosine) {
    return absl::InvalidArgumentError("cosine indexes store float32 (vectors are normalised)");
  }

  // ---- Stage 1: clustering -------------------------------------------------
  const std::string centroids_path = out_dir + "/build/centroids.fbin";
  if (!state.Done("clustering")) {
    auto t = stage_begin("clustering");
    // The sample that fits half the budget (all of it when it fits).
    const uint64_t fit = std::max<uint64_t>(1, budget / 2 / (uint64_t{dim} * 4));
    const uint64_t sample_n = std::min(n, fit);
    FloatMatrix sample;
    sample.rows = sample_n;
    sample.dim = dim;
    sample.data.resize(sample_n * dim);
    if (sample_n == n) {
      CAIRN_RETURN_IF_ERROR(ReadRows(reader.get(), 0, n, metric, sample.data.data()));
    } else {
      const double stride = static_cast<double>(n) / sample_n;
      for (uint64_t i = 0; i < sample_n; ++i) {
        CAIRN_RETURN_IF_ERROR(ReadRows(reader.get(), static_cast<uint64_t>(i * stride), 1, metric,
                                       sample.row(i)));
      }
    }
    // Balanced leaves of at most max_leaf points average about 0.9 x
    // max_leaf (measured on Fashion-MNIST and Gaussian mixtures), so this
    // lands near head_ratio * n heads.
    const double mean_leaf = 1.0 / o.head_ratio;
    HierarchicalOptions ho;
    ho.branching = o.branching;
    ho.max_leaf = std::max<uint32_t>(1, static_cast<uint32_t>(std::lround(mean_leaf * 1.1)));
    ho.iterations = o.kmeans_iterations;
    ho.balance = o.balance;
    ho.seed = o.seed;
    ho.nearest_real_vector = o.head_type == "nearest";
    ho.threads = threads;
    ho.progress = o.progress;
    CAIRN_ASSIGN_OR_RETURN(std::vector<float> centroids,
                           HierarchicalBalancedClustering(sample.data.data(), sample_n, dim, ho));
    FloatMatrix cm;
    cm.dim = dim;
    cm.rows = centroids.size() / dim;
    cm.data = std::move(centroids);
    // head_index.h: cosine heads are unit vectors like the data (the graph
    // and the RNG rule use -dot as a distance); a mean of unit vectors is
    // shorter than 1.
    if (metric == Metric::kCosine) {
      for (uint64_t r = 0; r < cm.rows; ++r) Normalize(cm.row(r), dim);
    }
    CAIRN_RETURN_IF_ERROR(WriteFloatMatrix(centroids_path, cm));
    CAIRN_RETURN_IF_ERROR(stage_end("clustering", t));
  }
  CAIRN_ASSIGN_OR_RETURN(FloatMatrix centroids, ReadFloatMatrix(centroids_path));
  const uint32_t num_heads = static_cast<uint32_t>(centroids.rows);

  // ---- Stage 2: head graph -------------------------------------------------
  const std::string heads_path = out_dir + "/heads.hnsw";
  std::unique_ptr<HeadIndex> heads;
  if (!state.Done("head_graph")) {
    auto t = stage_begin("head_graph");
    HeadIndexOptions hio;
    hio.m = o.hnsw_m;
    hio.ef_construction = o.hnsw_ef_construction;
    hio.threads = threads;
    hio.seed = o.seed + 100;
    hio.progress = o.progress;
    CAIRN_ASSIGN_OR_RETURN(heads, HeadIndex::Build(centroids.data.data(), num_heads, dim, metric, hio));
    const std::string tmp = heads_path + ".tmp";
    CAIRN_RETURN_IF_ERROR(heads->Save(tmp));
    CAIRN_RETURN_IF_ERROR(env->RenameFile(tmp, heads_path));
    CAIRN_RETURN_IF_ERROR(env->SyncDir(out_dir));
    CAIRN_RETURN_IF_ERROR(stage_end("head_graph", t));
  } else {
    CAIRN_ASSIGN_OR_RETURN(heads, HeadIndex::Load(heads_path, dim, metric));
  }

  // ---- Stage 3: assignment -------------------------------------------------
  const uint32_t R = o.replicas;
  const std::string assign_path = out_dir + "/build/assignment";
  std::vector<uint32_t> assign_head(n * R, kNoHead);
  std::vector<float> assign_dist(n * R, 0.0f);
  if (!state.Done("assignment")) {
    auto t = stage_begin("assignment");
    Progress progress("assignment", n, "vectors", o.progress);
    std::vector<float> chunk(kChunkRows * dim);
    for (uint64_t b = 0; b < n; b += kChunkRows) {
      const size_t rows = static_cast<size_t>(std::min(kChunkRows, n - b));
      CAIRN_RETURN_IF_ERROR(ReadRows(reader.get(), b, rows, metric, chunk.data()));
      ParallelRows(threads, rows, [&](size_t r) {
        thread_local std::vector<HeadHit> hits;
        const float* x = chunk.data() + r * dim;
        heads->Search(x, o.candidates, std::max(o.candidates, o.assign_ef), &hits);
        uint32_t* out_h = assign_head.data() + (b + r) * R;
        float* out_d = assign_dist.data() + (b + r) * R;
        uint32_t chosen = 0;
        const float nearest = hits.empty() ? 0 : TrueDistance(metric, hits[0].distance);
        for (const HeadHit& h : hits) {
          if (chosen == R) break;
          const float dxj = TrueDistance(metric, h.distance);
          if (chosen > 0 && std::isfinite(o.closure_epsilon) &&
              dxj > (1.0 + o.closure_epsilon) * nearest) {
            break;
          }
          bool pruned = false;
          for (uint32_t c = 0; c < chosen && !pruned; ++c) {
            const float dij = TrueDistance(
                metric, GraphDistance(metric, heads->head(out_h[c]), heads->head(h.head), dim));
            pruned = o.rng_factor * dij < dxj;
          }
          if (pruned) continue;
          out_h[chosen] = h.head;
          out_d[chosen] = dxj;
          ++chosen;
        }
      });
      progress.Add(rows);
    }
    progress.Finish();
    std::string body(n * R * 8, '\0');
    std::memcpy(body.data(), assign_head.data(), n * R * 4);
    std::memcpy(body.data() + n * R * 4, assign_dist.data(), n * R * 4);
    CAIRN_RETURN_IF_ERROR(WriteRecordFile(env, assign_path, kAssignMagic, 1, body));
    CAIRN_RETURN_IF_ERROR(stage_end("assignment", t));
  } else {
    uint32_t version;
    CAIRN_ASSIGN_OR_RETURN(std::string body, ReadRecordFile(env, assign_path, kAssignMagic, 1, &version));
    if (body.size() != n * R * 8) return absl::DataLossError(assign_path + ": wrong size for this input");
    std::memcpy(assign_head.data(), body.data(), n * R * 4);
    std::memcpy(assign_dist.data(), body.data() + n * R * 4, n * R * 4);
  }

  // ---- Stage 3b: codes ------------------------------------------------------
  const std::string codes_path = out_dir + "/codes.model";
  std::unique_ptr<CodeModel> code_model;
  CAIRN_ASSIGN_OR_RETURN(const CodeFamily family, ParseCodeFamily(o.codes));
  if (family != CodeFamily::kNone) {
    if (!state.Done("codes")) {
      auto t = stage_begin("codes");
      CAIRN_ASSIGN_OR_RETURN(code_model,
                             TrainCodeModel(reader.get(), *heads, assign_head, R, metric, family, o));
      CAIRN_RETURN_IF_ERROR(WriteCodeModel(env, codes_path, *code_model));
      if (o.progress) std::fprintf(stderr, "build: %s\n", code_model->Describe().c_str());
      CAIRN_RETURN_IF_ERROR(stage_end("codes", t));
    } else {
      CAIRN_ASSIGN_OR_RETURN(code_model, ReadCodeModel(env, codes_path));
    }
  }
  const uint32_t entry_bytes = code_model != nullptr ? code_model->entry_bytes() : 0;

  // ---- Stage 4: postings ---------------------------------------------------
  const std::string postings_path = out_dir + "/postings.dat";
  const std::string directory_path = out_dir + "/directory";
  if (!state.Done("postings")) {
    auto t = stage_begin("postings");
    // Posting-size limit: drop the farthest replicas of an oversized posting,
    // but never a vector's last copy.
    std::vector<uint32_t> copies(n, 0), sizes(num_heads, 0);
    for (uint64_t i = 0; i < n * R; ++i) {
      if (assign_head[i] != kNoHead) {
        ++copies[i / R];
        ++sizes[assign_head[i]];
      }
    }
    const uint32_t limit = o.posting_limit > 0
                               ? o.posting_limit
                               : static_cast<uint32_t>(std::ceil(4.0 * n / num_heads * R));
    std::vector<std::vector<uint64_t>> over(num_heads);
    for (uint64_t i = 0; i < n * R; ++i) {
      if (assign_head[i] != kNoHead && sizes[assign_head[i]] > limit) over[assign_head[i]].push_back(i);
    }
    for (uint32_t h = 0; h < num_heads; ++h) {
      auto& slots = over[h];
      if (slots.empty()) continue;
      std::sort(slots.begin(), slots.end(), [&](uint64_t a, uint64_t b) {
        return assign_dist[a] > assign_dist[b] || (assign_dist[a] == assign_dist[b] && a > b);
      });
      for (uint64_t slot : slots) {
        if (sizes[h] <= limit) break;
        if (copies[slot / R] <= 1) continue;
        assign_head[slot] = kNoHead;
        --copies[slot / R];
        --sizes[h];
        ++report.entries_dropped_by_limit;
      }
    }
    // CSR of members per head, rows ascending within a head.
    std::vector<uint64_t> start(num_heads + 1, 0);
    for (uint32_t h = 0; h < num_heads; ++h) start[h + 1] = start[h] + sizes[h];
    std::vector<uint32_t> members(start[num_heads]);
    std::vector<float> member_dist(start[num_heads]);
    {
      std::vector<uint64_t> fill(start.begin(), start.end() - 1);
      for (uint64_t i = 0; i < n * R; ++i) {
        const uint32_t h = assign_head[i];
        if (h == kNoHead) continue;
        members[fill[h]] = static_cast<uint32_t>(i / R);
        member_dist[fill[h]++] = assign_dist[i];
      }
    }
    PostingUserHeader user{};
    const uint32_t type = static_cast<uint32_t>(stored);
    const uint32_t metric_id = static_cast<uint32_t>(metric);
    std::memcpy(user.data(), &dim, 4);
    std::memcpy(user.data() + 4, &type, 4);
    std::memcpy(user.data() + 8, &metric_id, 4);
    CAIRN_ASSIGN_OR_RETURN(auto writer, PostingFileWriter::Create(env, postings_path, user));
    std::vector<DirectoryEntry> directory(num_heads);
    // Passes over head ranges whose vectors fit half the budget.
    const uint64_t pass_bytes = std::max<uint64_t>(budget / 2, uint64_t{dim} * 4 * (limit + 1));
    Progress progress("postings", num_heads, "postings", o.progress);
    std::vector<uint8_t> payload;
    std::vector<uint8_t> versions, narrow, codes;
    std::vector<float> ordered_vecs;
    std::vector<uint32_t> ordered_ids;
    uint32_t h0 = 0;
    while (h0 < num_heads) {
      uint32_t h1 = h0;
      uint64_t bytes = 0;
      while (h1 < num_heads && (h1 == h0 || bytes + uint64_t{sizes[h1]} * dim * 4 <= pass_bytes)) {
        bytes += uint64_t{sizes[h1]} * dim * 4;
        ++h1;
      }
      // Gather: (row, destination slot) sorted by row, then one read pass.
      const uint64_t first = start[h0], count = start[h1] - first;
      std::vector<float> vecs(count * dim);
      std::vector<std::pair<uint32_t, uint64_t>> want(count);
      for (uint64_t s = 0; s < count; ++s) want[s] = {members[first + s], s};
      std::sort(want.begin(), want.end());
      std::vector<float> chunk(kChunkRows * dim);
      size_t w = 0;
      for (uint64_t b = 0; b < n && w < want.size(); b += kChunkRows) {
        const size_t rows = static_cast<size_t>(std::min(kChunkRows, n - b));
        if (want[w].first >= b + rows) continue;
        CAIRN_RETURN_IF_ERROR(ReadRows(reader.get(), b, rows, metric, chunk.data()));
        while (w < want.size() && want[w].first < b + rows) {
          std::memcpy(vecs.data() + want[w].second * dim,
                      chunk.data() + (want[w].first - b) * dim, dim * 4);
          ++w;
        }
      }
      for (uint32_t h = h0; h < h1; ++h) {
        const uint64_t off = start[h] - first;
        versions.assign(sizes[h], 0);
        const float* fv = vecs.data() + off * dim;
        const uint32_t* ids = members.data() + start[h];
        if (code_model != nullptr) {
          // Two-step search reads vector pages, so neighbours share pages.
          const CodedLayout layout = ComputeCodedLayout(sizes[h], dim, stored, entry_bytes,
                                                        kPostingFrameHeaderBytes);
          const std::vector<uint32_t> order =
              PageLocalityOrder(fv, sizes[h], dim, layout.vectors_per_page);
          ordered_vecs.resize(uint64_t{sizes[h]} * dim);
          ordered_ids.resize(sizes[h]);
          for (uint32_t i = 0; i < sizes[h]; ++i) {
            std::memcpy(ordered_vecs.data() + uint64_t{i} * dim, fv + uint64_t{order[i]} * dim,
                        dim * 4);
            ordered_ids[i] = ids[order[i]];
          }
          fv = ordered_vecs.data();
          ids = ordered_ids.data();
        }
        const uint8_t* raw = reinterpret_cast<const uint8_t*>(fv);
        if (stored != StoredType::kFloat32) {
          const uint64_t values = uint64_t{sizes[h]} * dim;
          narrow.resize(values);
          const float lo = stored == StoredType::kUInt8 ? 0.0f : -128.0f;
          const float hi = stored == StoredType::kUInt8 ? 255.0f : 127.0f;
          for (uint64_t i = 0; i < values; ++i) {
            if (fv[i] != std::nearbyint(fv[i]) || fv[i] < lo || fv[i] > hi) {
              return absl::InvalidArgumentError(absl::StrCat(
                  input_path, ": value ", fv[i], " of vector ", ids[i / dim],
                  " does not fit stored type ", StoredTypeName(stored)));
            }
            narrow[i] = stored == StoredType::kUInt8
                            ? static_cast<uint8_t>(fv[i])
                            : static_cast<uint8_t>(static_cast<int8_t>(fv[i]));
          }
          raw = narrow.data();
        }
        if (code_model != nullptr) {
          codes.resize(uint64_t{sizes[h]} * entry_bytes);
          const float* head = heads->head(h);
          ParallelRows(threads, sizes[h], [&](size_t i) {
            code_model->Encode(fv + i * dim, head, codes.data() + i * entry_bytes);
          });
          EncodeCodedPosting(dim, stored, entry_bytes, kPostingFrameHeaderBytes,
                             ids, versions.data(), codes.data(), raw,
                             sizes[h], &payload);
        } else {
          EncodePosting(dim, stored, members.data() + start[h], versions.data(), raw, sizes[h],
                        &payload);
        }
        CAIRN_ASSIGN_OR_RETURN(PostingLocation loc,
                               writer->Append(payload.data(), static_cast<uint32_t>(payload.size())));
        float radius = 0;
        for (uint64_t s = start[h]; s < start[h + 1]; ++s) radius = std::max(radius, member_dist[s]);
        directory[h] = {loc.offset, loc.bytes, sizes[h], radius, 0};
        progress.Add(1);
      }
      h0 = h1;
    }
    progress.Finish();
    CAIRN_RETURN_IF_ERROR(writer->Finish());
    CAIRN_RETURN_IF_ERROR(WriteDirectory(env, directory_path, directory));
    CAIRN_RETURN_IF_ERROR(stage_end("postings", t));
  }

  // ---- Stage 5: manifest ---------------------------------------------------
  {
    auto t = stage_begin("manifest");
    CAIRN_ASSIGN_OR_RETURN(std::vector<DirectoryEntry> directory, ReadDirectory(env, directory_path));
    uint64_t total = 0;
    for (const auto& e : directory) total += e.count;
    IndexManifest m;
    m.dim = dim;
    m.metric = metric;
    m.stored_type = stored;
    m.num_vectors = n;
    m.num_heads = num_heads;
    m.total_entries = total;
    m.build_params = o.ToJson();
    m.build_params["input"] = input_path;
    m.files = nlohmann::json::object();
    CAIRN_ASSIGN_OR_RETURN(m.files["heads.hnsw"], FileFingerprint(heads_path));
    CAIRN_ASSIGN_OR_RETURN(uint64_t posting_bytes, env->FileSize(postings_path));
    m.files["postings.dat"] = {{"bytes", posting_bytes}};
    if (code_model != nullptr) {
      CAIRN_ASSIGN_OR_RETURN(m.files["codes.model"], FileFingerprint(codes_path));
      m.codes = code_model->family();
      m.code_entry_bytes = code_model->entry_bytes();
    }
    CAIRN_RETURN_IF_ERROR(WriteManifest(env, out_dir, m));
    report.num_heads = num_heads;
    report.total_entries = total;
    report.replicas_per_vector = static_cast<double>(total) / n;
    CAIRN_RETURN_IF_ERROR(stage_end("manifest", t));
  }
  report.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  report.peak_rss_bytes = PeakRss();
  return report;
}

}  // namespace cairn
