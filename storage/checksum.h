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

// Chains two ranges that are not adjacent (a header whose own checksum
// field sits between them): the first range's checksum seeds the second's.
inline uint64_t Checksum64Pair(const void* a, size_t na, const void* b, size_t nb) {
  return XXH3_64bits_withSeed(b, nb, XXH3_64bits(a, na));
}

}  // namespace cairn

#endif  // CAIRN_STORAGE_CHECKSUM_H_
