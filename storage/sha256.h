// SHA-256 (FIPS 180-4), streaming: the checksum Qdrant reports for a
// snapshot file and checks on recovery. Cairn's own formats use XXH3
// (checksum.h); this exists because clients compare SHA-256 digests.
//
// Thread-safety: one Sha256 object per thread.
#ifndef CAIRN_STORAGE_SHA256_H_
#define CAIRN_STORAGE_SHA256_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace cairn {

class Sha256 {
 public:
  Sha256();
  void Update(const void* data, size_t n);
  void Update(std::string_view s) { Update(s.data(), s.size()); }
  // The digest as 64 lowercase hex digits; the object is spent after it.
  std::string HexDigest();

 private:
  void Block(const uint8_t* p);
  std::array<uint32_t, 8> h_;
  uint8_t buf_[64];
  size_t used_ = 0;
  uint64_t total_ = 0;
};

}  // namespace cairn

#endif  // CAIRN_STORAGE_SHA256_H_
