#include "client/cpp/client_types.h"

#include <charconv>
#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace cairn::client {

namespace {

absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

absl::Status BadAnswer(std::string_view what, const Json& j) {
  return absl::InternalError(absl::StrCat("unexpected answer from the server: ", AV(what), " in ",
                                          Dump(j).substr(0, 200)));
}

// A vector in an answer: a list, {"name": [...]} (one name), or {} (none).
absl::StatusOr<std::optional<std::vector<float>>> VectorFromJson(const Json& j) {
  if (j.is_null()) return std::optional<std::vector<float>>();
  const Json* list = &j;
  if (j.is_object()) {
    if (j.empty()) return std::optional<std::vector<float>>();
    if (j.size() != 1) return BadAnswer("a vector map with several names", j);
    list = &j.begin().value();
  }
  if (!list->is_array()) return BadAnswer("vector", j);
  std::vector<float> v;
  v.reserve(list->size());
  for (const Json& x : *list) {
    if (!x.is_number()) return BadAnswer("vector element", j);
    v.push_back(x.get<float>());
  }
  return std::optional<std::vector<float>>(std::move(v));
}

void AppendFloat(float f, std::string* out) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof(buf), f);
  out->append(buf, r.ptr);
}

}  // namespace

Json PointIdToJson(const PointId& id) {
  if (const uint64_t* n = std::get_if<uint64_t>(&id)) return Json(*n);
  return Json(std::get<std::string>(id));
}

absl::StatusOr<PointId> PointIdFromJson(const Json& j) {
  if (j.is_number_unsigned()) return PointId(j.get<uint64_t>());
  if (j.is_string()) return PointId(j.get<std::string>());
  return BadAnswer("point id", j);
}

std::string PointIdToString(const PointId& id) {
  if (const uint64_t* n = std::get_if<uint64_t>(&id)) return std::to_string(*n);
  return std::get<std::string>(id);
}

absl::StatusOr<PointId> ParsePointIdText(std::string_view text) {
  if (text.empty()) return absl::InvalidArgumentError("empty point id");
  if (text.size() > 256) return absl::InvalidArgumentError("a point id has at most 256 bytes");
  const bool digits = text.size() <= 20 && text.find_first_not_of("0123456789") == text.npos;
  uint64_t n = 0;
  if (digits && absl::SimpleAtoi(AV(text), &n)) return PointId(n);
  return PointId(std::string(text));
}

const char* DistanceName(Distance d) {
  switch (d) {
    case Distance::kCosine:
      return "Cosine";
    case Distance::kEuclid:
      return "Euclid";
    case Distance::kDot:
      return "Dot";
    case Distance::kManhattan:
      return "Manhattan";
  }
  return "?";
}

absl::StatusOr<Distance> ParseDistance(std::string_view name) {
  for (Distance d : {Distance::kCosine, Distance::kEuclid, Distance::kDot, Distance::kManhattan}) {
    if (name == DistanceName(d)) return d;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("distance \"", AV(name), "\": expected Cosine, Euclid, Dot or Manhattan"));
}

absl::Status CollectionConfig::Validate() const {
  if (dim == 0 || dim > 65536) return absl::InvalidArgumentError("dim must be in 1..65536");
  if (target_recall.has_value() && !(*target_recall >= 0 && *target_recall <= 1)) {
    return absl::InvalidArgumentError("target_recall must be in [0, 1]");
  }
  if (max_postings.has_value() && (*max_postings == 0 || *max_postings > 4096)) {
    return absl::InvalidArgumentError("max_postings must be in 1..4096");
  }
  return absl::OkStatus();
}

Json CollectionConfig::ToJson() const {
  Json params = {{"size", dim}, {"distance", DistanceName(distance)}};
  Json body = {{"vectors", named ? Json{{vector_name, params}} : params}};
  Json cairn = Json::object();
  if (target_recall.has_value()) cairn["target_recall"] = *target_recall;
  if (max_postings.has_value()) cairn["max_postings"] = *max_postings;
  if (sync_writes.has_value()) cairn["sync_writes"] = *sync_writes;
  if (!cairn.empty()) body["cairn"] = cairn;
  return body;
}

absl::StatusOr<CollectionInfo> CollectionInfo::FromJson(const Json& j) {
  CollectionInfo info;
  info.raw = j;
  if (!j.is_object()) return BadAnswer("collection info", j);
  info.points_count = j.value("points_count", uint64_t{0});
  info.indexed_vectors_count = j.value("indexed_vectors_count", uint64_t{0});
  const Json vectors =
      j.value("config", Json::object()).value("params", Json::object()).value("vectors", Json());
  const Json* params = &vectors;
  // Named: {"name": {"size", "distance"}}; unnamed: {"size", "distance"}.
  if (vectors.is_object() && vectors.size() == 1 && vectors.begin().value().is_object()) {
    info.vector_name = vectors.begin().key();
    params = &vectors.begin().value();
  }
  if (!params->is_object() || !params->contains("size") || !params->contains("distance") ||
      !(*params)["size"].is_number_unsigned() || !(*params)["distance"].is_string()) {
    return BadAnswer("config.params.vectors", j);
  }
  info.dim = (*params)["size"].get<uint32_t>();
  auto distance = ParseDistance((*params)["distance"].get<std::string>());
  if (!distance.ok()) return BadAnswer("distance", j);
  info.distance = *distance;
  return info;
}

absl::Status QueryRequest::Validate() const {
  if (vector.has_value() == id.has_value()) {
    return absl::InvalidArgumentError("a query needs exactly one of a vector and a point id");
  }
  if (limit == 0) return absl::InvalidArgumentError("limit must be positive");
  if (target_recall.has_value() && !(*target_recall >= 0 && *target_recall <= 1)) {
    return absl::InvalidArgumentError("target_recall must be in [0, 1]");
  }
  return absl::OkStatus();
}

Json QueryRequest::ToJson() const {
  Json body = {{"limit", limit}, {"with_payload", with_payload}, {"with_vector", with_vector}};
  if (vector.has_value()) body["query"] = *vector;
  if (id.has_value()) body["query"] = PointIdToJson(*id);
  if (!vector_name.empty()) body["using"] = vector_name;
  if (!filter.is_null()) body["filter"] = filter;
  if (offset > 0) body["offset"] = offset;
  if (score_threshold.has_value()) body["score_threshold"] = *score_threshold;
  Json params = Json::object();
  if (target_recall.has_value()) params["target_recall"] = *target_recall;
  if (exact) params["exact"] = true;
  if (!params.empty()) body["params"] = params;
  return body;
}

Json ScrollRequest::ToJson() const {
  Json body = {{"limit", limit}, {"with_payload", with_payload}, {"with_vector", with_vector}};
  if (!filter.is_null()) body["filter"] = filter;
  if (offset.has_value()) body["offset"] = PointIdToJson(*offset);
  return body;
}

absl::StatusOr<Record> RecordFromJson(const Json& j) {
  if (!j.is_object() || !j.contains("id")) return BadAnswer("record", j);
  Record r;
  auto id = PointIdFromJson(j["id"]);
  if (!id.ok()) return id.status();
  r.id = std::move(*id);
  r.payload = j.value("payload", Json());
  auto vector = VectorFromJson(j.value("vector", Json()));
  if (!vector.ok()) return vector.status();
  r.vector = std::move(*vector);
  return r;
}

absl::StatusOr<ScoredPoint> ScoredPointFromJson(const Json& j) {
  if (!j.is_object() || !j.contains("id") || !j.contains("score") || !j["score"].is_number()) {
    return BadAnswer("scored point", j);
  }
  ScoredPoint p;
  auto id = PointIdFromJson(j["id"]);
  if (!id.ok()) return id.status();
  p.id = std::move(*id);
  p.score = j["score"].get<double>();
  p.payload = j.value("payload", Json());
  auto vector = VectorFromJson(j.value("vector", Json()));
  if (!vector.ok()) return vector.status();
  p.vector = std::move(*vector);
  return p;
}

absl::Status AppendUpsertBody(const Point* points, size_t n,
                              const std::optional<std::string>& vector_name, std::string* out) {
  const std::string name_prefix =
      vector_name.has_value() ? absl::StrCat("{", Dump(Json(*vector_name)), ":") : "";
  out->append("{\"points\":[");
  for (size_t i = 0; i < n; ++i) {
    const Point& p = points[i];
    if (i > 0) out->push_back(',');
    out->append("{\"id\":");
    out->append(Dump(PointIdToJson(p.id)));
    out->append(",\"vector\":");
    if (!p.has_vector) {
      out->append("{}");
    } else {
      out->append(name_prefix);
      out->push_back('[');
      for (size_t d = 0; d < p.vector.size(); ++d) {
        if (!std::isfinite(p.vector[d])) {
          return absl::InvalidArgumentError(absl::StrCat(
              "point ", PointIdToString(p.id), ": element ", d, " is not a finite number"));
        }
        if (d > 0) out->push_back(',');
        AppendFloat(p.vector[d], out);
      }
      out->push_back(']');
      if (vector_name.has_value()) out->push_back('}');
    }
    if (!p.payload.is_null()) {
      out->append(",\"payload\":");
      out->append(Dump(p.payload));
    }
    out->push_back('}');
  }
  out->append("]}");
  return absl::OkStatus();
}

}  // namespace cairn::client
