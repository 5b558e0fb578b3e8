#include "index/spann/posting_format.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "storage/checksum.h"

namespace cairn {
namespace {

constexpr uint64_t kPage = kPostingPageBytes;

uint64_t VectorsOffset(uint32_t count) {
  uint64_t off = kPostingHeaderBytes + 4ull * count + count;
  return (off + 7) & ~uint64_t{7};
}

// Offsets inside a coded payload's code section.
struct CodedOffsets {
  uint64_t ids, versions, codes, checksums, end;
};
CodedOffsets CodedSectionOffsets(uint32_t count, uint32_t entry_bytes, uint32_t vector_pages) {
  CodedOffsets o;
  o.ids = kCodedHeaderBytes;
  o.versions = o.ids + 4ull * count;
  o.codes = (o.versions + count + 7) & ~uint64_t{7};
  o.checksums = o.codes + uint64_t{entry_bytes} * count;
  o.end = o.checksums + 8ull * vector_pages;
  return o;
}

uint32_t VectorPages(uint32_t count, uint64_t vb, uint32_t* per_page) {
  if (vb <= kPage) {
    *per_page = static_cast<uint32_t>(kPage / vb);
    return (count + *per_page - 1) / *per_page;
  }
  *per_page = 0;
  return static_cast<uint32_t>((count * vb + kPage - 1) / kPage);
}

}  // namespace

absl::StatusOr<PostingView> DecodeCodedFull(std::span<const uint8_t> payload, uint32_t dim,
                                            StoredType type, uint32_t entry_bytes,
                                            const std::string& where);

size_t StoredTypeSize(StoredType t) { return t == StoredType::kFloat32 ? 4 : 1; }

const char* StoredTypeName(StoredType t) {
  switch (t) {
    case StoredType::kFloat32: return "float32";
    case StoredType::kUInt8: return "uint8";
    case StoredType::kInt8: return "int8";
  }
  return "?";
}

void StoredVectorToFloat(StoredType type, const uint8_t* v, uint32_t dim, float* out) {
  switch (type) {
    case StoredType::kFloat32:
      std::memcpy(out, v, size_t{dim} * 4);
      return;
    case StoredType::kUInt8:
      for (uint32_t d = 0; d < dim; ++d) out[d] = v[d];
      return;
    case StoredType::kInt8:
      for (uint32_t d = 0; d < dim; ++d) out[d] = static_cast<int8_t>(v[d]);
      return;
  }
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
  if (count > 0) {  // an empty posting may come with null arrays
    std::memcpy(p + kPostingHeaderBytes, ids, 4ull * count);
    if (versions != nullptr) std::memcpy(p + kPostingHeaderBytes + 4ull * count, versions, count);
    std::memcpy(p + VectorsOffset(count), vectors, uint64_t{count} * dim * StoredTypeSize(type));
  }
}

absl::StatusOr<PostingView> DecodePosting(std::span<const uint8_t> payload, uint32_t expected_dim,
                                          StoredType expected_type, const std::string& where,
                                          uint32_t expected_entry_bytes) {
  if (expected_entry_bytes > 0) {
    return DecodeCodedFull(payload, expected_dim, expected_type, expected_entry_bytes, where);
  }
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

CodedLayout ComputeCodedLayout(uint32_t count, uint32_t dim, StoredType type,
                               uint32_t entry_bytes, uint32_t frame_bytes) {
  CodedLayout l;
  const uint64_t vb = uint64_t{dim} * StoredTypeSize(type);
  l.vector_pages = VectorPages(count, vb, &l.vectors_per_page);
  const uint64_t end = CodedSectionOffsets(count, entry_bytes, l.vector_pages).end;
  l.head_pages = static_cast<uint32_t>((frame_bytes + end + kPage - 1) / kPage);
  l.head_bytes = static_cast<uint32_t>(l.head_pages * kPage - frame_bytes);
  l.payload_bytes = l.head_bytes + uint64_t{l.vector_pages} * kPage;
  l.record_bytes = uint64_t{l.head_pages + l.vector_pages} * kPage;
  return l;
}

void EncodeCodedPosting(uint32_t dim, StoredType type, uint32_t entry_bytes,
                        uint32_t frame_bytes, const uint32_t* ids, const uint8_t* versions,
                        const uint8_t* codes, const uint8_t* vectors, uint32_t count,
                        std::vector<uint8_t>* out) {
  const CodedLayout l = ComputeCodedLayout(count, dim, type, entry_bytes, frame_bytes);
  const CodedOffsets o = CodedSectionOffsets(count, entry_bytes, l.vector_pages);
  out->assign(l.payload_bytes, 0);
  uint8_t* p = out->data();
  const uint16_t t = static_cast<uint16_t>(type), flags = kPostingFlagCoded;
  const uint16_t vpp = static_cast<uint16_t>(l.vectors_per_page), reserved = 0;
  std::memcpy(p, &count, 4);
  std::memcpy(p + 4, &t, 2);
  std::memcpy(p + 6, &flags, 2);
  std::memcpy(p + 8, &dim, 4);
  std::memcpy(p + 12, &entry_bytes, 4);
  std::memcpy(p + 16, &vpp, 2);
  std::memcpy(p + 18, &reserved, 2);
  std::memcpy(p + 20, &l.vector_pages, 4);
  if (count > 0) std::memcpy(p + o.ids, ids, 4ull * count);
  if (versions != nullptr && count > 0) std::memcpy(p + o.versions, versions, count);
  if (count > 0) std::memcpy(p + o.codes, codes, uint64_t{entry_bytes} * count);
  const uint64_t vb = uint64_t{dim} * StoredTypeSize(type);
  uint8_t* vec_area = p + l.head_bytes;
  for (uint32_t i = 0; i < count; ++i) {
    uint8_t* dst = l.vectors_per_page == 0
                       ? vec_area + i * vb
                       : vec_area + (i / l.vectors_per_page) * kPage + (i % l.vectors_per_page) * vb;
    std::memcpy(dst, vectors + i * vb, vb);
  }
  for (uint32_t pg = 0; pg < l.vector_pages; ++pg) {
    const uint64_t sum = Checksum64(vec_area + pg * kPage, kPage);
    std::memcpy(p + o.checksums + 8ull * pg, &sum, 8);
  }
  // Last: the header before the checksum field, then the rest of the section.
  const uint64_t head_sum = Checksum64Pair(p, 24, p + kCodedHeaderBytes, o.end - kCodedHeaderBytes);
  std::memcpy(p + 24, &head_sum, 8);
}

absl::StatusOr<PostingView> DecodeCodedHead(std::span<const uint8_t> prefix, uint32_t expected_dim,
                                            StoredType expected_type,
                                            uint32_t expected_entry_bytes,
                                            const std::string& where) {
  if (prefix.size() < kCodedHeaderBytes) {
    return absl::DataLossError(absl::StrCat(where, ": coded posting prefix of ", prefix.size(),
                                            " bytes is shorter than its header"));
  }
  const uint8_t* p = prefix.data();
  PostingView v;
  uint16_t t, flags, vpp, reserved;
  uint64_t head_sum;
  std::memcpy(&v.count, p, 4);
  std::memcpy(&t, p + 4, 2);
  std::memcpy(&flags, p + 6, 2);
  std::memcpy(&v.dim, p + 8, 4);
  std::memcpy(&v.entry_bytes, p + 12, 4);
  std::memcpy(&vpp, p + 16, 2);
  std::memcpy(&reserved, p + 18, 2);
  std::memcpy(&v.vector_pages, p + 20, 4);
  std::memcpy(&head_sum, p + 24, 8);
  v.type = static_cast<StoredType>(t);
  if (flags != kPostingFlagCoded || v.dim != expected_dim || v.type != expected_type ||
      v.entry_bytes != expected_entry_bytes || reserved != 0) {
    return absl::DataLossError(absl::StrCat(where, ": coded posting header (dim ", v.dim,
                                            ", type ", t, ", flags ", flags, ", entry bytes ",
                                            v.entry_bytes, ") does not match the index"));
  }
  // Sizes are checked before anything is hashed or dereferenced.
  uint32_t want_vpp = 0;
  const uint64_t vb = uint64_t{v.dim} * StoredTypeSize(v.type);
  if (v.count > (1u << 28) || VectorPages(v.count, vb, &want_vpp) != v.vector_pages ||
      want_vpp != vpp) {
    return absl::DataLossError(absl::StrCat(where, ": coded posting of ", v.count,
                                            " entries has an inconsistent vector layout"));
  }
  const CodedOffsets o = CodedSectionOffsets(v.count, v.entry_bytes, v.vector_pages);
  if (o.end > prefix.size()) {
    return absl::DataLossError(absl::StrCat(where, ": coded posting of ", v.count,
                                            " entries needs a ", o.end, "-byte code section, ",
                                            prefix.size(), " bytes were read"));
  }
  if (Checksum64Pair(p, 24, p + kCodedHeaderBytes, o.end - kCodedHeaderBytes) != head_sum) {
    return absl::DataLossError(absl::StrCat(where, ": code section checksum mismatch"));
  }
  v.vectors_per_page = vpp;
  v.ids = reinterpret_cast<const uint32_t*>(p + o.ids);
  v.versions = p + o.versions;
  v.codes = p + o.codes;
  v.page_checksums = p + o.checksums;
  return v;
}

absl::StatusOr<PostingView> DecodeCodedFull(std::span<const uint8_t> payload, uint32_t dim,
                                            StoredType type, uint32_t entry_bytes,
                                            const std::string& where) {
  auto v = DecodeCodedHead(payload, dim, type, entry_bytes, where);
  if (!v.ok()) return v.status();
  const CodedOffsets o = CodedSectionOffsets(v->count, v->entry_bytes, v->vector_pages);
  const uint64_t head_bytes = payload.size() - uint64_t{v->vector_pages} * kPage;
  if (payload.size() < uint64_t{v->vector_pages} * kPage || head_bytes < o.end ||
      head_bytes - o.end >= kPage) {
    return absl::DataLossError(absl::StrCat(where, ": coded posting of ", v->count,
                                            " entries does not fit its ", payload.size(),
                                            "-byte payload"));
  }
  v->vectors = payload.data() + head_bytes;
  return v;
}

void VectorPagesOf(const PostingView& head, uint32_t i, uint32_t* first, uint32_t* n) {
  if (head.vectors_per_page > 0) {
    *first = i / head.vectors_per_page;
    *n = 1;
    return;
  }
  const uint64_t vb = uint64_t{head.dim} * StoredTypeSize(head.type);
  const uint64_t begin = i * vb, end = begin + vb;
  *first = static_cast<uint32_t>(begin / kPage);
  *n = static_cast<uint32_t>((end + kPage - 1) / kPage - *first);
}

bool VectorPageIntact(const PostingView& head, uint32_t page_index, const uint8_t* page) {
  if (page_index >= head.vector_pages) return false;
  uint64_t want;
  std::memcpy(&want, head.page_checksums + 8ull * page_index, 8);
  return Checksum64(page, kPage) == want;
}

}  // namespace cairn
