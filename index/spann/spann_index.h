// A built SPANN index opened for search: the head graph and the posting
// directory in RAM, the postings on SSD read with batched O_DIRECT reads.
//
// Query path (per query, on the caller's thread, no locks):
//   1. head search: the max_postings nearest heads (HNSW, ef = max_postings);
//   2. query-aware pruning: keep head i only if its true (not squared)
//      distance <= (1 + epsilon) * the nearest head's;
//   3. all kept postings are submitted in one batch to the thread's
//      BlockReader (io_uring or pread), into reused aligned buffers;
//   4. each posting is verified (checksum) and scanned with the SIMD kernel as
//      its read completes; replicas already seen are skipped; a heap keeps
//      the top k.
//
// Thread-safety: SpannIndex is immutable after Open; Search() may run on many
// threads at once, each with its own SearchContext (which owns its reader,
// ring and buffers; not shareable).
#ifndef CAIRN_INDEX_SPANN_SPANN_INDEX_H_
#define CAIRN_INDEX_SPANN_SPANN_INDEX_H_

#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "index/codes/code_model.h"
#include "index/routing/posting_budget.h"
#include "index/spann/head_index.h"
#include "index/spann/search_types.h"
#include "index/spann/spann_files.h"
#include "storage/block_reader.h"

namespace cairn {

// Defaults measured on Fashion-MNIST (docs/spann.md): reading a fixed 10
// nearest postings beats the (1 + eps) ratio rule at every budget we tried
// (eps 0.15 read 11.5 postings for recall@10 0.92; 8 fixed postings gave
// 0.95), so the ratio rule is off unless asked for.
struct SpannSearchParams {
  uint32_t k = 10;
  uint32_t max_postings = 10;
  // 0: read max_postings postings. In (0, 1]: the index's calibrated budget
  // (routing.budget, index/routing/posting_budget.h) decides per query how
  // many of its nearest postings to read for a mean recall@k of about this
  // much; max_postings is then ignored. FailedPrecondition when the index
  // has no calibration.
  double target_recall = 0;
  // Infinity disables pruning. Applies to L2 and cosine (by the L2 distance
  // of normalised vectors); plain inner product is not pruned.
  float epsilon = std::numeric_limits<float>::infinity();
  // Head-graph beam; 0 means max(max_postings, 32) for a fixed count (a
  // wider beam than the postings read finds the true nearest heads more
  // often, for ~0.01 ms), and the beam the budget was calibrated with for
  // target_recall.
  uint32_t head_ef = 0;
  // Indexes built with codes (index/coded_search.h). kAuto reads code
  // sections and then candidate pages when that is predicted to read at
  // least batch_cost_kib fewer KiB than whole postings (prediction: a running
  // mean of the candidate pages of recent queries), else whole postings in
  // one batch.
  enum class Plan { kAuto, kTwoStep, kWhole };
  // "auto", "two-step" or "whole"; InvalidArgument otherwise.
  static absl::StatusOr<Plan> ParsePlan(std::string_view name);
  static const char* PlanName(Plan plan);
  Plan plan = Plan::kAuto;
  // What the two-step plan costs beyond its bytes, in KiB of reading: its
  // second batch of reads (the fixed cost of a batch, doorbell + interrupt +
  // wake-up, over the cost per KiB: `cairn bench io-cost` measures 143-191
  // on our VM, whose virtio doorbells trap to the hypervisor at ~80-100 us a
  // batch) plus its CPU work (query rotation, estimates, a checksum per
  // vector page: ~30-40 us a query here, ~70 KiB). Expect far less on bare
  // metal NVMe. 0: compare bytes alone.
  uint32_t batch_cost_kib = 256;
  // 0: rerank every entry whose lower bound beats the k-th upper bound;
  // C > 0: rerank the C best by estimate.
  uint32_t rerank_top = 0;
  // Multiplies every error bound (1: the model's eps0, e.g. 1.9 -> each
  // estimate within its bound with probability ~0.94). Smaller reranks fewer
  // entries at some risk to recall; the sweep in bench/ measures the trade.
  float bound_scale = 1.0f;
  // Candidate pages of one posting at most this many pages apart are read
  // in one request, with the pages between.
  uint32_t merge_gap = 0;
  // Two-step reads: the this many nearest postings are read whole in the
  // first batch and scored exactly; the rest as code sections.
  uint32_t whole_nearest = 0;
  absl::Status Validate() const;
};

struct SpannOpenOptions {
  BlockReaderOptions io;
  bool progress = false;
};

class SpannIndex;

// Per-thread search state: the reader, buffers and visited set.
class SearchContext {
 public:
  ~SearchContext();
  const char* io_kind() const;
  bool direct_io() const;

 private:
  friend class SpannIndex;
  SearchContext() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class SpannIndex {
 public:
  ~SpannIndex();
  // Verifies the manifest, the head graph's checksum, the directory against
  // the posting file; Corruption (DataLoss) naming the file otherwise.
  static absl::StatusOr<std::unique_ptr<SpannIndex>> Open(const std::string& dir,
                                                          const SpannOpenOptions& options = {});

  absl::StatusOr<std::unique_ptr<SearchContext>> NewContext() const;

  // Nearest first; fewer than k results only when the chosen postings hold
  // fewer distinct vectors.
  absl::Status Search(const float* query, const SpannSearchParams& params, SearchContext* context,
                      std::vector<Neighbor>* out, SearchStats* stats) const;

  const IndexManifest& manifest() const { return manifest_; }
  uint32_t dim() const { return manifest_.dim; }
  Metric metric() const { return manifest_.metric; }
  uint64_t num_vectors() const { return manifest_.num_vectors; }
  // Resident bytes: head graph (vectors + links) + directory + this object.
  uint64_t ResidentBytes() const;
  uint64_t PostingFileBytes() const;
  // The code model of an index built with codes, else null.
  const CodeModel* code_model() const { return codes_.get(); }
  // The calibrated posting budget (routing.budget), else null; when the file
  // exists but cannot be read, null and budget_status() says why (the index
  // still serves fixed-count searches).
  const PostingBudget* posting_budget() const { return budget_.get(); }
  const absl::Status& budget_status() const { return budget_status_; }

 private:
  SpannIndex() = default;
  std::string dir_;
  std::string postings_path_;
  SpannOpenOptions options_;
  IndexManifest manifest_;
  std::unique_ptr<HeadIndex> heads_;
  std::vector<DirectoryEntry> directory_;
  uint64_t posting_file_bytes_ = 0;
  uint32_t max_posting_bytes_ = 0;
  std::unique_ptr<CodeModel> codes_;
  std::unique_ptr<PostingBudget> budget_;
  absl::Status budget_status_;
  // Candidate pages per two-step query, running mean x 16 (racy updates
  // between threads only blur the prediction).
  mutable std::atomic<uint32_t> rerank_pages_x16_{0};
};

}  // namespace cairn

#endif  // CAIRN_INDEX_SPANN_SPANN_INDEX_H_
