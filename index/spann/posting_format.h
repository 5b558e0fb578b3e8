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
#ifndef CAIRN_INDEX_SPANN_POSTING_FORMAT_H_
#define CAIRN_INDEX_SPANN_POSTING_FORMAT_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/posting_file.h"

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
  // Version 1: count * dim * StoredTypeSize(type) bytes back to back. Coded
  // (version 2): the first vector page; see vector().
  const uint8_t* vectors = nullptr;
  // Coded postings only (entry_bytes == 0 otherwise).
  uint32_t entry_bytes = 0;
  const uint8_t* codes = nullptr;             // count * entry_bytes
  uint32_t vectors_per_page = 0;              // 0: vectors back to back (vector > page)
  uint32_t vector_pages = 0;
  const uint8_t* page_checksums = nullptr;    // vector_pages x uint64
  const uint8_t* vector(uint32_t i) const {
    const size_t vb = static_cast<size_t>(dim) * StoredTypeSize(type);
    if (vectors_per_page == 0) return vectors + i * vb;
    return vectors + static_cast<size_t>(i / vectors_per_page) * kPostingPageBytes +
           static_cast<size_t>(i % vectors_per_page) * vb;
  }
};

// Widens one stored vector to floats (exactly: every stored type is a subset
// of float).
void StoredVectorToFloat(StoredType type, const uint8_t* v, uint32_t dim, float* out);

// Bytes of a payload with `count` entries.
uint64_t PostingPayloadBytes(uint32_t count, uint32_t dim, StoredType type);

// Encodes ids and vectors (already in the stored type: count * dim * esize
// bytes) into out (resized).
void EncodePosting(uint32_t dim, StoredType type, const uint32_t* ids, const uint8_t* versions,
                   const uint8_t* vectors, uint32_t count, std::vector<uint8_t>* out);

// Validates and views a payload of either version (the whole record was
// read, so every section is there); DataLossError naming `where` on
// mismatch. expected_entry_bytes: 0 for an index without codes.
absl::StatusOr<PostingView> DecodePosting(std::span<const uint8_t> payload, uint32_t expected_dim,
                                          StoredType expected_type, const std::string& where,
                                          uint32_t expected_entry_bytes = 0);

// ---- Coded postings (payload version 2) -----------------------------------
// A coded posting is read in two steps: its code section (the first
// head_pages pages of the record: header, ids, versions, codes and the
// checksums of the vector pages) and then only the vector pages that hold
// candidates. The storage frame's checksum covers the whole payload and is
// checked on full reads; a partial read is checked by the code section's own
// checksum and one XXH3-64 per vector page. Layout: docs/formats.md.
inline constexpr uint16_t kPostingFlagCoded = 1;
inline constexpr uint32_t kCodedHeaderBytes = 32;

struct CodedLayout {
  uint32_t head_bytes = 0;        // payload bytes up to the first vector page
  uint32_t head_pages = 0;        // record pages holding frame + code section
  uint32_t vector_pages = 0;
  uint32_t vectors_per_page = 0;  // 0: back to back
  uint64_t payload_bytes = 0;     // head_bytes + vector_pages * kPostingPageBytes
  uint64_t record_bytes = 0;      // head_pages + vector_pages pages
};
// `frame_bytes`: the storage frame header ahead of the payload (24), so that
// vector pages start on a record page. Pages are the posting file's
// (kPostingPageBytes, a multiple of the O_DIRECT alignment), so a vector page
// can be read alone.
CodedLayout ComputeCodedLayout(uint32_t count, uint32_t dim, StoredType type,
                               uint32_t entry_bytes, uint32_t frame_bytes);

// Encodes a coded posting (codes: count * entry_bytes bytes).
void EncodeCodedPosting(uint32_t dim, StoredType type, uint32_t entry_bytes,
                        uint32_t frame_bytes, const uint32_t* ids, const uint8_t* versions,
                        const uint8_t* codes, const uint8_t* vectors, uint32_t count,
                        std::vector<uint8_t>* out);

// Views the code section from a prefix of the payload (at least head_bytes;
// vectors are left null). Checks the header against the index and the code
// section checksum; DataLossError naming `where` otherwise.
absl::StatusOr<PostingView> DecodeCodedHead(std::span<const uint8_t> prefix, uint32_t expected_dim,
                                            StoredType expected_type,
                                            uint32_t expected_entry_bytes,
                                            const std::string& where);

// The vector pages [first, first + n) of entry i (relative to the first
// vector page).
void VectorPagesOf(const PostingView& head, uint32_t i, uint32_t* first, uint32_t* n);
// True if `page` (kPostingPageBytes) is vector page `page_index` of this posting.
bool VectorPageIntact(const PostingView& head, uint32_t page_index, const uint8_t* page);

}  // namespace cairn

#endif  // CAIRN_INDEX_SPANN_POSTING_FORMAT_H_
