// A sparse vector (Qdrant's {"indices": [...], "values": [...]}) and the
// operations every layer above the index shares: validation into Cairn's
// canonical form (indices strictly ascending), the exact dot product, and
// its JSON form.
#ifndef CAIRN_SERVER_SPARSE_VECTOR_H_
#define CAIRN_SERVER_SPARSE_VECTOR_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace cairn {

// Invariant once made by ParseSparseVector or Canonicalize: indices strictly
// ascending, values finite, indices.size() == values.size().
struct SparseVector {
  std::vector<uint32_t> indices;
  std::vector<float> values;
  size_t size() const { return indices.size(); }
  friend bool operator==(const SparseVector&, const SparseVector&) = default;
};

// A point's sparse vectors by name.
using SparseMap = std::map<std::string, SparseVector>;

// Sorts by index. InvalidArgument naming `where` for lengths that differ, a
// repeated index or a value that is not finite.
absl::Status Canonicalize(SparseVector* v, const std::string& where);

// {"indices": [u32...], "values": [number...]}: InvalidArgument naming
// `where` for anything else (a negative or fractional index, one past
// 2^32 - 1, unknown keys, NaN or infinite values, lengths or duplicates).
absl::StatusOr<SparseVector> ParseSparseVector(const nlohmann::json& j, const std::string& where);
// True when `j` looks like a sparse vector (an object with indices or
// values), so that callers can tell it from a dense list or a point id.
bool LooksSparse(const nlohmann::json& j);
nlohmann::json SparseVectorJson(const SparseVector& v);

// Exact dot product of two canonical vectors (a merge of their indices).
float SparseDot(const SparseVector& a, const SparseVector& b);

}  // namespace cairn

#endif  // CAIRN_SERVER_SPARSE_VECTOR_H_
