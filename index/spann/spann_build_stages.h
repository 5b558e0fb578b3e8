// Internal to the bulk builder (spann_builder.cc): one function per stage of
// BuildSpannIndex, with each stage's inputs and outputs spelled out. A stage
// function computes its output and persists it under the index directory;
// the matching Load function reads a finished stage's output back, for a
// resumed build. Stage order, files and resume rules: spann_builder.h.
//
// Thread-safety: stages run one at a time on the caller's thread (they share
// BuildInput::reader); a stage may fan out to BuildInput::threads workers.
#ifndef CAIRN_INDEX_SPANN_SPANN_BUILD_STAGES_H_
#define CAIRN_INDEX_SPANN_SPANN_BUILD_STAGES_H_

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "datasets/vector_file.h"
#include "index/codes/code_model.h"
#include "index/spann/head_index.h"
#include "index/spann/posting_format.h"
#include "index/spann/spann_builder.h"
#include "kernels/metric.h"
#include "storage/env.h"

namespace cairn {

// Rows read from the input per chunk by the streaming stages.
inline constexpr uint64_t kBuildChunkRows = 8192;

// Files of stage 4, named in the manifest (stage 5).
inline constexpr char kPostingsFile[] = "postings.dat";
inline constexpr char kDirectoryFile[] = "directory";

// What every stage reads: the input, the options and the resolved limits.
struct BuildInput {
  const SpannBuildOptions* options = nullptr;
  std::string input_path;
  std::string out_dir;
  Env* env = nullptr;
  VectorReader* reader = nullptr;  // positioned anywhere; stages Seek
  uint64_t n = 0;                  // input vectors, < kNoHead
  uint32_t dim = 0;
  Metric metric = Metric::kL2;
  int threads = 1;            // > 0
  uint64_t budget_bytes = 0;  // > 0

  std::string Path(const std::string& name) const { return out_dir + "/" + name; }
};

// Reads input rows [begin, begin + rows) as floats into `out`, normalised
// when `metric` is cosine.
absl::Status ReadRows(VectorReader* reader, uint64_t begin, size_t rows, Metric metric,
                      float* out);

// fn(i) for i in [0, n) on `threads` threads, handed out in blocks of
// kGrain rows (rows next to each other share cache lines of their outputs).
template <typename Fn>
void ParallelRows(int threads, size_t n, Fn fn) {
  constexpr size_t kGrain = 64;
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t b = next.fetch_add(kGrain); b < n; b = next.fetch_add(kGrain)) {
      for (size_t i = b; i < std::min(n, b + kGrain); ++i) fn(i);
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& th : pool) th.join();
}

// Stage 0, inspect: the element type postings store (options' stored_type,
// or for "auto" the narrowest type holding every input value exactly)
// -> build/stored_type.
absl::Status InspectStoredType(const BuildInput& in);
// InvalidArgument for an integer type under cosine.
absl::StatusOr<StoredType> LoadStoredType(const BuildInput& in);

// Stage 1, clustering: hierarchical balanced k-means over the input or a
// sample that fits half the memory budget; one head vector per leaf
// -> build/centroids.fbin.
absl::Status ClusterHeads(const BuildInput& in);
absl::StatusOr<FloatMatrix> LoadHeadVectors(const BuildInput& in);

// Stage 2, head graph: HNSW over the head vectors -> heads.hnsw.
absl::StatusOr<std::unique_ptr<HeadIndex>> BuildHeadGraph(const BuildInput& in,
                                                          const FloatMatrix& head_vectors);
absl::StatusOr<std::unique_ptr<HeadIndex>> LoadHeadGraph(const BuildInput& in);

// Each vector's postings: `replicas` slots per input row, nearest first.
struct Assignment {
  uint32_t replicas = 0;         // R
  std::vector<uint32_t> head;    // n x R; kNoHead marks an unused slot
  std::vector<float> distance;   // n x R; true distance (metric.h) to that head
};

// Stage 3, assignment: every vector to up to R of its nearest heads by
// SPANN's RNG rule -> build/assignment.
absl::StatusOr<Assignment> AssignVectors(const BuildInput& in, const HeadIndex& heads);
absl::StatusOr<Assignment> LoadAssignment(const BuildInput& in);

// Stage 3b, codes (only when EffectiveCodes is not kNone): the code model
// of `family`, trained on residuals of a sample to their nearest assigned
// head -> codes.model.
absl::StatusOr<std::unique_ptr<CodeModel>> TrainCodes(const BuildInput& in, CodeFamily family,
                                                      const HeadIndex& heads,
                                                      const Assignment& assignment);
absl::StatusOr<std::unique_ptr<CodeModel>> LoadCodes(const BuildInput& in);

struct PostingsInput {
  StoredType stored = StoredType::kFloat32;
  const HeadIndex* heads = nullptr;
  uint32_t num_heads = 0;
  const CodeModel* codes = nullptr;  // null: postings without codes
};

// Stage 4, postings: the posting-size limit applied to `assignment` (slots
// it drops become kNoHead), then every posting written in head order
// -> postings.dat, directory. Returns the entries the limit dropped.
absl::StatusOr<uint64_t> WritePostings(const BuildInput& in, const PostingsInput& postings,
                                       Assignment* assignment);

// Stage 5, manifest: sizes and checksums of every file, written last.
// Returns the index's total entries.
absl::StatusOr<uint64_t> WriteIndexManifest(const BuildInput& in, StoredType stored,
                                            uint32_t num_heads, const CodeModel* codes);

}  // namespace cairn

#endif  // CAIRN_INDEX_SPANN_SPANN_BUILD_STAGES_H_
