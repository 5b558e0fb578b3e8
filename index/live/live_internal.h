// Internals shared by the live index's files: WAL record payloads, packed
// directory extents, version ordering and the in-memory form of a posting.
//
// WAL payloads (storage/wal.h frames them; little-endian):
//   type 1, upsert: u32 internal id, u8 version, u16 key length, external id
//                   key (index/id_map.h ExternalId::Key), dim x f32 vector
//                   (already normalised for cosine)
//   type 2, delete: u32 internal id, u8 version (deleted bit set), u16 key
//                   length, key
#ifndef CAIRN_INDEX_LIVE_LIVE_INTERNAL_H_
#define CAIRN_INDEX_LIVE_LIVE_INTERNAL_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "index/live/id_map.h"
#include "index/spann/posting_format.h"
#include "storage/posting_file.h"

namespace cairn {

inline constexpr uint8_t kWalUpsert = 1;
inline constexpr uint8_t kWalDelete = 2;

inline std::string EncodeWalHeader(uint32_t internal, uint8_t version, const ExternalId& id) {
  const std::string& key = id.Key();
  std::string out(7 + key.size(), '\0');
  std::memcpy(out.data(), &internal, 4);
  out[4] = static_cast<char>(version);
  const uint16_t len = static_cast<uint16_t>(key.size());
  std::memcpy(out.data() + 5, &len, 2);
  std::memcpy(out.data() + 7, key.data(), key.size());
  return out;
}

inline std::string EncodeWalUpsert(uint32_t internal, uint8_t version, const ExternalId& id,
                                   const float* v, uint32_t dim) {
  std::string out = EncodeWalHeader(internal, version, id);
  out.append(reinterpret_cast<const char*>(v), sizeof(float) * dim);
  return out;
}

inline std::string EncodeWalDelete(uint32_t internal, uint8_t version, const ExternalId& id) {
  return EncodeWalHeader(internal, version, id);
}

struct WalOp {
  uint32_t internal = 0;
  uint8_t version = 0;
  ExternalId id = ExternalId::Number(0);
  const float* vector = nullptr;  // into the payload (may be unaligned: copy)
};

inline absl::StatusOr<WalOp> DecodeWalOp(uint8_t type, std::string_view p, uint32_t dim) {
  WalOp op;
  if (p.size() < 7) return absl::DataLossError("WAL record too short");
  std::memcpy(&op.internal, p.data(), 4);
  op.version = static_cast<uint8_t>(p[4]);
  uint16_t len;
  std::memcpy(&len, p.data() + 5, 2);
  if (p.size() < 7u + len) return absl::DataLossError("WAL record key truncated");
  auto id = ExternalId::FromKey(p.substr(7, len));
  if (!id.ok()) return absl::DataLossError(absl::StrCat("WAL record key: ", id.status().message()));
  op.id = *id;
  const size_t rest = p.size() - 7 - len;
  if (type == kWalUpsert) {
    if (rest != sizeof(float) * dim || (op.version & kVersionDeletedBit) != 0) {
      return absl::DataLossError("WAL upsert record has the wrong size for this index");
    }
    op.vector = reinterpret_cast<const float*>(p.data() + 7 + len);
  } else if (type == kWalDelete) {
    if (rest != 0 || (op.version & kVersionDeletedBit) == 0) {
      return absl::DataLossError("WAL delete record is malformed");
    }
  } else {
    return absl::DataLossError(absl::StrCat("unknown WAL record type ", type));
  }
  return op;
}

// Versions of one internal id only grow; a delete may keep the 7-bit value
// of the last upsert (when it would wrap) and then wins by its bit.
inline bool VersionIsNewer(uint8_t next, uint8_t cur) {
  const uint8_t n = next & 0x7F, c = cur & 0x7F;
  if (n != c) return n > c;
  return (next & kVersionDeletedBit) != 0 && (cur & kVersionDeletedBit) == 0;
}

// Directory extents packed in 64 bits: offset in pages (40 bits) and length
// in pages (24 bits); 0 means "no posting".
inline uint64_t PackExtent(const PostingLocation& loc) {
  return (loc.offset / kPostingPageBytes) << 24 | (loc.bytes / kPostingPageBytes);
}
inline uint64_t ExtentOffset(uint64_t packed) { return (packed >> 24) * kPostingPageBytes; }
inline uint32_t ExtentBytes(uint64_t packed) {
  return static_cast<uint32_t>(packed & 0xFFFFFF) * kPostingPageBytes;
}
inline PostingLocation UnpackExtent(uint64_t packed) {
  return PostingLocation{ExtentOffset(packed), ExtentBytes(packed)};
}

inline size_t PostingEntryBytes(uint32_t dim, StoredType type) {
  return 5 + size_t{dim} * StoredTypeSize(type);
}

// A posting's entries in memory: ids, version bytes and vectors in the
// stored type.
struct PostingEntries {
  std::vector<uint32_t> ids;
  std::vector<uint8_t> versions;
  std::vector<uint8_t> data;
  size_t vec_bytes = 0;
  size_t size() const { return ids.size(); }
  const uint8_t* vec(size_t i) const { return data.data() + i * vec_bytes; }
  void Add(uint32_t id, uint8_t v, const uint8_t* vec) {
    ids.push_back(id);
    versions.push_back(v);
    data.insert(data.end(), vec, vec + vec_bytes);
  }
};

}  // namespace cairn

#endif  // CAIRN_INDEX_LIVE_LIVE_INTERNAL_H_
