#include "server/vector_json.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/api_json.h"

namespace cairn {

namespace {

using absl::InvalidArgumentError;

std::string Quoted(const std::string& name) { return Json(name).dump(); }

std::string Describe(const CollectionConfig& c) {
  std::string out =
      c.vector_name.has_value()
          ? absl::StrCat("its one dense vector is named ", Quoted(*c.vector_name))
          : std::string("its one dense vector is unnamed: use a plain list, or the name \"\"");
  if (!c.sparse_vectors.empty()) {
    absl::StrAppend(&out, "; its sparse vectors: ");
    for (size_t i = 0; i < c.sparse_vectors.size(); ++i) {
      absl::StrAppend(&out, i ? ", " : "", Quoted(c.sparse_vectors[i].name));
    }
  }
  return out;
}

// Why `j` (a named vector's value) is not a dense vector Cairn can take, or
// OK if it is a list of numbers.
absl::Status CheckDenseKind(const Json& j, const std::string& where) {
  if (j.is_array()) {
    if (!j.empty() && j[0].is_array()) {
      return InvalidArgumentError(
          absl::StrCat(where, ": multivectors (a list of lists) are not supported"));
    }
    return absl::OkStatus();
  }
  if (j.is_object() && (j.contains("indices") || j.contains("values"))) {
    return InvalidArgumentError(
        absl::StrCat(where, ": a sparse vector under a dense vector's name"));
  }
  if (j.is_object() && j.contains("model")) {
    return InvalidArgumentError(absl::StrCat(
        where, ": inference objects (Document, Image, Object) are not supported; send the vector"));
  }
  return InvalidArgumentError(
      absl::StrCat(where, ": expected a list of numbers, got ", j.type_name()));
}

absl::StatusOr<std::vector<float>> DenseOfSize(const Json& j, const CollectionConfig& c,
                                               const std::string& where) {
  CAIRN_RETURN_IF_ERROR(CheckDenseKind(j, where));
  CAIRN_ASSIGN_OR_RETURN(std::vector<float> v, ParseVector(j, where));
  if (v.size() != c.size) {
    return InvalidArgumentError(
        absl::StrCat(where, ": wrong vector dimension: expected ", c.size, ", got ", v.size()));
  }
  return v;
}

// `where` with a name appended, as a JSON path: where["name"].
std::string Member(const std::string& where, const std::string& name) {
  return absl::StrCat(where, "[", Quoted(name), "]");
}

}  // namespace

absl::Status CheckVectorName(const CollectionConfig& c, const std::string& name,
                             const std::string& where) {
  if (name == VectorNameOf(c)) return absl::OkStatus();
  return InvalidArgumentError(
      absl::StrCat(where, ": Not existing vector name error: ", name, " (", Describe(c), ")"));
}

namespace {

// One named entry of a point's vectors: a sparse vector under a sparse
// name, else the dense vector under its name.
absl::Status ParseNamedEntry(const std::string& name, const Json& value, const CollectionConfig& c,
                             const std::string& at, PointVectors* out) {
  if (IsSparseName(c, name)) {
    if (!LooksSparse(value)) {
      return InvalidArgumentError(absl::StrCat(
          at, ": ", Quoted(name), " is a sparse vector: expected {\"indices\", \"values\"}"));
    }
    CAIRN_ASSIGN_OR_RETURN(out->sparse[name], ParseSparseVector(value, at));
    return absl::OkStatus();
  }
  CAIRN_RETURN_IF_ERROR(CheckVectorName(c, name, at));
  if (!value.is_array()) CAIRN_RETURN_IF_ERROR(CheckDenseKind(value, at));
  CAIRN_ASSIGN_OR_RETURN(out->dense, DenseOfSize(value, c, at));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PointVectors> ParsePointVectors(const Json& j, const CollectionConfig& c,
                                               const std::string& where) {
  PointVectors out;
  if (j.is_array()) {
    CAIRN_RETURN_IF_ERROR(CheckVectorName(c, "", where));
    CAIRN_ASSIGN_OR_RETURN(out.dense, DenseOfSize(j, c, where));
    return out;
  }
  if (!j.is_object()) {
    return InvalidArgumentError(absl::StrCat(
        where, ": expected a list of numbers or a map of named vectors, got ", j.type_name()));
  }
  if (LooksSparse(j)) {
    return InvalidArgumentError(absl::StrCat(
        where, ": a sparse vector needs its name: {\"<sparse name>\": {\"indices\", \"values\"}}"));
  }
  // {} leaves the point without a vector.
  for (auto it = j.begin(); it != j.end(); ++it) {
    CAIRN_RETURN_IF_ERROR(ParseNamedEntry(it.key(), it.value(), c, Member(where, it.key()), &out));
  }
  return out;
}

absl::StatusOr<std::vector<PointVectors>> ParseBatchVectors(const Json& j, size_t n,
                                                            const CollectionConfig& c) {
  std::vector<PointVectors> out(n);
  const std::string where = "batch.vectors";
  if (!j.is_object()) {
    CAIRN_RETURN_IF_ERROR(CheckVectorName(c, "", where));
    if (!j.is_array() || j.size() != n) {
      return InvalidArgumentError(absl::StrCat(where, ": expected one vector per id"));
    }
    for (size_t i = 0; i < n; ++i) {
      CAIRN_ASSIGN_OR_RETURN(out[i].dense, DenseOfSize(j[i], c, absl::StrCat(where, "[", i, "]")));
    }
    return out;
  }
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string at = Member(where, it.key());
    if (!it.value().is_array() || it.value().size() != n) {
      return InvalidArgumentError(absl::StrCat(at, ": expected one vector per id"));
    }
    for (size_t i = 0; i < n; ++i) {
      CAIRN_RETURN_IF_ERROR(ParseNamedEntry(it.key(), it.value()[i], c,
                                            absl::StrCat(at, "[", i, "]"), &out[i]));
    }
  }
  return out;
}

bool IsNamedSparseSearch(const Json& body) {
  return body.contains("vector") && body["vector"].is_object() &&
         body["vector"].contains("vector") && LooksSparse(body["vector"]["vector"]);
}

absl::Status ParseNamedSparse(const Json& body, const CollectionConfig& c, std::string* name,
                              SparseVector* v) {
  const Json& named = body["vector"];
  if (!named.contains("name") || !named["name"].is_string()) {
    return InvalidArgumentError("vector.name: expected the name of a sparse vector");
  }
  *name = named["name"].get<std::string>();
  if (!IsSparseName(c, *name)) {
    return InvalidArgumentError(absl::StrCat("vector.name: Not existing vector name error: ",
                                             *name, " (", Describe(c), ")"));
  }
  CAIRN_ASSIGN_OR_RETURN(*v, ParseSparseVector(named["vector"], "vector.vector"));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<float>> ParseSearchVector(const Json& body, const CollectionConfig& c) {
  if (!body.contains("vector")) return InvalidArgumentError("vector: missing");
  const Json& v = body["vector"];
  if (v.is_array()) {
    CAIRN_RETURN_IF_ERROR(CheckVectorName(c, "", "vector"));
    CAIRN_RETURN_IF_ERROR(CheckDenseKind(v, "vector"));
    return ParseVector(v, "vector");
  }
  if (!v.is_object() || !v.contains("vector")) {
    return InvalidArgumentError(
        "vector: expected a list of numbers or {\"name\": ..., \"vector\": [...]}");
  }
  if (!v.contains("name") || !v["name"].is_string()) {
    return InvalidArgumentError("vector.name: expected a string");
  }
  CAIRN_RETURN_IF_ERROR(CheckDenseKind(v["vector"], "vector.vector"));
  CAIRN_RETURN_IF_ERROR(CheckVectorName(c, v["name"].get<std::string>(), "vector.name"));
  return ParseVector(v["vector"], "vector.vector");
}

absl::Status CheckUsing(const Json& body, const CollectionConfig& c) {
  if (!body.contains("using") || body["using"].is_null()) {
    return CheckVectorName(c, "", "using (absent: the default vector \"\")");
  }
  if (!body["using"].is_string()) return InvalidArgumentError("using: expected a vector name");
  return CheckVectorName(c, body["using"].get<std::string>(), "using");
}

absl::StatusOr<VectorSelector> VectorSelector::Parse(const Json* j, const CollectionConfig& c,
                                                     bool fallback) {
  VectorSelector s;
  s.enabled = fallback;
  if (j == nullptr || j->is_null()) return s;
  if (j->is_boolean()) {
    s.enabled = j->get<bool>();
    return s;
  }
  if (!j->is_array()) {
    return InvalidArgumentError("with_vector: expected a boolean or a list of vector names");
  }
  s.selected = false;
  s.all_sparse = false;
  for (size_t i = 0; i < j->size(); ++i) {
    const std::string where = absl::StrCat("with_vector[", i, "]");
    if (!(*j)[i].is_string()) return InvalidArgumentError(absl::StrCat(where, ": expected a name"));
    const std::string name = (*j)[i].get<std::string>();
    if (IsSparseName(c, name)) {
      s.sparse.push_back(name);
      continue;
    }
    CAIRN_RETURN_IF_ERROR(CheckVectorName(c, name, where));
    s.selected = true;
  }
  s.enabled = true;
  return s;
}

Json VectorSelector::Apply(const std::vector<float>& v, const CollectionConfig& c,
                           const SparseMap& sparse_vectors) const {
  if (!enabled) return Json(nullptr);
  Json out = Json::object();
  const std::string name = VectorNameOf(c);
  if (selected && !v.empty()) out[name] = v;
  for (const auto& [sparse_name, sv] : sparse_vectors) {
    if (all_sparse ||
        std::find(sparse.begin(), sparse.end(), sparse_name) != sparse.end()) {
      out[sparse_name] = SparseVectorJson(sv);
    }
  }
  // Qdrant answers a lone default vector as a plain list.
  if (out.size() == 1 && out.contains("") && name.empty()) return out[""];
  return out;
}

}  // namespace cairn
