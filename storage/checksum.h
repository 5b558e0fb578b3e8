// The checksum of every Cairn on-disk structure: XXH3, 64-bit, seed 0. Fast
// enough (tens of GB/s) to verify each posting list on every read.
// Thread-safe (pure function).
#ifndef CAIRN_STORAGE_CHECKSUM_H_
#define CAIRN_STORAGE_CHECKSUM_H_

#include <xxhash.h>

#include <cstddef>
#include <cstdint>

namespace cairn {

inline uint64_t Checksum64(const void* data, size_t n) {
  return XXH3_64bits(data, n);
}

}  // namespace cairn

#endif  // CAIRN_STORAGE_CHECKSUM_H_
