#include "server/point_vectors.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "storage/coding.h"

namespace cairn {

namespace {

void PutRaw(std::string* out, const void* p, size_t n) {
  out->append(static_cast<const char*>(p), n);
}

void PutFixed16(std::string* out, uint16_t v) {
  uint8_t b[2];
  EncodeFixed16(b, v);
  PutRaw(out, b, 2);
}

void PutFixed32(std::string* out, uint32_t v) {
  uint8_t b[4];
  EncodeFixed32(b, v);
  PutRaw(out, b, 4);
}

// Reads fixed-size fields off the front of `in`.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool Take(void* out, size_t n) {
    if (in_.size() < n) return false;
    if (n > 0) std::memcpy(out, in_.data(), n);
    in_.remove_prefix(n);
    return true;
  }
  bool empty() const { return in_.empty(); }

 private:
  std::string_view in_;
};

absl::Status Damaged(const std::string& why) {
  return absl::DataLossError(absl::StrCat("stored point vectors: ", why));
}

}  // namespace

std::string EncodePointVectors(const std::vector<float>& dense, const SparseMap& sparse,
                               const CollectionConfig& c) {
  std::string out;
  if (c.sparse_vectors.empty()) {
    if (!dense.empty()) PutRaw(&out, dense.data(), dense.size() * sizeof(float));
    return out;
  }
  if (dense.empty() && sparse.empty()) return out;
  out.push_back(static_cast<char>(kPointVectorsTag));
  const uint32_t dense_bytes = static_cast<uint32_t>(dense.size() * sizeof(float));
  PutFixed32(&out, dense_bytes);
  if (dense_bytes > 0) PutRaw(&out, dense.data(), dense_bytes);
  PutFixed16(&out, static_cast<uint16_t>(sparse.size()));
  for (size_t slot = 0; slot < c.sparse_vectors.size(); ++slot) {
    auto it = sparse.find(c.sparse_vectors[slot].name);
    if (it == sparse.end()) continue;
    const SparseVector& v = it->second;
    PutFixed16(&out, static_cast<uint16_t>(slot));
    PutFixed32(&out, static_cast<uint32_t>(v.size()));
    if (v.size() > 0) {
      PutRaw(&out, v.indices.data(), v.size() * sizeof(uint32_t));
      PutRaw(&out, v.values.data(), v.size() * sizeof(float));
    }
  }
  return out;
}

absl::Status DecodePointVectors(std::string_view bytes, const CollectionConfig& c,
                                std::vector<float>* dense, SparseMap* sparse) {
  dense->clear();
  sparse->clear();
  if (bytes.empty()) return absl::OkStatus();
  const size_t want = size_t{c.size} * sizeof(float);
  if (c.sparse_vectors.empty()) {
    if (bytes.size() != want) {
      return Damaged(absl::StrCat(bytes.size(), " bytes, want ", want));
    }
    dense->resize(c.size);
    std::memcpy(dense->data(), bytes.data(), want);
    return absl::OkStatus();
  }
  Reader in(bytes);
  uint8_t tag = 0;
  uint32_t dense_bytes = 0;
  if (!in.Take(&tag, 1) || tag != kPointVectorsTag) return Damaged("unknown layout tag");
  if (!in.Take(&dense_bytes, 4) || (dense_bytes != 0 && dense_bytes != want)) {
    return Damaged(absl::StrCat("dense part of ", dense_bytes, " bytes, want 0 or ", want));
  }
  if (dense_bytes > 0) {
    dense->resize(c.size);
    if (!in.Take(dense->data(), dense_bytes)) return Damaged("short dense part");
  }
  uint16_t count = 0;
  if (!in.Take(&count, 2)) return Damaged("no sparse count");
  for (uint16_t i = 0; i < count; ++i) {
    uint16_t slot = 0;
    uint32_t nnz = 0;
    if (!in.Take(&slot, 2) || !in.Take(&nnz, 4)) return Damaged("short sparse header");
    if (slot >= c.sparse_vectors.size()) {
      return Damaged(absl::StrCat("sparse slot ", slot, " of ", c.sparse_vectors.size()));
    }
    if (nnz > bytes.size() / 8) return Damaged(absl::StrCat("sparse length ", nnz));
    SparseVector v;
    v.indices.resize(nnz);
    v.values.resize(nnz);
    if (!in.Take(v.indices.data(), size_t{nnz} * 4) || !in.Take(v.values.data(), size_t{nnz} * 4)) {
      return Damaged("short sparse vector");
    }
    if (!sparse->emplace(c.sparse_vectors[slot].name, std::move(v)).second) {
      return Damaged(absl::StrCat("sparse slot ", slot, " twice"));
    }
  }
  if (!in.empty()) return Damaged("trailing bytes");
  return absl::OkStatus();
}

}  // namespace cairn
