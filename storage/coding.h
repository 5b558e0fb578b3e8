// Fixed-width little-endian integer encoding for on-disk headers (LevelDB's
// util/coding.h). Cairn's formats are little-endian; on the little-endian
// hosts we build for these are plain unaligned copies.
// Thread-safety: pure functions.
#ifndef CAIRN_STORAGE_CODING_H_
#define CAIRN_STORAGE_CODING_H_

#include <bit>
#include <cstdint>
#include <cstring>

namespace cairn {

static_assert(std::endian::native == std::endian::little,
              "Cairn's on-disk formats assume a little-endian host");

inline void EncodeFixed16(uint8_t* dst, uint16_t v) {
  std::memcpy(dst, &v, sizeof(v));
}
inline void EncodeFixed32(uint8_t* dst, uint32_t v) {
  std::memcpy(dst, &v, sizeof(v));
}
inline void EncodeFixed64(uint8_t* dst, uint64_t v) {
  std::memcpy(dst, &v, sizeof(v));
}

inline uint16_t DecodeFixed16(const uint8_t* src) {
  uint16_t v;
  std::memcpy(&v, src, sizeof(v));
  return v;
}
inline uint32_t DecodeFixed32(const uint8_t* src) {
  uint32_t v;
  std::memcpy(&v, src, sizeof(v));
  return v;
}
inline uint64_t DecodeFixed64(const uint8_t* src) {
  uint64_t v;
  std::memcpy(&v, src, sizeof(v));
  return v;
}

}  // namespace cairn

#endif  // CAIRN_STORAGE_CODING_H_
