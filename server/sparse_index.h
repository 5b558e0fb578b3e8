// The inverted index of one named sparse vector of a collection: for each
// dimension, a posting of (document slot, value), scored by an exact dot
// product with the query (every posting of the query's dimensions is read
// whole, so results equal a scan of every stored vector).
//
// Where it lives, and why. The index is in RAM and is rebuilt from the
// point store when the collection opens (Collection::Open reads every
// record once). The point store is already the durable, crash-consistent
// copy of every sparse vector (written, fsynced and recovered with the rest
// of the point, WAL-style), so a second on-disk structure would be a second
// thing to keep in step through crashes for no gain in what survives; the
// cost is open time (one sequential read of the point log) and RAM:
// 8 bytes per stored non-zero (u32 slot + f32 value) plus about 80 bytes per
// point (its key, its slot and live flag). A collection of 1M points of 100
// non-zeros each takes about 0.9 GB. Past that, the design moves postings to
// immutable segment files flushed from this structure (the layout of
// storage/posting_file.h: one sorted run of (slot, value) per dimension,
// merged at query time with the in-RAM tail), which changes this class's
// storage and not its interface; docs/api.md lists the limit.
//
// Updates never edit a posting: a replaced or removed point's slot is marked
// dead, and its entries are skipped until a compaction (once dead entries
// outnumber live ones) rewrites the postings without them. Document
// frequencies for the idf modifier are counted over live entries at query
// time, so they are always the live ones.
//
// Thread-safety: any number of concurrent Search/Weigh/stats calls; Put,
// Remove and Clear take the writer lock. `accept` callbacks run under the
// reader lock and must not call back into this index.
#ifndef CAIRN_SERVER_SPARSE_INDEX_H_
#define CAIRN_SERVER_SPARSE_INDEX_H_

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "server/sparse_vector.h"

namespace cairn {

struct SparseIndexStats {
  uint64_t points = 0;        // live documents
  uint64_t live_entries = 0;  // non-zeros of live documents
  uint64_t dead_entries = 0;  // awaiting compaction
  uint64_t dimensions = 0;    // postings
  uint64_t ram_bytes = 0;     // estimate: postings, slots and key map
};

class SparseIndex {
 public:
  // idf: apply Qdrant's idf modifier to queries.
  explicit SparseIndex(bool idf) : idf_(idf) {}

  // Sets the vector of document `key` (an opaque key: the point store's),
  // replacing any previous one.
  void Put(const std::string& key, const SparseVector& v);
  void Remove(const std::string& key);
  void Clear();

  // The query as it is scored: with the idf modifier, each value times the
  // idf of its dimension over the live documents; otherwise `q` itself.
  SparseVector Weigh(const SparseVector& q) const;

  // Scores every document sharing a dimension with `q` (weighed by Weigh)
  // and calls accept(key, score) best first (ties: smaller key first) until
  // `limit` calls returned true or the candidates run out. Returns the
  // accepted (key, score) pairs in that order.
  using Accept = std::function<bool(const std::string& key, float score)>;
  std::vector<std::pair<std::string, float>> Search(const SparseVector& q, size_t limit,
                                                    const Accept& accept) const;

  SparseIndexStats stats() const;

 private:
  struct Entry {
    uint32_t slot;
    float value;
  };
  void RemoveLocked(const std::string& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MaybeCompactLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  float IdfLocked(size_t df) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Live entries of dimension `dim` (its document frequency).
  size_t LiveCountLocked(const std::vector<Entry>& posting) const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  const bool idf_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<uint32_t, std::vector<Entry>> postings_ ABSL_GUARDED_BY(mu_);
  // Per slot: the document's key ("" once dead) and its non-zero count.
  std::vector<std::string> slot_keys_ ABSL_GUARDED_BY(mu_);
  std::vector<uint32_t> slot_nnz_ ABSL_GUARDED_BY(mu_);
  std::vector<bool> live_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, uint32_t> slot_of_ ABSL_GUARDED_BY(mu_);
  uint64_t live_entries_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t dead_entries_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t key_bytes_ ABSL_GUARDED_BY(mu_) = 0;  // of the live keys
};

}  // namespace cairn

#endif  // CAIRN_SERVER_SPARSE_INDEX_H_
