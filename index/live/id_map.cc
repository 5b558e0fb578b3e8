#include "index/live/id_map.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace cairn {
namespace {

constexpr char kHex[] = "0123456789abcdef";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void PutU16(std::string* out, uint16_t v) {
  out->push_back(static_cast<char>(v & 0xFF));
  out->push_back(static_cast<char>(v >> 8));
}

void PutU32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

uint64_t GetLE(std::string_view s, size_t pos, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t{static_cast<uint8_t>(s[pos + i])} << (8 * i);
  return v;
}

// glibc malloc: 8 bytes of header, 16-byte granularity, 32-byte minimum.
uint64_t MallocBytes(uint64_t n) { return std::max<uint64_t>(32, (n + 8 + 15) & ~uint64_t{15}); }

// Heap bytes behind a string; 0 while its characters fit the object (SSO).
uint64_t HeapBytes(const std::string& s) {
  const char* obj = reinterpret_cast<const char*>(&s);
  if (s.data() >= obj && s.data() < obj + sizeof(s)) return 0;
  return MallocBytes(s.capacity() + 1);
}

}  // namespace

// ---------------------------------------------------------------- ExternalId

ExternalId ExternalId::Number(uint64_t n) {
  std::string key(9, '\0');
  key[0] = static_cast<char>(Kind::kNumber);
  for (int i = 0; i < 8; ++i) key[1 + i] = static_cast<char>((n >> (8 * i)) & 0xFF);
  return ExternalId(std::move(key));
}

absl::StatusOr<ExternalId> ExternalId::Uuid(std::string_view text) {
  const bool dashed = text.size() == 36;
  if (!dashed && text.size() != 32) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a UUID (want 8-4-4-4-12 or 32 hex digits): \"",
                     std::string(text.substr(0, 64)), "\""));
  }
  std::string key(17, '\0');
  key[0] = static_cast<char>(Kind::kUuid);
  int nibbles = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (dashed && (i == 8 || i == 13 || i == 18 || i == 23)) {
      if (text[i] != '-') break;
      continue;
    }
    const int v = HexValue(text[i]);
    if (v < 0) break;
    key[1 + nibbles / 2] |= static_cast<char>(nibbles % 2 == 0 ? v << 4 : v);
    ++nibbles;
  }
  if (nibbles != 32) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a UUID (want 8-4-4-4-12 or 32 hex digits): \"", std::string(text), "\""));
  }
  return ExternalId(std::move(key));
}

absl::StatusOr<ExternalId> ExternalId::String(std::string_view bytes) {
  if (bytes.empty()) return absl::InvalidArgumentError("external id string is empty");
  if (bytes.size() > kMaxStringBytes) {
    return absl::InvalidArgumentError(absl::StrCat("external id string of ", bytes.size(),
                                                   " bytes is longer than ", kMaxStringBytes));
  }
  std::string key;
  key.reserve(1 + bytes.size());
  key.push_back(static_cast<char>(Kind::kString));
  key.append(bytes.data(), bytes.size());
  return ExternalId(std::move(key));
}

absl::StatusOr<ExternalId> ExternalId::FromKey(std::string_view key) {
  if (key.empty()) return absl::InvalidArgumentError("empty external id key");
  const uint8_t tag = static_cast<uint8_t>(key[0]);
  size_t min = 0, max = 0;
  switch (tag) {
    case static_cast<uint8_t>(Kind::kNumber):
      min = max = 9;
      break;
    case static_cast<uint8_t>(Kind::kUuid):
      min = max = 17;
      break;
    case static_cast<uint8_t>(Kind::kString):
      min = 2, max = 1 + kMaxStringBytes;
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("unknown external id kind ", tag));
  }
  if (key.size() < min || key.size() > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("external id key of kind ", tag, " has ", key.size(), " bytes"));
  }
  return ExternalId(std::string(key));
}

uint64_t ExternalId::number() const { return kind() == Kind::kNumber ? GetLE(key_, 1, 8) : 0; }

std::string ExternalId::ToString() const {
  switch (kind()) {
    case Kind::kNumber:
      return absl::StrCat(number());
    case Kind::kUuid: {
      std::string out;
      out.reserve(36);
      for (int i = 0; i < 16; ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
        const uint8_t b = static_cast<uint8_t>(key_[1 + i]);
        out.push_back(kHex[b >> 4]);
        out.push_back(kHex[b & 0xF]);
      }
      return out;
    }
    case Kind::kString:
      return key_.substr(1);
  }
  return "";
}

// --------------------------------------------------------------------- IdMap

IdMap::IdMap(uint32_t n_bulk) : n_bulk_(n_bulk), next_(n_bulk) {}

void IdMap::AddHeap(const std::string& s, int sign) {
  const uint64_t b = HeapBytes(s);
  key_heap_bytes_ = sign > 0 ? key_heap_bytes_ + b : key_heap_bytes_ - b;
}

void IdMap::Unbind(uint32_t internal) {
  std::string& slot = Slot(internal);
  AddHeap(slot, -1);
  std::string().swap(slot);  // assigning "" would keep the heap block
}

std::optional<uint32_t> IdMap::Find(const ExternalId& id) const {
  const bool bulk = id.kind() == ExternalId::Kind::kNumber && id.number() < n_bulk_;
  if (bulk && moved_bulk_ == 0) return static_cast<uint32_t>(id.number());
  auto it = forward_.find(id.Key());
  if (it != forward_.end()) return it->second;
  if (bulk) return static_cast<uint32_t>(id.number());
  return std::nullopt;
}

absl::StatusOr<uint32_t> IdMap::FindOrAssign(const ExternalId& id, bool* created) {
  if (created != nullptr) *created = false;
  if (std::optional<uint32_t> found = Find(id)) return *found;
  if (next_ > kMaxInternalId) {
    return absl::ResourceExhaustedError(
        absl::StrCat("all ", uint64_t{kMaxInternalId} + 1, " internal vector ids are in use"));
  }
  const uint32_t internal = next_;
  auto [it, inserted] = forward_.emplace(id.Key(), internal);
  AddHeap(it->first, +1);
  reverse_.push_back(id.Key());
  AddHeap(reverse_.back(), +1);
  ++next_;
  if (created != nullptr) *created = true;
  return internal;
}

absl::Status IdMap::Bind(const ExternalId& id, uint32_t internal) {
  if (internal > kMaxInternalId) {
    return absl::InvalidArgumentError(absl::StrCat("internal id ", internal, " is out of range"));
  }
  if (internal < n_bulk_) {
    if (id.kind() != ExternalId::Kind::kNumber || id.number() != internal) {
      return absl::InvalidArgumentError(absl::StrCat(
          "internal id ", internal, " is a bulk id and belongs to external id ", internal));
    }
    // Moving a bulk number back onto its own id: drop the override.
    auto it = moved_bulk_ == 0 ? forward_.end() : forward_.find(id.Key());
    if (it == forward_.end()) return absl::OkStatus();
    const uint32_t old = it->second;
    AddHeap(it->first, -1);
    forward_.erase(it);
    --moved_bulk_;
    Unbind(old);
    return absl::OkStatus();
  }
  if (internal < next_) {
    const std::string& slot = Slot(internal);
    if (slot == id.Key()) return absl::OkStatus();
    if (!slot.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("internal id ", internal, " is already bound to another external id"));
    }
  }
  // From here on nothing can fail.
  const std::optional<uint32_t> old = Find(id);
  if (internal >= next_) {
    reverse_.resize(uint64_t{internal} - n_bulk_ + 1);
    next_ = internal + 1;
  }
  if (old.has_value() && *old >= n_bulk_) {
    forward_.find(id.Key())->second = internal;
    Unbind(*old);
  } else {
    if (old.has_value()) ++moved_bulk_;  // an implicit bulk mapping gets overridden
    auto [it, inserted] = forward_.emplace(id.Key(), internal);
    AddHeap(it->first, +1);
  }
  std::string& slot = Slot(internal);
  slot = id.Key();
  AddHeap(slot, +1);
  return absl::OkStatus();
}

std::optional<ExternalId> IdMap::External(uint32_t internal) const {
  if (internal >= next_) return std::nullopt;
  if (internal < n_bulk_) {
    ExternalId id = ExternalId::Number(internal);
    if (moved_bulk_ != 0 && forward_.contains(id.Key())) return std::nullopt;
    return id;
  }
  const std::string& key = reverse_[internal - n_bulk_];
  if (key.empty()) return std::nullopt;
  return ExternalId(key);
}

uint64_t IdMap::ResidentBytes() const {
  using Slot = std::pair<const std::string, uint32_t>;
  uint64_t table = 0;
  if (forward_.capacity() > 0) {
    // One control byte per slot plus a cloned group's worth.
    table = MallocBytes(forward_.capacity() * (sizeof(Slot) + 1) + 16);
  }
  const uint64_t reverse =
      reverse_.capacity() == 0 ? 0 : MallocBytes(reverse_.capacity() * sizeof(std::string));
  return sizeof(*this) + table + reverse + key_heap_bytes_;
}

std::string IdMap::Serialize() const {
  std::string out;
  uint64_t bytes = 8;
  for (const std::string& key : reverse_) bytes += 2 + key.size();
  out.reserve(bytes);
  PutU32(&out, n_bulk_);
  PutU32(&out, next_);
  for (const std::string& key : reverse_) {
    PutU16(&out, static_cast<uint16_t>(key.size()));
    out.append(key);
  }
  return out;
}

absl::StatusOr<IdMap> IdMap::Deserialize(std::string_view body, const std::string& where) {
  auto corrupt = [&where](const std::string& what) {
    return absl::DataLossError(absl::StrCat(where, ": id map: ", what));
  };
  if (body.size() < 8) {
    return corrupt(absl::StrCat("body of ", body.size(), " bytes is shorter than its header"));
  }
  const uint32_t n_bulk = static_cast<uint32_t>(GetLE(body, 0, 4));
  const uint32_t next = static_cast<uint32_t>(GetLE(body, 4, 4));
  if (next < n_bulk) {
    return corrupt(absl::StrCat("next internal id ", next, " is below the bulk count ", n_bulk));
  }
  const uint64_t slots = uint64_t{next} - n_bulk;
  // Checked before allocating, so a corrupt count cannot ask for gigabytes.
  if (body.size() - 8 < 2 * slots) {
    return corrupt(
        absl::StrCat("body of ", body.size(), " bytes is too short for ", slots, " internal ids"));
  }
  IdMap map(n_bulk);
  map.next_ = next;
  map.reverse_.resize(slots);
  size_t pos = 8;
  for (uint64_t i = 0; i < slots; ++i) {
    const uint64_t internal = n_bulk + i;
    if (body.size() - pos < 2) return corrupt(absl::StrCat("truncated at internal id ", internal));
    const size_t len = GetLE(body, pos, 2);
    pos += 2;
    if (len == 0) continue;
    if (body.size() - pos < len) {
      return corrupt(absl::StrCat("truncated in the key of internal id ", internal));
    }
    absl::StatusOr<ExternalId> id = ExternalId::FromKey(body.substr(pos, len));
    pos += len;
    if (!id.ok()) {
      return corrupt(absl::StrCat("internal id ", internal, ": ", id.status().message()));
    }
    auto [it, inserted] = map.forward_.emplace(id->Key(), static_cast<uint32_t>(internal));
    if (!inserted) {
      return corrupt(
          absl::StrCat("internal id ", internal, " repeats the external id of ", it->second));
    }
    map.AddHeap(it->first, +1);
    std::string& slot = map.reverse_[i];
    slot = id->Key();
    map.AddHeap(slot, +1);
    if (id->kind() == ExternalId::Kind::kNumber && id->number() < n_bulk) ++map.moved_bulk_;
  }
  if (pos != body.size()) {
    return corrupt(absl::StrCat(body.size() - pos, " trailing bytes"));
  }
  return map;
}

// ---------------------------------------------------------------- VersionMap

VersionMap::VersionMap(uint32_t n_live) : chunks_(kMaxChunks) {
  if (n_live == 0) return;
  Grow(n_live);
  for (uint32_t id = 0; id < n_live; ++id) {
    chunks_[id >> kChunkBits][id & (kChunkSize - 1)].store(0, std::memory_order_relaxed);
  }
  size_.store(n_live, std::memory_order_release);
}

void VersionMap::Grow(uint32_t new_size) {
  const uint32_t need = static_cast<uint32_t>((uint64_t{new_size} + kChunkSize - 1) >> kChunkBits);
  for (; allocated_chunks_ < need; ++allocated_chunks_) {
    // Bytes past size() must read as deleted once size() grows over them.
    std::unique_ptr<std::atomic<uint8_t>[]> chunk(new std::atomic<uint8_t>[kChunkSize]);
    for (uint32_t i = 0; i < kChunkSize; ++i) chunk[i].store(kDeleted, std::memory_order_relaxed);
    chunks_[allocated_chunks_] = std::move(chunk);
  }
}

void VersionMap::Set(uint32_t id, uint8_t v) {
  if (id > kMaxInternalId) return;
  const uint32_t size = size_.load(std::memory_order_relaxed);  // only the writer stores it
  if (id >= size) Grow(id + 1);
  chunks_[id >> kChunkBits][id & (kChunkSize - 1)].store(v, std::memory_order_relaxed);
  if (id >= size) size_.store(id + 1, std::memory_order_release);
}

uint64_t VersionMap::ResidentBytes() const {
  return sizeof(*this) + uint64_t{kMaxChunks} * sizeof(chunks_[0]) +
         uint64_t{allocated_chunks_} * kChunkSize;
}

std::string VersionMap::Serialize() const {
  const uint32_t n = size();
  std::string out;
  out.reserve(4 + uint64_t{n});
  PutU32(&out, n);
  for (uint32_t c = 0; uint64_t{c} * kChunkSize < n; ++c) {
    const uint32_t end =
        static_cast<uint32_t>(std::min<uint64_t>(kChunkSize, n - uint64_t{c} * kChunkSize));
    for (uint32_t i = 0; i < end; ++i) {
      out.push_back(static_cast<char>(chunks_[c][i].load(std::memory_order_relaxed)));
    }
  }
  return out;
}

absl::StatusOr<std::unique_ptr<VersionMap>> VersionMap::Deserialize(std::string_view body,
                                                                    const std::string& where) {
  if (body.size() < 4) {
    return absl::DataLossError(absl::StrCat(where, ": version map: body of ", body.size(),
                                            " bytes is shorter than its header"));
  }
  const uint32_t n = static_cast<uint32_t>(GetLE(body, 0, 4));
  if (body.size() - 4 != n) {
    return absl::DataLossError(absl::StrCat(where, ": version map: ", n, " entries need ",
                                            uint64_t{n} + 4, " bytes, body has ", body.size()));
  }
  auto map = std::make_unique<VersionMap>(0);
  if (n == 0) return map;
  map->Grow(n);
  for (uint32_t id = 0; id < n; ++id) {
    map->chunks_[id >> kChunkBits][id & (kChunkSize - 1)].store(static_cast<uint8_t>(body[4 + id]),
                                                                std::memory_order_relaxed);
  }
  map->size_.store(n, std::memory_order_release);
  return map;
}

}  // namespace cairn
