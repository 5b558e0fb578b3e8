#include "server/api_json.h"

#include <cmath>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/utf8.h"
#include "index/spann/spann_limits.h"
#include "server/point_id.h"

namespace cairn {

absl::StatusOr<Json> ParseBody(const std::string& body) {
  if (body.empty()) return Json::object();
  // The JSON parser lets raw invalid bytes through inside strings; they
  // would be stored and only fail (500) when an answer is serialised.
  if (std::optional<size_t> bad = FirstInvalidUtf8(body)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Format error in JSON body: not valid UTF-8 (byte 0x",
        absl::Hex(static_cast<uint8_t>(body[*bad]), absl::kZeroPad2), " at offset ", *bad, ")"));
  }
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    // Parse again with exceptions only to get the position for the message.
    try {
      Json ignored = Json::parse(body);
      (void)ignored;
    } catch (const Json::exception& e) {  // parse_error, or out_of_range for 1e999
      return absl::InvalidArgumentError(absl::StrCat("Format error in JSON body: ", e.what()));
    }
    return absl::InvalidArgumentError("Format error in JSON body");
  }
  if (!j.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Format error in JSON body: expected an object, got ", j.type_name()));
  }
  return j;
}

absl::StatusOr<std::vector<float>> ParseVector(const Json& j, const std::string& where) {
  if (!j.is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": expected an array of numbers, got ", j.type_name()));
  }
  std::vector<float> v;
  v.reserve(j.size());
  for (size_t i = 0; i < j.size(); ++i) {
    if (!j[i].is_number()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "[", i, "]: expected a number, got ", j[i].type_name()));
    }
    const double x = j[i].get<double>();
    if (!std::isfinite(x) || std::fabs(x) > 3.4e38) {
      return absl::InvalidArgumentError(absl::StrCat(where, "[", i, "]: not a finite float"));
    }
    v.push_back(static_cast<float>(x));
  }
  return v;
}

absl::StatusOr<std::optional<uint32_t>> OptUint(const Json& obj, const char* key,
                                                const std::string& where) {
  if (!obj.contains(key) || obj[key].is_null()) return std::optional<uint32_t>();
  const Json& v = obj[key];
  if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > 0xFFFFFFFFll) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ".", key, ": expected a non-negative integer"));
  }
  return std::optional<uint32_t>(static_cast<uint32_t>(v.get<int64_t>()));
}

absl::StatusOr<std::optional<double>> OptNumber(const Json& obj, const char* key,
                                                const std::string& where) {
  if (!obj.contains(key) || obj[key].is_null()) return std::optional<double>();
  if (!obj[key].is_number()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ".", key, ": expected a number"));
  }
  return std::optional<double>(obj[key].get<double>());
}

absl::StatusOr<std::optional<bool>> OptBool(const Json& obj, const char* key,
                                            const std::string& where) {
  if (!obj.contains(key) || obj[key].is_null()) return std::optional<bool>();
  if (!obj[key].is_boolean()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ".", key, ": expected true or false"));
  }
  return std::optional<bool>(obj[key].get<bool>());
}

absl::StatusOr<std::vector<ExternalId>> ParseIdList(const Json& j, const std::string& where) {
  if (!j.is_array()) return absl::InvalidArgumentError(absl::StrCat(where, ": expected an array"));
  std::vector<ExternalId> ids;
  for (size_t i = 0; i < j.size(); ++i) {
    CAIRN_ASSIGN_OR_RETURN(ExternalId id, ParsePointId(j[i], absl::StrCat(where, "[", i, "]")));
    ids.push_back(std::move(id));
  }
  return ids;
}

namespace {

absl::StatusOr<std::vector<std::string>> StringList(const Json& j, const std::string& where) {
  if (!j.is_array()) return absl::InvalidArgumentError(absl::StrCat(where, ": expected an array"));
  std::vector<std::string> out;
  for (const Json& s : j) {
    if (!s.is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": expected strings"));
    }
    out.push_back(s.get<std::string>());
  }
  return out;
}

const Json* AtPath(const Json& root, const std::string& path) {
  const Json* cur = &root;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('.', start);
    if (end == std::string::npos) end = path.size();
    const std::string part = path.substr(start, end - start);
    if (!cur->is_object() || !cur->contains(part)) return nullptr;
    cur = &(*cur)[part];
    start = end + 1;
  }
  return cur;
}

void SetAtPath(Json* root, const std::string& path, const Json& value) {
  Json* cur = root;
  size_t start = 0;
  for (;;) {
    size_t end = path.find('.', start);
    const std::string part = path.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (end == std::string::npos) {
      (*cur)[part] = value;
      return;
    }
    if (!(*cur)[part].is_object()) (*cur)[part] = Json::object();
    cur = &(*cur)[part];
    start = end + 1;
  }
}

void EraseAtPath(Json* root, const std::string& path) {
  const size_t dot = path.rfind('.');
  if (dot == std::string::npos) {
    root->erase(path);
    return;
  }
  Json* parent = const_cast<Json*>(AtPath(*root, path.substr(0, dot)));
  if (parent != nullptr && parent->is_object()) parent->erase(path.substr(dot + 1));
}

}  // namespace

absl::StatusOr<PayloadSelector> PayloadSelector::Parse(const Json* j, bool fallback) {
  PayloadSelector s;
  s.enabled = fallback;
  if (j == nullptr || j->is_null()) return s;
  if (j->is_boolean()) {
    s.enabled = j->get<bool>();
    return s;
  }
  s.enabled = true;
  if (j->is_array()) {
    CAIRN_ASSIGN_OR_RETURN(s.include, StringList(*j, "with_payload"));
    return s;
  }
  if (j->is_object() && j->contains("include")) {
    CAIRN_ASSIGN_OR_RETURN(s.include, StringList((*j)["include"], "with_payload.include"));
    return s;
  }
  if (j->is_object() && j->contains("exclude")) {
    CAIRN_ASSIGN_OR_RETURN(s.exclude, StringList((*j)["exclude"], "with_payload.exclude"));
    return s;
  }
  return absl::InvalidArgumentError(
      "with_payload: expected a boolean, a list of keys, {\"include\": [...]} or {\"exclude\": [...]}");
}

Json PayloadSelector::Apply(const Json& payload) const {
  if (!include.empty()) {
    Json out = Json::object();
    for (const std::string& key : include) {
      if (const Json* v = AtPath(payload, key); v != nullptr) SetAtPath(&out, key, *v);
    }
    return out;
  }
  if (!exclude.empty()) {
    Json out = payload;
    for (const std::string& key : exclude) EraseAtPath(&out, key);
    return out;
  }
  return payload;
}

Json RecordJson(const PointData& p, const PayloadSelector& payload, const VectorSelector& vectors,
                const CollectionConfig& c) {
  Json j = {{"id", PointIdToJson(p.id)}};
  j["payload"] = payload.enabled ? payload.Apply(p.payload) : Json(nullptr);
  j["vector"] = vectors.Apply(p.vector, c, p.sparse);
  return j;
}

Json ScoredJson(const ScoredPoint& p, const PayloadSelector& payload, const VectorSelector& vectors,
                const CollectionConfig& c) {
  Json j = {{"id", PointIdToJson(p.id)}, {"version", 0}, {"score", p.score}};
  j["payload"] = payload.enabled && p.data ? payload.Apply(p.data->payload) : Json(nullptr);
  j["vector"] = p.data ? vectors.Apply(p.data->vector, c, p.data->sparse) : Json(nullptr);
  return j;
}

namespace {

// One VectorParams object ({"size", "distance", ...}) at `where`.
absl::Status ParseVectorParams(const Json& p, const std::string& where, CollectionConfig* c) {
  if (!p.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": expected {\"size\": N, \"distance\": \"Cosine\"}"));
  }
  for (auto it = p.begin(); it != p.end(); ++it) {
    const std::string& k = it.key();
    if (k != "size" && k != "distance" && k != "hnsw_config" && k != "quantization_config" &&
        k != "on_disk" && k != "datatype" && k != "multivector_config") {
      return absl::InvalidArgumentError(absl::StrCat(where, ".", k, ": unknown field"));
    }
  }
  CAIRN_ASSIGN_OR_RETURN(auto size, OptUint(p, "size", where));
  if (!size.has_value() || *size == 0 || *size > 65536) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ".size: expected an integer in [1, 65536]"));
  }
  c->size = *size;
  if (!p.contains("distance") || !p["distance"].is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ".distance: expected Cosine, Euclid, Dot or Manhattan"));
  }
  auto distance = ParseDistance(p["distance"].get<std::string>());
  if (!distance.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ".distance: ", distance.status().message()));
  }
  c->distance = *distance;
  if (p.contains("datatype") && !p["datatype"].is_null() && p["datatype"] != "float32") {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ".datatype: only float32 is supported, got ", p["datatype"].dump()));
  }
  if (p.contains("multivector_config") && !p["multivector_config"].is_null()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ".multivector_config: multivectors are not supported"));
  }
  return absl::OkStatus();
}

// "sparse_vectors": {"<name>": {"index": {...}?, "modifier": "idf" | "none"?}}.
// The index params are Qdrant's tuning of its own sparse index; Cairn's is
// exact whatever they say (sparse_index.h), so full_scan_threshold and
// on_disk are accepted without effect, and a datatype other than float32
// is refused.
absl::Status ParseSparseVectorsField(const Json& body, CollectionConfig* c) {
  if (!body.contains("sparse_vectors") || body["sparse_vectors"].is_null()) {
    return absl::OkStatus();
  }
  const Json& sv = body["sparse_vectors"];
  if (!sv.is_object()) return absl::InvalidArgumentError("sparse_vectors: expected a map");
  if (sv.size() > 64) return absl::InvalidArgumentError("sparse_vectors: at most 64 names");
  for (auto it = sv.begin(); it != sv.end(); ++it) {
    const std::string where = absl::StrCat("sparse_vectors[", Json(it.key()).dump(), "]");
    const std::string& name = it.key();
    if (name.size() > 255) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": a name is at most 255 bytes"));
    }
    if (name == c->vector_name.value_or("")) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": the name is taken by the dense vector"));
    }
    const Json& p = it.value();
    if (!p.is_object()) return absl::InvalidArgumentError(absl::StrCat(where, ": expected an object"));
    SparseVectorConfig out;
    out.name = name;
    for (auto f = p.begin(); f != p.end(); ++f) {
      const std::string at = absl::StrCat(where, ".", f.key());
      if (f.value().is_null()) continue;
      if (f.key() == "modifier") {
        if (f.value() == "idf") {
          out.modifier = SparseModifier::kIdf;
        } else if (f.value() != "none") {
          return absl::InvalidArgumentError(absl::StrCat(at, ": expected \"idf\" or \"none\""));
        }
      } else if (f.key() == "index") {
        if (!f.value().is_object()) return absl::InvalidArgumentError(at + ": expected an object");
        for (auto k = f.value().begin(); k != f.value().end(); ++k) {
          if (k.value().is_null()) continue;
          if (k.key() == "datatype" && k.value() != "float32") {
            return absl::InvalidArgumentError(
                absl::StrCat(at, ".datatype: only float32 is supported"));
          }
          if (k.key() != "datatype" && k.key() != "full_scan_threshold" && k.key() != "on_disk") {
            return absl::InvalidArgumentError(absl::StrCat(at, ".", k.key(), ": unknown field"));
          }
        }
      } else {
        return absl::InvalidArgumentError(absl::StrCat(at, ": unknown field"));
      }
    }
    c->sparse_vectors.push_back(std::move(out));
  }
  return absl::OkStatus();
}

// "vectors": the unnamed form, or a map holding exactly one named vector.
absl::Status ParseVectorsField(const Json& body, CollectionConfig* c) {
  if (!body.contains("vectors") || body["vectors"].is_null()) {
    return absl::InvalidArgumentError(
        "vectors: missing; expected {\"size\": N, \"distance\": ...} or {\"<name>\": {...}}");
  }
  const Json& v = body["vectors"];
  if (!v.is_object()) {
    return absl::InvalidArgumentError(
        "vectors: expected {\"size\": N, \"distance\": ...} or {\"<name>\": {...}}");
  }
  // Unnamed when "size" or "distance" holds a value rather than a vector's
  // params (a vector could itself be named "size").
  const bool unnamed = (v.contains("size") && !v["size"].is_object()) ||
                       (v.contains("distance") && !v["distance"].is_object());
  if (unnamed) return ParseVectorParams(v, "vectors", c);
  if (v.empty()) {
    return absl::InvalidArgumentError(
        "vectors: an empty map; a Cairn collection has exactly one dense vector");
  }
  if (v.size() > 1) {
    std::string names;
    for (auto it = v.begin(); it != v.end(); ++it) {
      absl::StrAppend(&names, names.empty() ? "" : ", ", Json(it.key()).dump());
    }
    return absl::InvalidArgumentError(
        absl::StrCat("vectors: ", v.size(), " named vectors (", names,
                     "); Cairn supports one dense vector per collection, named or not"));
  }
  const std::string& name = v.begin().key();
  if (name.size() > 255) {
    return absl::InvalidArgumentError("vectors: a vector name is at most 255 bytes");
  }
  CAIRN_RETURN_IF_ERROR(
      ParseVectorParams(v.begin().value(), absl::StrCat("vectors[", Json(name).dump(), "]"), c));
  c->vector_name = name;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CollectionConfig> ParseCollectionConfig(const Json& body) {
  CollectionConfig c;
  CAIRN_RETURN_IF_ERROR(ParseVectorsField(body, &c));
  CAIRN_RETURN_IF_ERROR(ParseSparseVectorsField(body, &c));
  if (body.contains("cairn") && body["cairn"].is_object()) {
    CAIRN_ASSIGN_OR_RETURN(auto mp, OptUint(body["cairn"], "max_postings", "cairn"));
    if (mp.has_value()) {
      if (*mp == 0 || *mp > kMaxPostingsPerQuery) {
        return absl::InvalidArgumentError(
            absl::StrCat("cairn.max_postings: expected 1..", kMaxPostingsPerQuery));
      }
      c.max_postings = *mp;
    }
    CAIRN_ASSIGN_OR_RETURN(auto target, OptNumber(body["cairn"], "target_recall", "cairn"));
    if (target.has_value()) {
      if (!(*target >= 0 && *target <= 1)) {
        return absl::InvalidArgumentError("cairn.target_recall: expected a number in [0, 1]");
      }
      c.target_recall = *target;
    }
    CAIRN_ASSIGN_OR_RETURN(auto sync, OptBool(body["cairn"], "sync_writes", "cairn"));
    if (sync.has_value()) c.sync_writes = *sync;
  }
  return c;
}

Json SparseVectorsConfigJson(const CollectionConfig& c) {
  Json out = Json::object();
  for (const SparseVectorConfig& s : c.sparse_vectors) {
    out[s.name] = Json::object();
    if (s.modifier == SparseModifier::kIdf) out[s.name]["modifier"] = "idf";
  }
  return out;
}

Json VectorsConfigJson(const CollectionConfig& c) {
  Json params = {{"size", c.size}, {"distance", DistanceName(c.distance)}};
  if (!c.vector_name.has_value()) return params;
  return Json{{*c.vector_name, params}};
}

}  // namespace cairn
