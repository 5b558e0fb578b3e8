// The point store's vector bytes of one point (opaque to the store;
// docs/formats.md, "Point vectors"). A collection without sparse vectors
// keeps the version-2 layout: its dense vector as `size` float32 values, or
// no bytes for a point without one. A collection with sparse vectors
// (config version 3) stores every point that has any vector as
//
//   u8  tag (1)
//   u32 dense bytes: 0, or size * 4; then the dense float32 values
//   u16 sparse vectors present; then for each, in slot order:
//     u16 slot (the name's position in CollectionConfig::sparse_vectors)
//     u32 nnz; nnz u32 indices (ascending); nnz float32 values
//
// all little-endian; no bytes at all is a point without vectors. The point
// log frames and checksums each record, so this layout has no checksum of
// its own; a decoder still checks every length against the bytes it has.
#ifndef CAIRN_SERVER_POINT_VECTORS_H_
#define CAIRN_SERVER_POINT_VECTORS_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "server/collection_config.h"
#include "server/sparse_vector.h"

namespace cairn {

inline constexpr uint8_t kPointVectorsTag = 1;

// `sparse` names only sparse vectors of `c` (the caller validated them).
std::string EncodePointVectors(const std::vector<float>& dense, const SparseMap& sparse,
                               const CollectionConfig& c);
// DataLoss for bytes that do not decode under `c`.
absl::Status DecodePointVectors(std::string_view bytes, const CollectionConfig& c,
                                std::vector<float>* dense, SparseMap* sparse);

}  // namespace cairn

#endif  // CAIRN_SERVER_POINT_VECTORS_H_
