// Acknowledged writes not yet in the postings: a fixed-capacity array of
// (internal id, version, vector) that searches scan exactly. One writer
// (holding the live index's write lock) appends; any number of readers scan
// the published prefix without a lock.
//
// Publication: the writer fills slot i, then stores size = i + 1 with release;
// a reader loads size with acquire and reads only slots below it. Slots are
// never modified once published, and the arrays never reallocate, so a
// reader's view cannot tear.
#ifndef CAIRN_INDEX_LIVE_MEMTABLE_H_
#define CAIRN_INDEX_LIVE_MEMTABLE_H_

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>

namespace cairn {

class MemTable {
 public:
  MemTable(uint32_t capacity, uint32_t dim)
      : capacity_(capacity),
        dim_(dim),
        ids_(new uint32_t[capacity]),
        versions_(new uint8_t[capacity]),
        vectors_(new float[size_t{capacity} * dim]) {}

  // False when full. Caller serialises appends.
  bool Append(uint32_t id, uint8_t version, const float* vector) {
    const uint32_t i = size_.load(std::memory_order_relaxed);
    if (i == capacity_) return false;
    ids_[i] = id;
    versions_[i] = version;
    std::memcpy(vectors_.get() + size_t{i} * dim_, vector, sizeof(float) * dim_);
    size_.store(i + 1, std::memory_order_release);
    return true;
  }

  uint32_t size() const { return size_.load(std::memory_order_acquire); }
  uint32_t capacity() const { return capacity_; }
  bool full() const { return size() == capacity_; }
  uint32_t id(uint32_t i) const { return ids_[i]; }
  uint8_t version(uint32_t i) const { return versions_[i]; }
  const float* vector(uint32_t i) const { return vectors_.get() + size_t{i} * dim_; }
  uint64_t ResidentBytes() const { return uint64_t{capacity_} * (5 + 4 * uint64_t{dim_}); }

 private:
  const uint32_t capacity_;
  const uint32_t dim_;
  std::unique_ptr<uint32_t[]> ids_;
  std::unique_ptr<uint8_t[]> versions_;
  std::unique_ptr<float[]> vectors_;
  std::atomic<uint32_t> size_{0};
};

}  // namespace cairn

#endif  // CAIRN_INDEX_LIVE_MEMTABLE_H_
