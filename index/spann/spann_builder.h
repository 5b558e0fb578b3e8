// Bulk build of a SPANN index from a vector file (any datasets/ format),
// in stages that each persist their output, so a killed build rerun with the
// same command resumes after the last finished stage:
//
//   0 inspect     one pass over the input: the narrowest lossless stored type
//   1 clustering  hierarchical balanced k-means on the input (or on a sample
//                 that fits the memory budget) -> build/centroids.fbin
//   2 head graph  HNSW over the centroids -> heads.hnsw
//   3 assignment  each vector to up to `replicas` of its `candidates` nearest
//                 heads by SPANN's RNG rule, streamed over the input in chunks
//                 -> build/assignment (record file)
//   3b codes      (with --codes) the code model, trained on residuals of a
//                 sample to their nearest head -> codes.model
//   4 postings    posting-size limit enforced (never dropping a vector's last
//                 copy), then the postings written in head order in as many
//                 passes over the input as the memory budget requires
//                 -> postings.dat, directory
//   5 manifest    sizes and checksums of every file; written last.
//
// Heads are, by default, member heads: the leaf member nearest its leaf's
// centroid, as in SPANN; HeadType::kCentroid makes them the centroids. With
// centroid heads SPANN's RNG rule keeps few replicas (docs/spann.md).
//
// Determinism: stages 1, 3 and 4 give the same bytes for the same input and
// options whatever the thread count; stage 2 (parallel HNSW insertion) is
// deterministic only with threads = 1. A resumed build reuses the stored
// output of finished stages, so it produces the same index as the
// uninterrupted run would have from those stages.
#ifndef CAIRN_INDEX_SPANN_SPANN_BUILDER_H_
#define CAIRN_INDEX_SPANN_SPANN_BUILDER_H_

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "index/codes/code_model.h"
#include "index/spann/posting_format.h"
#include "index/spann/spann_limits.h"
#include "kernels/metric.h"
#include "nlohmann/json.hpp"

namespace cairn {

// What stands for a leaf of the clustering in the head graph. kMember: the
// leaf member nearest the centroid (SPANN's choice, "member heads");
// kCentroid: the centroid itself. See docs/spann.md for which measured
// better.
enum class HeadType { kCentroid, kMember };
// "centroid" or "member". "nearest", the name this value had before, is
// still accepted: scripts and manifests of earlier indexes use it.
absl::StatusOr<HeadType> ParseHeadType(std::string_view name);
// The spelling written to build/state.json and the manifest's build_params:
// "centroid" or "nearest" (kept so that resumed builds and the live index,
// which reads it, see the same strings as before).
const char* HeadTypeManifestName(HeadType type);

struct SpannBuildOptions {
  Metric metric = Metric::kL2;
  // Heads as a fraction of the vectors (SPANN uses 0.10 - 0.16).
  double head_ratio = 0.12;
  uint32_t replicas = kDefaultReplicas;      // R: most postings a vector is written to
  uint32_t candidates = kDefaultCandidates;   // nearest heads considered per vector
  // Head-graph beam when finding those candidates (>= candidates). A vector
  // whose true nearest heads the graph misses is written where queries do
  // not look: on syn1m 64 -> 256 raised recall@10 at 16 postings from 0.921
  // to 0.931 (head_ef 128) for 1.8x the build time (86 -> 156 s); 1024
  // gained nothing more. Fashion-MNIST: no change either way.
  uint32_t assign_ef = 256;
  // SPANN's RNG rule skips head j when a chosen head i has
  // rng_factor * dist(c_i, c_j) < dist(x, c_j); 1.0 is the plain rule.
  // With real-vector heads 1.0 keeps 4.3 (Fashion-MNIST) / 4.7 (syn1m)
  // replicas per vector, like SPANN; with centroid heads, which sit much
  // closer together, it keeps only 1.7 / 1.0 (docs/spann.md).
  double rng_factor = 1.0;
  // Optional closure cap: skip heads farther than (1 + eps) x the nearest.
  double closure_epsilon = std::numeric_limits<double>::infinity();
  // Most entries in a posting; 0 = 4 x the mean leaf size x replicas.
  uint32_t posting_limit = 0;
  HeadType head_type = HeadType::kMember;
  uint32_t branching = 32;
  uint32_t kmeans_iterations = 10;
  double balance = 1.0;
  uint32_t hnsw_m = 16;
  uint32_t hnsw_ef_construction = 200;
  int threads = 0;                                 // 0: all cores
  uint64_t memory_budget_bytes = 0;                // 0: half of RAM
  uint64_t seed = 1;
  // Element type of posting vectors: "auto" picks the narrowest type that
  // holds every input value exactly (uint8 for pixel data, say), "float32"
  // keeps full floats. Lossless either way; cosine always stores float32
  // (normalised vectors are not integral).
  std::string stored_type = "auto";
  // Binary codes in the postings (index/codes/code_model.h); with codes every
  // posting is written in the coded layout and a search reads code sections
  // first (index/spann/coded_search.h).
  CodeFamily codes = CodeFamily::kNone;
  // Instead of `codes`: sq8 where it pays, float32 postings whose sq8 entry
  // is at most half the vector (dim >= 40), none otherwise (uint8 or int8
  // postings are already small, and 1-bit codes do not pay for them on
  // this machine: docs/codes.md). `cairn build` defaults to it.
  bool codes_auto = false;
  uint32_t code_bits_per_dim = 1;
  std::string code_rotation = "hadamard";  // rabitq: hadamard | learned
  uint32_t code_sample = 50000;            // residuals the model is trained on
  // Base vectors sampled as queries to calibrate the per-query posting
  // budget of target_recall searches (index/spann/route_calibration.h),
  // after the manifest; 0 skips it (`cairn calibrate` can run it later).
  uint32_t calibration_queries = 2000;
  bool progress = true;

  absl::Status Validate() const;
  // The options that decide the index's content (a resume with other values
  // starts over).
  nlohmann::json ToJson() const;
};

struct SpannBuildReport {
  double seconds = 0;
  uint64_t peak_rss_bytes = 0;
  uint32_t num_heads = 0;
  uint64_t total_entries = 0;
  double replicas_per_vector = 0;
  uint64_t entries_dropped_by_limit = 0;
  // First stage run in this call when an earlier, interrupted call had
  // finished some stages; "" for a fresh build.
  std::string resumed_from;
  // Why the calibration stage wrote no budget (an index too small for any
  // recall target), else "".
  std::string calibration_skipped;
  nlohmann::json stage_seconds;
};

// The code family a build writes: `codes`, or codes_auto's choice.
CodeFamily EffectiveCodes(const SpannBuildOptions& o, StoredType stored, uint32_t dim);

absl::StatusOr<SpannBuildReport> BuildSpannIndex(const std::string& input_path,
                                                 const std::string& out_dir,
                                                 const SpannBuildOptions& options);

}  // namespace cairn

#endif  // CAIRN_INDEX_SPANN_SPANN_BUILDER_H_
