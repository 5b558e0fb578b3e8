// Stages 0-3b and 5 of the bulk build; stage 4 is in spann_build_postings.cc.
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/progress.h"
#include "common/status_macros.h"
#include "index/spann/balanced_kmeans.h"
#include "index/spann/spann_build_stages.h"
#include "index/spann/spann_files.h"
#include "kernels/distance.h"
#include "kernels/head_distance.h"
#include "storage/record_file.h"

namespace cairn {
namespace {

constexpr char kAssignMagic[8] = {'C', 'A', 'I', 'R', 'N', 'A', 'S', 'G'};

const char kStoredTypeFile[] = "build/stored_type";
const char kCentroidsFile[] = "build/centroids.fbin";
const char kHeadsFile[] = "heads.hnsw";
const char kAssignmentFile[] = "build/assignment";
const char kCodesFile[] = "codes.model";

// The narrowest of uint8, int8 and float32 that holds every input value
// exactly (cosine: float32, normalised vectors are not integral).
absl::StatusOr<std::string> NarrowestLosslessType(const BuildInput& in) {
  bool u8 = in.metric != Metric::kCosine, i8 = u8;
  std::vector<float> chunk(kBuildChunkRows * in.dim);
  Progress progress("inspect", in.n, "vectors", in.options->progress);
  for (uint64_t b = 0; b < in.n && (u8 || i8); b += kBuildChunkRows) {
    const size_t rows = static_cast<size_t>(std::min(kBuildChunkRows, in.n - b));
    CAIRN_RETURN_IF_ERROR(ReadRows(in.reader, b, rows, Metric::kL2, chunk.data()));
    for (size_t i = 0; i < rows * in.dim; ++i) {
      const float v = chunk[i];
      const bool integral = v == std::nearbyint(v);
      u8 = u8 && integral && v >= 0 && v <= 255;
      i8 = i8 && integral && v >= -128 && v <= 127;
    }
    progress.Add(rows);
  }
  return u8 ? "uint8" : i8 ? "int8" : "float32";
}

// The rows clustering runs on: all of the input when it fits half the
// budget, else an evenly spaced sample that does.
absl::StatusOr<FloatMatrix> ClusteringSample(const BuildInput& in) {
  const uint64_t fit = std::max<uint64_t>(1, in.budget_bytes / 2 / (uint64_t{in.dim} * 4));
  const uint64_t sample_n = std::min(in.n, fit);
  FloatMatrix sample;
  sample.rows = sample_n;
  sample.dim = in.dim;
  sample.data.resize(sample_n * in.dim);
  if (sample_n == in.n) {
    CAIRN_RETURN_IF_ERROR(ReadRows(in.reader, 0, in.n, in.metric, sample.data.data()));
    return sample;
  }
  const double stride = static_cast<double>(in.n) / sample_n;
  for (uint64_t i = 0; i < sample_n; ++i) {
    CAIRN_RETURN_IF_ERROR(ReadRows(in.reader, static_cast<uint64_t>(i * stride), 1, in.metric,
                                   sample.row(i)));
  }
  return sample;
}

// SPANN's RNG rule for one vector x: of its candidate heads `hits` (nearest
// first), keep head j unless a kept head i has rng_factor * d(c_i, c_j) <
// d(x, c_j); at most R kept, optionally none beyond (1 + closure_epsilon) x
// the nearest. Fills the row's R slots of out_h / out_d.
void ChooseHeads(const BuildInput& in, const HeadIndex& heads, const std::vector<HeadHit>& hits,
                 uint32_t R, uint32_t* out_h, float* out_d) {
  const SpannBuildOptions& o = *in.options;
  uint32_t chosen = 0;
  const float nearest = hits.empty() ? 0 : TrueDistance(in.metric, hits[0].distance);
  for (const HeadHit& h : hits) {
    if (chosen == R) break;
    const float dxj = TrueDistance(in.metric, h.distance);
    if (chosen > 0 && std::isfinite(o.closure_epsilon) &&
        dxj > (1.0 + o.closure_epsilon) * nearest) {
      break;
    }
    bool pruned = false;
    for (uint32_t c = 0; c < chosen && !pruned; ++c) {
      const float dij = TrueDistance(
          in.metric, GraphDistance(in.metric, heads.head(out_h[c]), heads.head(h.head), in.dim));
      pruned = o.rng_factor * dij < dxj;
    }
    if (pruned) continue;
    out_h[chosen] = h.head;
    out_d[chosen] = dxj;
    ++chosen;
  }
}

}  // namespace

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

absl::Status InspectStoredType(const BuildInput& in) {
  std::string chosen = in.options->stored_type;
  // An explicit integer type must still be lossless: checked on write.
  if (chosen == "auto") {
    CAIRN_ASSIGN_OR_RETURN(chosen, NarrowestLosslessType(in));
  }
  return WriteFileAtomically(in.env, in.Path(kStoredTypeFile), chosen);
}

absl::StatusOr<StoredType> LoadStoredType(const BuildInput& in) {
  const std::string path = in.Path(kStoredTypeFile);
  CAIRN_ASSIGN_OR_RETURN(std::string t, in.env->ReadFile(path));
  StoredType stored = StoredType::kFloat32;
  if (t == "uint8") {
    stored = StoredType::kUInt8;
  } else if (t == "int8") {
    stored = StoredType::kInt8;
  } else if (t != "float32") {
    return absl::DataLossError(path + ": unknown type " + t);
  }
  if (stored != StoredType::kFloat32 && in.metric == Metric::kCosine) {
    return absl::InvalidArgumentError("cosine indexes store float32 (vectors are normalised)");
  }
  return stored;
}

absl::Status ClusterHeads(const BuildInput& in) {
  const SpannBuildOptions& o = *in.options;
  CAIRN_ASSIGN_OR_RETURN(FloatMatrix sample, ClusteringSample(in));
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
  ho.member_heads = o.head_type == HeadType::kMember;
  ho.threads = in.threads;
  ho.progress = o.progress;
  CAIRN_ASSIGN_OR_RETURN(std::vector<float> centroids,
                         HierarchicalBalancedClustering(sample.data.data(), sample.rows, in.dim,
                                                        ho));
  FloatMatrix cm;
  cm.dim = in.dim;
  cm.rows = centroids.size() / in.dim;
  cm.data = std::move(centroids);
  // head_index.h: cosine heads are unit vectors like the data (the graph
  // and the RNG rule use -dot as a distance); a mean of unit vectors is
  // shorter than 1.
  if (in.metric == Metric::kCosine) {
    for (uint64_t r = 0; r < cm.rows; ++r) Normalize(cm.row(r), in.dim);
  }
  return WriteFloatMatrix(in.Path(kCentroidsFile), cm);
}

absl::StatusOr<FloatMatrix> LoadHeadVectors(const BuildInput& in) {
  return ReadFloatMatrix(in.Path(kCentroidsFile));
}

absl::StatusOr<std::unique_ptr<HeadIndex>> BuildHeadGraph(const BuildInput& in,
                                                          const FloatMatrix& head_vectors) {
  const SpannBuildOptions& o = *in.options;
  HeadIndexOptions hio;
  hio.m = o.hnsw_m;
  hio.ef_construction = o.hnsw_ef_construction;
  hio.threads = in.threads;
  hio.seed = o.seed + 100;
  hio.progress = o.progress;
  CAIRN_ASSIGN_OR_RETURN(
      std::unique_ptr<HeadIndex> heads,
      HeadIndex::Build(head_vectors.data.data(), static_cast<uint32_t>(head_vectors.rows), in.dim,
                       in.metric, hio));
  const std::string path = in.Path(kHeadsFile);
  const std::string tmp = path + ".tmp";
  CAIRN_RETURN_IF_ERROR(heads->Save(tmp));
  CAIRN_RETURN_IF_ERROR(in.env->RenameFile(tmp, path));
  CAIRN_RETURN_IF_ERROR(in.env->SyncDir(in.out_dir));
  return heads;
}

absl::StatusOr<std::unique_ptr<HeadIndex>> LoadHeadGraph(const BuildInput& in) {
  return HeadIndex::Load(in.Path(kHeadsFile), in.dim, in.metric);
}

absl::StatusOr<Assignment> AssignVectors(const BuildInput& in, const HeadIndex& heads) {
  const SpannBuildOptions& o = *in.options;
  const uint32_t R = o.replicas;
  const uint32_t dim = in.dim;
  Assignment a;
  a.replicas = R;
  a.head.assign(in.n * R, kNoHead);
  a.distance.assign(in.n * R, 0.0f);
  Progress progress("assignment", in.n, "vectors", o.progress);
  std::vector<float> chunk(kBuildChunkRows * dim);
  for (uint64_t b = 0; b < in.n; b += kBuildChunkRows) {
    const size_t rows = static_cast<size_t>(std::min(kBuildChunkRows, in.n - b));
    CAIRN_RETURN_IF_ERROR(ReadRows(in.reader, b, rows, in.metric, chunk.data()));
    ParallelRows(in.threads, rows, [&](size_t r) {
      thread_local std::vector<HeadHit> hits;
      heads.Search(chunk.data() + r * dim, o.candidates, std::max(o.candidates, o.assign_ef),
                   &hits);
      ChooseHeads(in, heads, hits, R, a.head.data() + (b + r) * R, a.distance.data() + (b + r) * R);
    });
    progress.Add(rows);
  }
  progress.Finish();
  const uint64_t slots = in.n * R;
  std::string body(slots * 8, '\0');
  std::memcpy(body.data(), a.head.data(), slots * 4);
  std::memcpy(body.data() + slots * 4, a.distance.data(), slots * 4);
  CAIRN_RETURN_IF_ERROR(WriteRecordFile(in.env, in.Path(kAssignmentFile), kAssignMagic, 1, body));
  return a;
}

absl::StatusOr<Assignment> LoadAssignment(const BuildInput& in) {
  const std::string path = in.Path(kAssignmentFile);
  Assignment a;
  a.replicas = in.options->replicas;
  const uint64_t slots = in.n * a.replicas;
  uint32_t version;
  CAIRN_ASSIGN_OR_RETURN(std::string body,
                         ReadRecordFile(in.env, path, kAssignMagic, 1, &version));
  if (body.size() != slots * 8) return absl::DataLossError(path + ": wrong size for this input");
  a.head.resize(slots);
  a.distance.resize(slots);
  std::memcpy(a.head.data(), body.data(), slots * 4);
  std::memcpy(a.distance.data(), body.data() + slots * 4, slots * 4);
  return a;
}

// The residuals come from an evenly spaced sample of the input, each to its
// row's nearest assigned head (the head its first copy sits under), so
// learned codes fit what postings store.
absl::StatusOr<std::unique_ptr<CodeModel>> TrainCodes(const BuildInput& in, CodeFamily family,
                                                      const HeadIndex& heads,
                                                      const Assignment& assignment) {
  const SpannBuildOptions& o = *in.options;
  const uint32_t dim = in.dim;
  const uint64_t m = std::min<uint64_t>(in.n, o.code_sample);
  std::vector<float> residuals(m * dim), row(dim);
  const double stride = static_cast<double>(in.n) / m;
  for (uint64_t i = 0; i < m; ++i) {
    const uint64_t r = static_cast<uint64_t>(i * stride);
    CAIRN_RETURN_IF_ERROR(ReadRows(in.reader, r, 1, in.metric, row.data()));
    const uint32_t h = assignment.head[r * assignment.replicas];
    const float* c = heads.head(h == kNoHead ? 0 : h);
    for (uint32_t d = 0; d < dim; ++d) residuals[i * dim + d] = row[d] - c[d];
  }
  CodeParams params;
  params.family = family;
  params.bits_per_dim = o.code_bits_per_dim;
  params.rotation =
      o.code_rotation == "learned" ? RotationKind::kLearned : RotationKind::kHadamard;
  params.seed = o.seed + 300;
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<CodeModel> model,
                         CodeModel::Train(params, in.metric, dim, residuals.data(), m));
  CAIRN_RETURN_IF_ERROR(WriteCodeModel(in.env, in.Path(kCodesFile), *model));
  if (o.progress) std::fprintf(stderr, "build: %s\n", model->Describe().c_str());
  return model;
}

absl::StatusOr<std::unique_ptr<CodeModel>> LoadCodes(const BuildInput& in) {
  return ReadCodeModel(in.env, in.Path(kCodesFile));
}

absl::StatusOr<uint64_t> WriteIndexManifest(const BuildInput& in, StoredType stored,
                                            uint32_t num_heads, const CodeModel* codes) {
  CAIRN_ASSIGN_OR_RETURN(std::vector<DirectoryEntry> directory,
                         ReadDirectory(in.env, in.Path(kDirectoryFile)));
  uint64_t total = 0;
  for (const auto& e : directory) total += e.count;
  IndexManifest m;
  m.dim = in.dim;
  m.metric = in.metric;
  m.stored_type = stored;
  m.num_vectors = in.n;
  m.num_heads = num_heads;
  m.total_entries = total;
  m.build_params = in.options->ToJson();
  m.build_params["input"] = in.input_path;
  m.files = nlohmann::json::object();
  CAIRN_ASSIGN_OR_RETURN(m.files[kHeadsFile], FileFingerprint(in.Path(kHeadsFile)));
  CAIRN_ASSIGN_OR_RETURN(uint64_t posting_bytes, in.env->FileSize(in.Path(kPostingsFile)));
  m.files[kPostingsFile] = {{"bytes", posting_bytes}};
  if (codes != nullptr) {
    CAIRN_ASSIGN_OR_RETURN(m.files[kCodesFile], FileFingerprint(in.Path(kCodesFile)));
    m.codes = codes->family();
    m.code_entry_bytes = codes->entry_bytes();
  }
  CAIRN_RETURN_IF_ERROR(WriteManifest(in.env, in.out_dir, m));
  return total;
}

}  // namespace cairn
