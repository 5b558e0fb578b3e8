// The live index's posting directory: head id -> extent of the head's posting
// in postings.dat, packed in 64 bits (live_internal.h PackExtent; 0: no
// posting).
//
// Thread-safety: one writer (the maintenance pass under LiveIndex::maint_mu_,
// or Open before the index is shared), any number of lock-free readers. The
// entries are a chunked array whose chunk pointers are reserved up front and
// never move, so a search loads an entry with one acquire load while the
// writer replaces it; a reader that sees a head id below size() also sees the
// chunk holding it.
#ifndef CAIRN_INDEX_LIVE_POSTING_DIRECTORY_H_
#define CAIRN_INDEX_LIVE_POSTING_DIRECTORY_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace cairn {

class PostingDirectory {
 public:
  PostingDirectory() { chunks_.reserve(size_t{1} << (32 - kChunkBits)); }
  PostingDirectory(const PostingDirectory&) = delete;
  PostingDirectory& operator=(const PostingDirectory&) = delete;

  // Any thread. 0 for a head id never stored.
  uint64_t Load(uint32_t head) const {
    if (head >= size_.load(std::memory_order_acquire)) return 0;
    return chunks_[head >> kChunkBits][head & kChunkMask].load(std::memory_order_acquire);
  }

  // The writer only. Storing head h makes size() at least h + 1.
  void Store(uint32_t head, uint64_t packed) {
    const uint32_t chunk = head >> kChunkBits;
    while (chunks_.size() <= chunk) {
      // Within the reservation, so this never moves the chunk pointers.
      auto c = std::make_unique<std::atomic<uint64_t>[]>(kChunkSize);
      for (size_t i = 0; i < kChunkSize; ++i) c[i].store(0);
      chunks_.push_back(std::move(c));
    }
    chunks_[chunk][head & kChunkMask].store(packed, std::memory_order_release);
    if (head >= size_.load(std::memory_order_relaxed)) {
      size_.store(head + 1, std::memory_order_release);
    }
  }

  // Head ids ever used (removed heads included): the next new head's id.
  uint32_t size() const { return size_.load(std::memory_order_acquire); }

 private:
  static constexpr uint32_t kChunkBits = 16;
  static constexpr size_t kChunkSize = size_t{1} << kChunkBits;
  static constexpr uint32_t kChunkMask = (1u << kChunkBits) - 1;

  std::vector<std::unique_ptr<std::atomic<uint64_t>[]>> chunks_;
  std::atomic<uint32_t> size_{0};
};

}  // namespace cairn

#endif  // CAIRN_INDEX_LIVE_POSTING_DIRECTORY_H_
