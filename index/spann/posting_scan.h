// The inner loop of every posting scan, shared by the bulk-built index and
// the live index: a per-query visited set (replicas are scanned once), the
// top-k heap, and ScanPosting with its liveness check.
//
// Thread-safety: all state is per query (owned by a search context).
#ifndef CAIRN_INDEX_SPANN_POSTING_SCAN_H_
#define CAIRN_INDEX_SPANN_POSTING_SCAN_H_

#include <algorithm>
#include <cstdint>
#include <vector>

#include "index/spann/posting_format.h"
#include "index/spann/search_types.h"

namespace cairn {

// Ids seen in this query: open addressing over a power-of-two table, cleared
// in O(1) by bumping the stamp. Sized to the query's entry count.
class VisitedSet {
 public:
  void Reset(size_t expected) {
    constexpr size_t kMinSlots = 64;
    size_t want = kMinSlots;
    while (want < expected * 2) want <<= 1;
    if (want > keys_.size()) {
      keys_.assign(want, 0);
      stamps_.assign(want, 0);
      stamp_ = 0;
    }
    if (++stamp_ == 0) {  // wrapped: really clear
      std::fill(stamps_.begin(), stamps_.end(), 0);
      stamp_ = 1;
    }
    mask_ = keys_.size() - 1;
  }
  // True if id was not yet in the set (and inserts it).
  bool Insert(uint32_t id) {
    size_t h = (id * 0x9E3779B1u) & mask_;
    while (stamps_[h] == stamp_) {
      if (keys_[h] == id) return false;
      h = (h + 1) & mask_;
    }
    stamps_[h] = stamp_;
    keys_[h] = id;
    return true;
  }

 private:
  std::vector<uint32_t> keys_;
  std::vector<uint32_t> stamps_;
  uint32_t stamp_ = 0;
  size_t mask_ = 0;
};

// Max-heap order on (distance, id): the worst kept neighbour is on top.
inline bool Worse(const Neighbor& a, const Neighbor& b) {
  return a.distance < b.distance || (a.distance == b.distance && a.id < b.id);
}

// Keeps the k best of what it is given in a max-heap (worst on top).
inline void PushTopK(const Neighbor& n, uint32_t k, std::vector<Neighbor>& heap) {
  if (heap.size() < k) {
    heap.push_back(n);
    std::push_heap(heap.begin(), heap.end(), Worse);
  } else if (Worse(n, heap.front())) {
    std::pop_heap(heap.begin(), heap.end(), Worse);
    heap.back() = n;
    std::push_heap(heap.begin(), heap.end(), Worse);
  }
}

struct NotDeleted {
  bool operator()(uint32_t, uint8_t version) const { return (version & kVersionDeletedBit) == 0; }
};

// Scans one posting into the top-k heap. The kernel is chosen once per
// posting by the caller (stored type x metric), so the entry loop has no
// branch on either. Distance = raw (L2) or offset - raw (-dot, 1 - cos).
// `live(id, version_byte)` says whether an entry is current (a bulk-built
// index only checks the deleted bit; a live index compares with its version
// map). Stale entries are counted in stats.stale_skipped.
template <typename T, typename LiveFn>
void ScanPosting(float (*kernel)(const float*, const T*, size_t), const float* q,
                 const PostingView& view, bool negate, float offset, uint32_t k,
                 VisitedSet& visited, std::vector<Neighbor>& heap, SearchStats& stats,
                 const LiveFn& live) {
  for (uint32_t i = 0; i < view.count; ++i) {
    const uint32_t id = view.ids[i];
    if (!live(id, view.versions[i])) {
      ++stats.stale_skipped;
      continue;
    }
    if (!visited.Insert(id)) {
      ++stats.duplicates_skipped;
      continue;
    }
    float d = kernel(q, reinterpret_cast<const T*>(view.vector(i)), view.dim);
    if (negate) d = offset - d;
    ++stats.entries_scanned;
    PushTopK(Neighbor{d, id}, k, heap);
  }
}

}  // namespace cairn

#endif  // CAIRN_INDEX_SPANN_POSTING_SCAN_H_
