#include "server/sparse_vector.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"

namespace cairn {

using nlohmann::json;

absl::Status Canonicalize(SparseVector* v, const std::string& where) {
  if (v->indices.size() != v->values.size()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": indices and values differ in length (",
                                                   v->indices.size(), " and ", v->values.size(),
                                                   ")"));
  }
  for (size_t i = 0; i < v->values.size(); ++i) {
    if (!std::isfinite(v->values[i])) {
      return absl::InvalidArgumentError(absl::StrCat(where, ".values[", i, "]: not finite"));
    }
  }
  if (!std::is_sorted(v->indices.begin(), v->indices.end())) {
    std::vector<size_t> order(v->indices.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return v->indices[a] < v->indices[b]; });
    SparseVector sorted;
    sorted.indices.reserve(order.size());
    sorted.values.reserve(order.size());
    for (size_t i : order) {
      sorted.indices.push_back(v->indices[i]);
      sorted.values.push_back(v->values[i]);
    }
    *v = std::move(sorted);
  }
  for (size_t i = 1; i < v->indices.size(); ++i) {
    if (v->indices[i] == v->indices[i - 1]) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".indices: index ", v->indices[i], " appears twice"));
    }
  }
  return absl::OkStatus();
}

bool LooksSparse(const json& j) {
  return j.is_object() && (j.contains("indices") || j.contains("values"));
}

absl::StatusOr<SparseVector> ParseSparseVector(const json& j, const std::string& where) {
  if (!j.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": expected {\"indices\": [...], \"values\": [...]}"));
  }
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() != "indices" && it.key() != "values") {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".", it.key(), ": unknown field of a sparse vector"));
    }
  }
  if (!j.contains("indices") || !j["indices"].is_array()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ".indices: expected a list"));
  }
  if (!j.contains("values") || !j["values"].is_array()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ".values: expected a list"));
  }
  SparseVector v;
  const json& indices = j["indices"];
  const json& values = j["values"];
  v.indices.reserve(indices.size());
  for (size_t i = 0; i < indices.size(); ++i) {
    const json& x = indices[i];
    // JSON parsed off the wire holds non-negative integers as unsigned;
    // one built in C++ may hold them signed.
    const bool whole = x.is_number_unsigned() || (x.is_number_integer() && x.get<int64_t>() >= 0);
    if (!whole || x.get<uint64_t>() > UINT32_MAX) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ".indices[", i, "]: expected an integer in [0, 4294967295], got ", x.dump()));
    }
    v.indices.push_back(static_cast<uint32_t>(x.get<uint64_t>()));
  }
  v.values.reserve(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    const json& x = values[i];
    if (!x.is_number()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".values[", i, "]: expected a number, got ", x.dump()));
    }
    const double d = x.get<double>();
    // A finite double past float's range would become infinite.
    if (!std::isfinite(d) || std::fabs(d) > 3.4028234663852886e38) {
      return absl::InvalidArgumentError(absl::StrCat(where, ".values[", i, "]: not finite"));
    }
    v.values.push_back(static_cast<float>(d));
  }
  if (absl::Status s = Canonicalize(&v, where); !s.ok()) return s;
  return v;
}

json SparseVectorJson(const SparseVector& v) {
  return json{{"indices", v.indices}, {"values", v.values}};
}

float SparseDot(const SparseVector& a, const SparseVector& b) {
  double sum = 0;
  size_t i = 0, j = 0;
  while (i < a.indices.size() && j < b.indices.size()) {
    if (a.indices[i] < b.indices[j]) {
      ++i;
    } else if (a.indices[i] > b.indices[j]) {
      ++j;
    } else {
      sum += double{a.values[i++]} * b.values[j++];
    }
  }
  return static_cast<float>(sum);
}

}  // namespace cairn
