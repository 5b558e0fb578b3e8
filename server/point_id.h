// Point ids as the REST API has them (Qdrant's: an unsigned integer or a
// UUID string; Cairn also takes any other string up to 256 bytes) and their
// two internal forms: the index's ExternalId and the point store's key,
// which sorts the way scroll pages through points (numbers ascending, then
// UUIDs, then other strings, each in byte order).
#ifndef CAIRN_SERVER_POINT_ID_H_
#define CAIRN_SERVER_POINT_ID_H_

#include <string>

#include "absl/status/statusor.h"
#include "index/live/id_map.h"
#include "nlohmann/json.hpp"
#include "server/filter.h"

namespace cairn {

// InvalidArgument naming `where` for anything but a non-negative integer or
// a non-empty string of at most 256 bytes.
absl::StatusOr<ExternalId> ParsePointId(const nlohmann::json& j, const std::string& where);
nlohmann::json PointIdToJson(const ExternalId& id);
std::string StoreKey(const ExternalId& id);
absl::StatusOr<ExternalId> FromStoreKey(std::string_view key);
FilterPointId ToFilterId(const ExternalId& id);

}  // namespace cairn

#endif  // CAIRN_SERVER_POINT_ID_H_
