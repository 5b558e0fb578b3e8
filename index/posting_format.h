// The payload of one posting (one storage record), format version 1:
//
//   offset  size            field
//   0       4               count: entries in the posting
//   4       2               element type of the vectors (0 f32, 1 u8, 2 i8)
//   6       2               flags (0; reserved)
//   8       4               dim
//   12      4               code bytes per entry (0 in v1; binary codes of a
//                           later version go in the code section)
//   16      4 * count       ids: dense internal vector ids
//   ..      count           versions: low 7 bits version, bit 7 deleted
//                           (all 0 from a bulk build; for live updates)
//   ..      pad to 8        zero
//   ..      code_bytes*count codes (empty in v1)
//   ..      count*dim*esize vectors, in entry order
//
// The storage frame around it carries the checksum (storage/posting_file.h).
// Decoding validates every size against the payload length, so a corrupt
// payload that passed the checksum still cannot make the scan read outside
// the buffer.
#ifndef CAIRN_INDEX_POSTING_FORMAT_H_
#define CAIRN_INDEX_POSTING_FORMAT_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace cairn {

enum class StoredType : uint16_t { kFloat32 = 0, kUInt8 = 1, kInt8 = 2 };
size_t StoredTypeSize(StoredType t);
const char* StoredTypeName(StoredType t);

inline constexpr uint32_t kPostingHeaderBytes = 16;
inline constexpr uint8_t kVersionDeletedBit = 0x80;

struct PostingView {
  uint32_t count = 0;
  uint32_t dim = 0;
  StoredType type = StoredType::kFloat32;
  const uint32_t* ids = nullptr;   // may be unaligned-safe: payload is 8-aligned + 16
  const uint8_t* versions = nullptr;
  const uint8_t* vectors = nullptr;  // count * dim * StoredTypeSize(type)
  const uint8_t* vector(uint32_t i) const {
    return vectors + static_cast<size_t>(i) * dim * StoredTypeSize(type);
  }
};

// Bytes of a payload with `count` entries.
uint64_t PostingPayloadBytes(uint32_t count, uint32_t dim, StoredType type);

// Encodes ids and vectors (already in the stored type: count * dim * esize
// bytes) into out (resized).
void EncodePosting(uint32_t dim, StoredType type, const uint32_t* ids, const uint8_t* versions,
                   const uint8_t* vectors, uint32_t count, std::vector<uint8_t>* out);

// Validates and views a payload; DataLossError naming `where` on mismatch.
absl::StatusOr<PostingView> DecodePosting(std::span<const uint8_t> payload, uint32_t expected_dim,
                                          StoredType expected_type, const std::string& where);

}  // namespace cairn

#endif  // CAIRN_INDEX_POSTING_FORMAT_H_
