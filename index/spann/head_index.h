// The in-RAM head index: a navigable graph over the heads (posting
// centroids), searched for the postings nearest a query or a vector being
// assigned. Built on hnswlib's HNSW (Debian's libhnswlib-dev headers) with
// our dispatched distance kernels; chosen over a hand-written Vamana graph
// because it builds in parallel, its memory is known (M0 = 2M links of 4 bytes
// plus the vector per head) and measured head search is a small share of
// query time (see docs/spann.md).
//
// Metric handling: L2 uses squared L2; inner product and cosine use -dot
// (cosine heads and queries are normalised by the caller).
//
// Thread-safety: Search() and head() are safe from many threads at once;
// Add/Remove/Save/Load/Serialize are not concurrent with anything (the live
// index holds its head lock exclusively around Add and Remove, shared around
// Search).
#ifndef CAIRN_INDEX_SPANN_HEAD_INDEX_H_
#define CAIRN_INDEX_SPANN_HEAD_INDEX_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/metric.h"
#include "storage/env.h"

namespace cairn {

struct HeadIndexOptions {
  uint32_t m = 16;
  uint32_t ef_construction = 200;
  int threads = 0;
  uint64_t seed = 100;
  bool progress = true;
};

struct HeadHit {
  float distance;  // squared L2 or -dot
  uint32_t head;
};

class HeadIndex {
 public:
  ~HeadIndex();
  // A graph with no heads yet, for an index that starts empty and grows by
  // live inserts (the first flush adds the first head).
  static absl::StatusOr<std::unique_ptr<HeadIndex>> CreateEmpty(uint32_t dim, Metric metric,
                                                                const HeadIndexOptions& options);
  static absl::StatusOr<std::unique_ptr<HeadIndex>> Build(const float* heads, uint32_t count,
                                                          uint32_t dim, Metric metric,
                                                          const HeadIndexOptions& options);
  // hnswlib's own file format; callers protect it with a checksum in the
  // manifest and verify before Load (hnswlib trusts the sizes it reads; Load
  // checks the leading ones through `env` first). hnswlib itself writes and
  // reads the file by path; `env` syncs it after Save.
  absl::Status Save(const std::string& path, Env* env = Env::Default()) const;
  static absl::StatusOr<std::unique_ptr<HeadIndex>> Load(const std::string& path, uint32_t dim,
                                                         Metric metric,
                                                         Env* env = Env::Default());

  // Live updates (splits and merges). Add inserts head `id` (ids need not be
  // dense; capacity grows as needed). Remove hides a head from searches; its
  // vector stays readable through head() and it keeps routing the graph.
  absl::Status Add(const float* vector, uint32_t id);
  absl::Status Remove(uint32_t id);
  bool removed(uint32_t id) const;
  uint32_t live_count() const { return count_ - removed_; }

  // The graph as bytes (hnswlib's format), for a checkpoint written through
  // the Env; `scratch_path` is a file the function may create and removes.
  absl::StatusOr<std::string> Serialize(const std::string& scratch_path) const;
  static absl::StatusOr<std::unique_ptr<HeadIndex>> Deserialize(const std::string& bytes,
                                                                const std::string& scratch_path,
                                                                uint32_t dim, Metric metric);

  // The n nearest heads, nearest first; ef >= n candidates are explored.
  void Search(const float* query, uint32_t n, uint32_t ef, std::vector<HeadHit>* out) const;

  const float* head(uint32_t id) const;
  uint32_t size() const { return count_; }
  uint32_t dim() const { return dim_; }
  // Bytes hnswlib holds: vectors, links of every level, labels, locks.
  uint64_t MemoryBytes() const;

 private:
  HeadIndex() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint32_t count_ = 0;    // heads ever added (removed ones included)
  uint32_t removed_ = 0;
  uint32_t dim_ = 0;
};

}  // namespace cairn

#endif  // CAIRN_INDEX_SPANN_HEAD_INDEX_H_
