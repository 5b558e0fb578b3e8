#include "server/vector_json.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/api_json.h"

namespace cairn {

namespace {

using absl::InvalidArgumentError;

std::string Quoted(const std::string& name) { return Json(name).dump(); }

std::string Describe(const CollectionConfig& c) {
  return c.vector_name.has_value()
             ? absl::StrCat("its one vector is named ", Quoted(*c.vector_name))
             : std::string("its one vector is unnamed: use a plain list, or the name \"\"");
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
    return InvalidArgumentError(absl::StrCat(where, ": sparse vectors are not supported"));
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

absl::StatusOr<std::vector<float>> ParsePointVector(const Json& j, const CollectionConfig& c,
                                                    const std::string& where) {
  if (j.is_array()) {
    CAIRN_RETURN_IF_ERROR(CheckVectorName(c, "", where));
    return DenseOfSize(j, c, where);
  }
  if (!j.is_object()) {
    return InvalidArgumentError(absl::StrCat(
        where, ": expected a list of numbers or a map of named vectors, got ", j.type_name()));
  }
  std::vector<float> out;  // {} leaves the point without a vector
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string at = Member(where, it.key());
    if (!it.value().is_array()) CAIRN_RETURN_IF_ERROR(CheckDenseKind(it.value(), at));
    CAIRN_RETURN_IF_ERROR(CheckVectorName(c, it.key(), at));
    CAIRN_ASSIGN_OR_RETURN(out, DenseOfSize(it.value(), c, at));
  }
  return out;
}

absl::StatusOr<std::vector<std::vector<float>>> ParseBatchVectors(const Json& j, size_t n,
                                                                  const CollectionConfig& c) {
  const Json* list = &j;
  std::string where = "batch.vectors";
  if (j.is_object()) {
    if (j.size() != 1) {
      return InvalidArgumentError(absl::StrCat(
          where, ": expected the one named vector of this collection (", Describe(c), ")"));
    }
    CAIRN_RETURN_IF_ERROR(CheckVectorName(c, j.begin().key(), Member(where, j.begin().key())));
    where = Member(where, j.begin().key());
    list = &j.begin().value();
  } else {
    CAIRN_RETURN_IF_ERROR(CheckVectorName(c, "", where));
  }
  if (!list->is_array() || list->size() != n) {
    return InvalidArgumentError(absl::StrCat(where, ": expected one vector per id"));
  }
  std::vector<std::vector<float>> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    CAIRN_ASSIGN_OR_RETURN(std::vector<float> v,
                           DenseOfSize((*list)[i], c, absl::StrCat(where, "[", i, "]")));
    out.push_back(std::move(v));
  }
  return out;
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
  for (size_t i = 0; i < j->size(); ++i) {
    const std::string where = absl::StrCat("with_vector[", i, "]");
    if (!(*j)[i].is_string()) return InvalidArgumentError(absl::StrCat(where, ": expected a name"));
    CAIRN_RETURN_IF_ERROR(CheckVectorName(c, (*j)[i].get<std::string>(), where));
  }
  s.enabled = true;
  s.selected = !j->empty();
  return s;
}

Json VectorSelector::Apply(const std::vector<float>& v, const CollectionConfig& c) const {
  if (!enabled) return Json(nullptr);
  if (!selected || v.empty()) return Json::object();
  const std::string name = VectorNameOf(c);
  if (name.empty()) return Json(v);
  return Json{{name, v}};
}

}  // namespace cairn
