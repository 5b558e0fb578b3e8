// The routes under /collections/{name}/ that write vectors: the upsert
// (PUT /points), PUT /points/vectors (Qdrant's update_vectors) and POST
// /points/vectors/delete. Vectors are decoded by vector_json.h against the
// collection's one vector; listed in CollectionRoutes() (qdrant_points.cc).
#ifndef CAIRN_SERVER_QDRANT_VECTORS_H_
#define CAIRN_SERVER_QDRANT_VECTORS_H_

#include <vector>

#include "absl/status/statusor.h"
#include "server/qdrant_points.h"

namespace cairn {

// The upsert body, {"points": [...]} or {"batch": {...}}, as points.
absl::StatusOr<std::vector<PointData>> ParseUpsert(const Json& body, const CollectionConfig& c);

absl::StatusOr<Json> UpsertPoints(const CollectionCall& call);
absl::StatusOr<Json> UpdateVectors(const CollectionCall& call);
absl::StatusOr<Json> DeleteVectors(const CollectionCall& call);

}  // namespace cairn

#endif  // CAIRN_SERVER_QDRANT_VECTORS_H_
