// Identity for live updates: external ids (what clients name a vector by) map
// to dense internal uint32 ids (what postings store), and every internal id
// has a one-byte version that tells a posting entry whether it is current.
//
// Bulk-built indexes number their vectors 0..n_bulk-1 by input row, and the
// external id of row k is Number(k). IdMap keeps that mapping implicit, so a
// bulk index of a billion vectors costs no RAM here until vectors are added
// under other ids. Byte layouts of the serialised bodies: docs/formats.md,
// "Id map" and "Version map".
#ifndef CAIRN_INDEX_LIVE_ID_MAP_H_
#define CAIRN_INDEX_LIVE_ID_MAP_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "index/spann/posting_format.h"

namespace cairn {

// Internal ids are 0..kMaxInternalId; 0xFFFFFFFF is left free so callers
// can use it as "no id".
inline constexpr uint32_t kMaxInternalId = 0xFFFFFFFEu;

// Record-file envelopes (storage/record_file.h) for the two bodies below.
inline constexpr char kIdMapMagic[] = "CAIRNIDM";
inline constexpr uint32_t kIdMapFormatVersion = 1;
inline constexpr char kVersionMapMagic[] = "CAIRNVER";
inline constexpr uint32_t kVersionMapFormatVersion = 1;

// A client's name for a vector: a number, a UUID or a byte string. Held as
// its canonical key (a tag byte, then the value's bytes), so equality,
// hashing and serialisation all agree by construction. Different kinds never
// compare equal, even when ToString() matches (Number(42) vs String("42")).
class ExternalId {
 public:
  // The values are the key's tag byte and are on disk: never renumber.
  enum class Kind : uint8_t { kNumber = 1, kUuid = 2, kString = 3 };
  static constexpr size_t kMaxStringBytes = 256;

  static ExternalId Number(uint64_t n);
  // 8-4-4-4-12 hex digits with dashes, or 32 hex digits without; either
  // case. InvalidArgument otherwise (braces and "urn:uuid:" are not taken).
  static absl::StatusOr<ExternalId> Uuid(std::string_view text);
  // Any bytes, NULs included; InvalidArgument if empty or longer than
  // kMaxStringBytes.
  static absl::StatusOr<ExternalId> String(std::string_view bytes);
  // Inverse of Key(); InvalidArgument for a malformed key.
  static absl::StatusOr<ExternalId> FromKey(std::string_view key);

  Kind kind() const { return static_cast<Kind>(key_[0]); }
  // The number for kNumber, 0 for the other kinds.
  uint64_t number() const;
  // Decimal for numbers, lowercase 8-4-4-4-12 for UUIDs, the raw bytes for
  // strings.
  std::string ToString() const;
  // Tag byte, then: number as 8 bytes little-endian, UUID as its 16 bytes,
  // string as its 1..256 bytes. Never empty.
  const std::string& Key() const { return key_; }

  friend bool operator==(const ExternalId& a, const ExternalId& b) { return a.key_ == b.key_; }
  friend bool operator!=(const ExternalId& a, const ExternalId& b) { return a.key_ != b.key_; }
  template <typename H>
  friend H AbslHashValue(H h, const ExternalId& id) {
    return H::combine(std::move(h), id.key_);
  }

 private:
  friend class IdMap;  // rebuilds ids from keys it validated when storing them
  explicit ExternalId(std::string key) : key_(std::move(key)) {}
  std::string key_;
};

// External id <-> internal id. Internal ids below n_bulk belong implicitly to
// Number(id); others are handed out densely from n_bulk upward and never
// reused by FindOrAssign.
//
// An internal id is "bound" to at most one external id and vice versa. It
// is unbound when it was never handed out (a gap left by Bind) or when its
// external id was moved to a fresh internal id. Moving is how a caller
// avoids wrapping a version byte (VersionMap::WouldWrap): check
// next_internal() <= kMaxInternalId, then Bind(id, next_internal()).
//
// Memory: nothing per bulk id. Per other id, one hash-table slot and one
// reverse-vector slot, each holding a copy of the key (keys over 15 bytes,
// i.e. UUIDs and longer strings, also take a heap block per copy).
//
// Thread-safety: none. The caller serialises all access, readers included,
// under its writer lock.
class IdMap {
 public:
  explicit IdMap(uint32_t n_bulk);

  std::optional<uint32_t> Find(const ExternalId& id) const;
  // Find, or bind `id` to next_internal() and advance it. *created (may be
  // null) says which. ResourceExhausted once kMaxInternalId has been used.
  absl::StatusOr<uint32_t> FindOrAssign(const ExternalId& id, bool* created);
  // Makes Find(id) == internal and External(internal) == id; for WAL replay
  // and for moving an id. Idempotent. If `internal` >= next_internal(), ids
  // in between become unbound gaps and next_internal() becomes internal + 1.
  // If `id` was bound elsewhere, that internal id becomes unbound.
  // InvalidArgument if internal > kMaxInternalId, or internal < n_bulk and
  // id != Number(internal). FailedPrecondition if `internal` is bound to a
  // different external id. Nothing changes on error.
  absl::Status Bind(const ExternalId& id, uint32_t internal);
  // The external id bound to `internal`; nullopt for unbound ids and ids >=
  // next_internal().
  std::optional<ExternalId> External(uint32_t internal) const;

  uint32_t next_internal() const { return next_; }
  uint32_t n_bulk() const { return n_bulk_; }
  // Estimated heap + object bytes: table capacity (not size), reverse
  // vector capacity and key heap blocks with glibc malloc's rounding.
  uint64_t ResidentBytes() const;

  // The record-file body; deterministic, so equal maps serialise equally.
  std::string Serialize() const;
  // DataLossError naming `where` on anything malformed. Sizes are checked
  // before allocating: RAM stays within about 16 x body.size().
  static absl::StatusOr<IdMap> Deserialize(std::string_view body, const std::string& where);

 private:
  std::string& Slot(uint32_t internal) { return reverse_[internal - n_bulk_]; }
  void Unbind(uint32_t internal);
  void AddHeap(const std::string& s, int sign);

  uint32_t n_bulk_;
  uint32_t next_;
  // Number(k) for k < n_bulk_ mapped away from k: such a key in forward_
  // overrides the implicit mapping. Zero keeps Find of bulk ids hash-free.
  uint32_t moved_bulk_ = 0;
  absl::flat_hash_map<std::string, uint32_t> forward_;
  // Key of internal id n_bulk_ + i; empty = unbound (real keys never are).
  std::vector<std::string> reverse_;
  uint64_t key_heap_bytes_ = 0;
};

// One byte per internal id: low 7 bits version, bit 7 (kVersionDeletedBit)
// deleted. A posting entry whose stored byte differs from the map's is stale.
//
// Versions wrap after 128 replacements: version 0 would come back and make
// stale entries written under version 0 look current again. So a caller
// about to replace a vector whose version WouldWrap must instead move its
// external id to a fresh internal id (see IdMap) and delete the old one.
//
// Storage: chunks of kChunkSize atomic bytes, allocated as the map grows;
// the table of chunk pointers is allocated at its final size up front, so
// it never moves under readers. A bulk-built index of n vectors starts with
// n entries of version 0, live.
//
// Thread-safety: any number of threads may call Get/IsLive/size
// concurrently with one writer calling Set; writers (Set, Serialize) are
// serialised by the caller. A reader sees each byte either before or after
// a concurrent Set of it, and a grown size only once its bytes are written.
// Not movable: readers hold pointers to it.
class VersionMap {
 public:
  static constexpr uint32_t kChunkBits = 20;
  static constexpr uint32_t kChunkSize = 1u << kChunkBits;
  static constexpr uint32_t kMaxChunks = (uint64_t{kMaxInternalId} >> kChunkBits) + 1;
  static constexpr uint8_t kDeleted = kVersionDeletedBit;

  // `n_live` entries of version 0, not deleted.
  explicit VersionMap(uint32_t n_live = 0);
  VersionMap(const VersionMap&) = delete;
  VersionMap& operator=(const VersionMap&) = delete;

  // kDeleted for ids >= size().
  uint8_t Get(uint32_t id) const {
    if (id >= size_.load(std::memory_order_acquire)) return kDeleted;
    return chunks_[id >> kChunkBits][id & (kChunkSize - 1)].load(std::memory_order_relaxed);
  }
  // Grows to id + 1 if needed; new ids in between read as kDeleted. Ids
  // above kMaxInternalId are ignored.
  void Set(uint32_t id, uint8_t v);
  // `entry_version` is a posting entry's byte (deleted bit clear).
  bool IsLive(uint32_t id, uint8_t entry_version) const {
    const uint8_t v = Get(id);
    return (v & kDeleted) == 0 && v == entry_version;
  }
  // The version after `current`, deleted bit dropped.
  static uint8_t NextVersion(uint8_t current) { return (current + 1) & 0x7F; }
  // True when NextVersion(current) would be 0: time for a fresh internal id.
  static bool WouldWrap(uint8_t current) { return NextVersion(current) == 0; }

  uint32_t size() const { return size_.load(std::memory_order_acquire); }
  uint64_t ResidentBytes() const;

  std::string Serialize() const;
  // DataLossError naming `where` on a malformed body.
  static absl::StatusOr<std::unique_ptr<VersionMap>> Deserialize(std::string_view body,
                                                                 const std::string& where);

 private:
  void Grow(uint32_t new_size);

  // kMaxChunks entries, null until first used; never resized.
  std::vector<std::unique_ptr<std::atomic<uint8_t>[]>> chunks_;
  uint32_t allocated_chunks_ = 0;
  // Release-stored after the bytes below it are written.
  std::atomic<uint32_t> size_{0};
};

}  // namespace cairn

#endif  // CAIRN_INDEX_LIVE_ID_MAP_H_
