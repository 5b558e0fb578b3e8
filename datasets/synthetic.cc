#include "datasets/synthetic.h"

#include <algorithm>
#include <filesystem>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/progress.h"
#include "common/random.h"
#include "common/status_macros.h"
#include "datasets/dataset_manifest.h"
#include "datasets/ground_truth.h"
#include "datasets/vector_file.h"

namespace cairn {
namespace {

constexpr uint64_t kChunkRows = 16384;

struct Mixture {
  uint32_t dim;
  std::vector<float> centers;  // clusters * dim
  std::vector<float> noise;    // clusters
};

Mixture MakeMixture(const SyntheticOptions& o) {
  Mixture m;
  m.dim = o.dim;
  Rng rng(Rng::Mix(o.seed, 0));
  m.centers.resize(static_cast<size_t>(o.clusters) * o.dim);
  for (auto& c : m.centers) c = static_cast<float>(rng.Gaussian() * o.center_std);
  m.noise.resize(o.clusters);
  for (auto& s : m.noise) s = static_cast<float>(rng.Uniform(o.noise_min, o.noise_max));
  return m;
}

// Fills rows [0, rows) of out for chunk `chunk` of stream `stream`; the seed
// depends only on (seed, stream, chunk), never on the thread that runs it.
void FillChunk(const Mixture& m, uint64_t seed, uint64_t stream, uint64_t chunk, size_t rows,
               float* out) {
  Rng rng(Rng::Mix(Rng::Mix(seed, stream), chunk));
  const uint32_t clusters = static_cast<uint32_t>(m.noise.size());
  for (size_t r = 0; r < rows; ++r) {
    uint32_t c = static_cast<uint32_t>(rng.Below(clusters));
    const float* center = m.centers.data() + static_cast<size_t>(c) * m.dim;
    float s = m.noise[c];
    float* x = out + r * m.dim;
    for (uint32_t d = 0; d < m.dim; ++d) x[d] = center[d] + s * static_cast<float>(rng.Gaussian());
  }
}

absl::Status WriteStream(const Mixture& m, const SyntheticOptions& o, uint64_t stream,
                         uint64_t rows, const std::string& path, int threads,
                         const std::string& stage) {
  CAIRN_ASSIGN_OR_RETURN(auto writer, VectorWriter::Create(path, VectorFormat::kFbin, o.dim));
  Progress progress(stage, rows, "vectors", o.progress);
  // Each round generates `threads` chunks in parallel, then appends them in order.
  std::vector<std::vector<float>> bufs(threads, std::vector<float>(kChunkRows * o.dim));
  const uint64_t chunks = (rows + kChunkRows - 1) / kChunkRows;
  for (uint64_t c0 = 0; c0 < chunks; c0 += threads) {
    const int active = static_cast<int>(std::min<uint64_t>(threads, chunks - c0));
    std::vector<std::thread> pool;
    for (int t = 0; t < active; ++t) {
      pool.emplace_back([&, t] {
        uint64_t c = c0 + t;
        size_t n = static_cast<size_t>(std::min(kChunkRows, rows - c * kChunkRows));
        FillChunk(m, o.seed, stream, c, n, bufs[t].data());
      });
    }
    for (auto& th : pool) th.join();
    for (int t = 0; t < active; ++t) {
      uint64_t c = c0 + t;
      size_t n = static_cast<size_t>(std::min(kChunkRows, rows - c * kChunkRows));
      CAIRN_RETURN_IF_ERROR(writer->AppendFloat(bufs[t].data(), n));
      progress.Add(n);
    }
  }
  progress.Finish();
  return writer->Finish();
}

}  // namespace

std::string SyntheticParams(const SyntheticOptions& o) {
  return absl::StrCat("synth n=", o.n, " dim=", o.dim, " queries=", o.queries, " clusters=",
                      o.clusters, " seed=", o.seed, " center_std=", o.center_std, " noise=",
                      o.noise_min, "-", o.noise_max, " gt_k=", o.gt_k);
}

absl::Status SyntheticOptions::Validate() const {
  if (n == 0 || n > 2147483647ull) return absl::InvalidArgumentError("--n must be in [1, 2^31-1]");
  if (dim == 0 || dim > 65536) return absl::InvalidArgumentError("--dim must be in [1, 65536]");
  if (queries == 0) return absl::InvalidArgumentError("--queries must be positive");
  if (clusters == 0) return absl::InvalidArgumentError("--clusters must be positive");
  if (!(noise_min > 0 && noise_max >= noise_min)) {
    return absl::InvalidArgumentError("noise std range must satisfy 0 < min <= max");
  }
  if (gt_k == 0) return absl::InvalidArgumentError("ground-truth k must be positive");
  return absl::OkStatus();
}

absl::Status GenerateSynthetic(const SyntheticOptions& o, const std::string& out_dir) {
  CAIRN_RETURN_IF_ERROR(o.Validate());
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat(out_dir, ": cannot create: ", ec.message()));
  const int threads =
      o.threads > 0 ? o.threads : std::max(1, (int)std::thread::hardware_concurrency());
  const Mixture mixture = MakeMixture(o);
  const std::string base = out_dir + "/base.fbin", query = out_dir + "/query.fbin";
  CAIRN_RETURN_IF_ERROR(WriteStream(mixture, o, 1, o.n, base, threads, "synth base"));
  CAIRN_RETURN_IF_ERROR(WriteStream(mixture, o, 2, o.queries, query, threads, "synth queries"));
  GroundTruthOptions gto;
  gto.k = static_cast<uint32_t>(std::min<uint64_t>(o.gt_k, o.n));
  gto.metric = Metric::kL2;
  gto.threads = threads;
  gto.progress = o.progress;
  CAIRN_ASSIGN_OR_RETURN(GroundTruth gt, ComputeGroundTruth(base, query, gto));
  CAIRN_RETURN_IF_ERROR(WriteGroundTruth(out_dir + "/gt.ibin", gt));
  DatasetManifest manifest;
  manifest.name = absl::StrCat("synth-", o.n, "x", o.dim);
  manifest.metric = Metric::kL2;
  manifest.dim = o.dim;
  manifest.num_base = o.n;
  manifest.num_queries = o.queries;
  manifest.gt_k = gto.k;
  manifest.source = absl::StrCat("Gaussian mixture: ", o.clusters, " centres ~ N(0, ",
                                 o.center_std * o.center_std, " I), noise std U(", o.noise_min,
                                 ", ", o.noise_max, "), seed ", o.seed);
  manifest.params = SyntheticParams(o);
  return WriteDatasetManifest(out_dir, manifest);
}

}  // namespace cairn
