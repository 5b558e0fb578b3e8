#include "index/posting_format.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace cairn {
namespace {

uint64_t VectorsOffset(uint32_t count) {
  uint64_t off = kPostingHeaderBytes + 4ull * count + count;
  return (off + 7) & ~uint64_t{7};
}

}  // namespace

size_t StoredTypeSize(StoredType t) { return t == StoredType::kFloat32 ? 4 : 1; }

const char* StoredTypeName(StoredType t) {
  switch (t) {
    case StoredType::kFloat32: return "float32";
    case StoredType::kUInt8: return "uint8";
    case StoredType::kInt8: return "int8";
  }
  return "?";
}

uint64_t PostingPayloadBytes(uint32_t count, uint32_t dim, StoredType type) {
  return VectorsOffset(count) + uint64_t{count} * dim * StoredTypeSize(type);
}

void EncodePosting(uint32_t dim, StoredType type, const uint32_t* ids, const uint8_t* versions,
                   const uint8_t* vectors, uint32_t count, std::vector<uint8_t>* out) {
  out->assign(PostingPayloadBytes(count, dim, type), 0);
  uint8_t* p = out->data();
  uint16_t t = static_cast<uint16_t>(type), flags = 0;
  uint32_t code_bytes = 0;
  std::memcpy(p, &count, 4);
  std::memcpy(p + 4, &t, 2);
  std::memcpy(p + 6, &flags, 2);
  std::memcpy(p + 8, &dim, 4);
  std::memcpy(p + 12, &code_bytes, 4);
  std::memcpy(p + kPostingHeaderBytes, ids, 4ull * count);
  if (versions != nullptr) std::memcpy(p + kPostingHeaderBytes + 4ull * count, versions, count);
  std::memcpy(p + VectorsOffset(count), vectors, uint64_t{count} * dim * StoredTypeSize(type));
}

absl::StatusOr<PostingView> DecodePosting(std::span<const uint8_t> payload, uint32_t expected_dim,
                                          StoredType expected_type, const std::string& where) {
  if (payload.size() < kPostingHeaderBytes) {
    return absl::DataLossError(absl::StrCat(where, ": posting payload of ", payload.size(),
                                            " bytes is shorter than its header"));
  }
  PostingView v;
  uint16_t t, flags;
  uint32_t code_bytes;
  std::memcpy(&v.count, payload.data(), 4);
  std::memcpy(&t, payload.data() + 4, 2);
  std::memcpy(&flags, payload.data() + 6, 2);
  std::memcpy(&v.dim, payload.data() + 8, 4);
  std::memcpy(&code_bytes, payload.data() + 12, 4);
  v.type = static_cast<StoredType>(t);
  if (v.dim != expected_dim || v.type != expected_type || code_bytes != 0 || flags != 0) {
    return absl::DataLossError(absl::StrCat(where, ": posting header (dim ", v.dim, ", type ", t,
                                            ", flags ", flags, ", code bytes ", code_bytes,
                                            ") does not match the index"));
  }
  if (payload.size() != PostingPayloadBytes(v.count, v.dim, v.type)) {
    return absl::DataLossError(absl::StrCat(where, ": posting of ", v.count, " entries needs ",
                                            PostingPayloadBytes(v.count, v.dim, v.type),
                                            " bytes, payload has ", payload.size()));
  }
  v.ids = reinterpret_cast<const uint32_t*>(payload.data() + kPostingHeaderBytes);
  v.versions = payload.data() + kPostingHeaderBytes + 4ull * v.count;
  v.vectors = payload.data() + VectorsOffset(v.count);
  return v;
}

}  // namespace cairn
