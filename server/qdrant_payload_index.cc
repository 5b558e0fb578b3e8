#include "server/qdrant_payload_index.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/filter_tree.h"

namespace cairn {

namespace {

using absl::InvalidArgumentError;

Json UpdateResult() { return Json{{"operation_id", 0}, {"status", "completed"}}; }

}  // namespace

absl::StatusOr<Json> CreateFieldIndex(const CollectionCall& call) {
  const Json& body = call.body;
  if (!body.contains("field_name") || !body["field_name"].is_string()) {
    return InvalidArgumentError("field_name: expected the payload key to index");
  }
  const std::string field = body["field_name"].get<std::string>();
  if (auto path = filter_internal::ParseFieldKey(field); !path.ok()) return path.status();
  if (!body.contains("field_schema") || body["field_schema"].is_null()) {
    return InvalidArgumentError(
        "field_schema: required (Cairn does not infer the type from stored payloads)");
  }
  CAIRN_ASSIGN_OR_RETURN(PayloadFieldSchema schema, ParseFieldSchema(body["field_schema"]));
  absl::Status s = call.collection.CreateFieldIndex(field, schema);
  if (absl::IsAlreadyExists(s)) return InvalidArgumentError(s.message());  // Qdrant: 400
  CAIRN_RETURN_IF_ERROR(s);
  return UpdateResult();
}

absl::StatusOr<Json> DeleteFieldIndex(const CollectionCall& call) {
  CAIRN_RETURN_IF_ERROR(call.collection.DeleteFieldIndex(std::string(call.params.Get("field"))));
  return UpdateResult();
}

absl::StatusOr<OrderBy> ParseOrderBy(const Json& j, const std::string& where) {
  OrderBy o;
  if (j.is_string()) {
    o.key = j.get<std::string>();
    return o;
  }
  if (!j.is_object() || !j.contains("key") || !j["key"].is_string()) {
    return InvalidArgumentError(absl::StrCat(where, ": expected a key or {\"key\", ...}"));
  }
  for (const auto& [name, value] : j.items()) {
    if (name != "key" && name != "direction" && name != "start_from") {
      return InvalidArgumentError(absl::StrCat(where, ".", name, " is not supported"));
    }
  }
  o.key = j["key"].get<std::string>();
  if (j.contains("direction") && !j["direction"].is_null()) {
    const Json& d = j["direction"];
    if (d != "asc" && d != "desc") {
      return InvalidArgumentError(absl::StrCat(where, ".direction: expected \"asc\" or \"desc\""));
    }
    o.descending = d == "desc";
  }
  if (j.contains("start_from") && !j["start_from"].is_null()) {
    const Json& f = j["start_from"];
    double x = 0;
    if (filter_internal::AsDouble(f, &x) && std::isfinite(x)) {
      o.start_from = x;
    } else if (f.is_string()) {
      auto t = filter_internal::ParseDateTimeMicros(f.get<std::string>());
      if (!t.has_value()) {
        return InvalidArgumentError(absl::StrCat(where, ".start_from: not a datetime"));
      }
      o.start_from = static_cast<double>(*t);
    } else {
      return InvalidArgumentError(
          absl::StrCat(where, ".start_from: expected a number or a datetime string"));
    }
  }
  return o;
}

absl::StatusOr<Json> ScrollByOrder(const Collection& c, const Json& body, const OrderBy& order,
                                   bool query_form) {
  uint32_t skip = 0;  // the query API's offset: a number of results
  if (body.contains("offset") && !body["offset"].is_null()) {
    if (!query_form) {
      return InvalidArgumentError(
          "offset: cannot be used with order_by (start the next page with order_by.start_from)");
    }
    CAIRN_ASSIGN_OR_RETURN(auto o, OptUint(body, "offset", "request"));
    skip = o.value_or(0);
  }
  Filter filter;
  if (body.contains("filter") && !body["filter"].is_null()) {
    CAIRN_ASSIGN_OR_RETURN(filter, Filter::Parse(body["filter"]));
  }
  CAIRN_ASSIGN_OR_RETURN(auto limit, OptUint(body, "limit", "request"));
  const uint32_t n = limit.value_or(10);
  if (n > 100000) return InvalidArgumentError("limit: at most 100000");
  const Json* wp = body.contains("with_payload") ? &body["with_payload"] : nullptr;
  const Json* wv = body.contains("with_vector") ? &body["with_vector"] : nullptr;
  CAIRN_ASSIGN_OR_RETURN(PayloadSelector payload, PayloadSelector::Parse(wp, !query_form));
  CAIRN_ASSIGN_OR_RETURN(VectorSelector vectors, VectorSelector::Parse(wv, c.config(), false));
  std::vector<PointData> pts;
  std::vector<double> values;
  CAIRN_RETURN_IF_ERROR(c.ScrollOrdered(order, n + skip, filter, &pts, &values));
  const auto field = c.payload_index().schema().at(order.key);
  Json list = Json::array();
  for (size_t i = skip; i < pts.size(); ++i) {
    Json rec = RecordJson(pts[i], payload, vectors, c.config());
    // Qdrant reports an integer field's value as an integer, others as floats
    // (datetimes as Unix microseconds are integers too).
    const bool integral =
        field.type == PayloadFieldType::kDatetime ||
        (field.type == PayloadFieldType::kInteger && std::trunc(values[i]) == values[i]);
    rec["order_value"] = integral ? Json(static_cast<int64_t>(values[i])) : Json(values[i]);
    if (query_form) {
      rec["version"] = 0;
      rec["score"] = 0.0;
    }
    list.push_back(std::move(rec));
  }
  if (query_form) return Json{{"points", list}};
  return Json{{"points", list}, {"next_page_offset", nullptr}};
}

}  // namespace cairn
