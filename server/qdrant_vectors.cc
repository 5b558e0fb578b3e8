#include "server/qdrant_vectors.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/point_id.h"
#include "server/vector_json.h"

namespace cairn {

namespace {

using absl::InvalidArgumentError;

Json UpdateResult() { return Json{{"operation_id", 0}, {"status", "completed"}}; }

// Qdrant's conditional writes (only update points matching a filter) are
// not implemented: a 400 rather than an unconditional write.
absl::Status RefuseUpdateFilter(const Json& body) {
  if (body.contains("update_filter") && !body["update_filter"].is_null()) {
    return InvalidArgumentError("update_filter is not supported");
  }
  return absl::OkStatus();
}

absl::StatusOr<Json> PayloadOf(const Json& p, const std::string& where) {
  if (!p.contains("payload") || p["payload"].is_null()) return Json::object();
  if (!p["payload"].is_object()) {
    return InvalidArgumentError(absl::StrCat(where, ".payload: expected an object"));
  }
  return p["payload"];
}

// {"points": [{"id", "vector", "payload"?}, ...]}; with_payload false for
// update_vectors, whose points carry no payload.
absl::StatusOr<std::vector<PointData>> ParsePointList(const Json& list, const CollectionConfig& c,
                                                      bool with_payload) {
  if (!list.is_array()) return InvalidArgumentError("points: expected an array");
  std::vector<PointData> points;
  points.reserve(list.size());
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string where = absl::StrCat("points[", i, "]");
    const Json& p = list[i];
    if (!p.is_object()) return InvalidArgumentError(absl::StrCat(where, ": expected an object"));
    if (!p.contains("id")) return InvalidArgumentError(absl::StrCat(where, ".id: missing"));
    if (!p.contains("vector")) return InvalidArgumentError(absl::StrCat(where, ".vector: missing"));
    PointData d;
    CAIRN_ASSIGN_OR_RETURN(d.id, ParsePointId(p["id"], where + ".id"));
    CAIRN_ASSIGN_OR_RETURN(PointVectors v, ParsePointVectors(p["vector"], c, where + ".vector"));
    d.vector = std::move(v.dense);
    d.sparse = std::move(v.sparse);
    if (with_payload) {
      CAIRN_ASSIGN_OR_RETURN(d.payload, PayloadOf(p, where));
    } else if (p.contains("payload")) {
      return InvalidArgumentError(absl::StrCat(where, ".payload: not taken here"));
    }
    points.push_back(std::move(d));
  }
  return points;
}

absl::StatusOr<std::vector<PointData>> ParseBatch(const Json& b, const CollectionConfig& c) {
  if (!b.is_object() || !b.contains("ids") || !b.contains("vectors")) {
    return InvalidArgumentError("batch: expected {\"ids\": [...], \"vectors\": [...]}");
  }
  CAIRN_ASSIGN_OR_RETURN(std::vector<ExternalId> ids, ParseIdList(b["ids"], "batch.ids"));
  CAIRN_ASSIGN_OR_RETURN(std::vector<PointVectors> vectors,
                         ParseBatchVectors(b["vectors"], ids.size(), c));
  const Json* payloads =
      b.contains("payloads") && !b["payloads"].is_null() ? &b["payloads"] : nullptr;
  if (payloads != nullptr && (!payloads->is_array() || payloads->size() != ids.size())) {
    return InvalidArgumentError("batch.payloads: expected one payload (or null) per id");
  }
  std::vector<PointData> points;
  points.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    PointData d;
    d.id = ids[i];
    d.vector = std::move(vectors[i].dense);
    d.sparse = std::move(vectors[i].sparse);
    if (payloads != nullptr && !(*payloads)[i].is_null()) {
      if (!(*payloads)[i].is_object()) {
        return InvalidArgumentError(absl::StrCat("batch.payloads[", i, "]: expected an object"));
      }
      d.payload = (*payloads)[i];
    }
    points.push_back(std::move(d));
  }
  return points;
}

}  // namespace

absl::StatusOr<std::vector<PointData>> ParseUpsert(const Json& body, const CollectionConfig& c) {
  CAIRN_RETURN_IF_ERROR(RefuseUpdateFilter(body));
  if (body.contains("points")) return ParsePointList(body["points"], c, /*with_payload=*/true);
  if (body.contains("batch")) return ParseBatch(body["batch"], c);
  return InvalidArgumentError("expected \"points\": [...] or \"batch\": {...}");
}

absl::StatusOr<Json> UpsertPoints(const CollectionCall& call) {
  CAIRN_ASSIGN_OR_RETURN(std::vector<PointData> pts,
                         ParseUpsert(call.body, call.collection.config()));
  CAIRN_RETURN_IF_ERROR(call.collection.Upsert(std::move(pts)));
  return UpdateResult();
}

absl::StatusOr<Json> UpdateVectors(const CollectionCall& call) {
  CAIRN_RETURN_IF_ERROR(RefuseUpdateFilter(call.body));
  if (!call.body.contains("points")) return InvalidArgumentError("points: missing");
  CAIRN_ASSIGN_OR_RETURN(
      std::vector<PointData> pts,
      ParsePointList(call.body["points"], call.collection.config(), /*with_payload=*/false));
  CAIRN_RETURN_IF_ERROR(call.collection.UpdateVectors(std::move(pts)));
  return UpdateResult();
}

absl::StatusOr<Json> DeleteVectors(const CollectionCall& call) {
  const Json& body = call.body;
  if (!body.contains("vector") || !body["vector"].is_array() || body["vector"].empty()) {
    return InvalidArgumentError("vector: expected a non-empty list of vector names");
  }
  const CollectionConfig& config = call.collection.config();
  bool dense = false;
  std::vector<std::string> sparse;
  for (size_t i = 0; i < body["vector"].size(); ++i) {
    const Json& name = body["vector"][i];
    const std::string where = absl::StrCat("vector[", i, "]");
    if (!name.is_string()) return InvalidArgumentError(absl::StrCat(where, ": expected a name"));
    if (IsSparseName(config, name.get<std::string>())) {
      sparse.push_back(name.get<std::string>());
      continue;
    }
    CAIRN_RETURN_IF_ERROR(CheckVectorName(config, name.get<std::string>(), where));
    dense = true;
  }
  CAIRN_ASSIGN_OR_RETURN(std::vector<ExternalId> ids,
                         SelectedPoints(call.collection, body, call.deadline));
  CAIRN_RETURN_IF_ERROR(call.collection.DeleteVectors(ids, dense, sparse));
  return UpdateResult();
}

}  // namespace cairn
