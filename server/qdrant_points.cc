#include "server/qdrant_points.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "index/spann/spann_limits.h"
#include "kernels/distance.h"
#include "server/point_id.h"
#include "server/qdrant_query.h"
#include "server/qdrant_payload_index.h"
#include "server/qdrant_vectors.h"
#include "server/vector_json.h"

namespace cairn {

namespace {

using absl::InvalidArgumentError;

Json UpdateResult() { return Json{{"operation_id", 0}, {"status", "completed"}}; }

// body[key], or nullptr when absent.
const Json* Field(const Json& body, const char* key) {
  return body.contains(key) ? &body[key] : nullptr;
}

absl::StatusOr<Filter> ParseFilterField(const Json& body) {
  if (!body.contains("filter") || body["filter"].is_null()) return Filter();
  return Filter::Parse(body["filter"]);
}

struct SearchSpec {
  SearchRequest request;
  Filter filter;
  PayloadSelector payload;
  VectorSelector vectors;
  std::optional<float> mmr_diversity;
  uint32_t mmr_candidates = 0;
};

absl::Status ParseParams(const Json& body, SearchRequest* req) {
  if (!body.contains("params") || body["params"].is_null()) return absl::OkStatus();
  const Json& p = body["params"];
  if (!p.is_object()) return InvalidArgumentError("params: expected an object");
  CAIRN_ASSIGN_OR_RETURN(auto exact, OptBool(p, "exact", "params"));
  req->exact = exact.value_or(false);
  // Cairn's per-query budget: the mean recall@k to aim at (0: a fixed count).
  CAIRN_ASSIGN_OR_RETURN(auto target, OptNumber(p, "target_recall", "params"));
  if (target.has_value()) {
    if (!(*target >= 0 && *target <= 1)) {
      return InvalidArgumentError("params.target_recall: expected a number in [0, 1]");
    }
    req->target_recall = *target;
  }
  // Qdrant's HNSW beam is the beam of Cairn's head graph (an HNSW too).
  CAIRN_ASSIGN_OR_RETURN(auto ef, OptUint(p, "hnsw_ef", "params"));
  if (ef.has_value()) {
    if (*ef == 0 || *ef > 100000) return InvalidArgumentError("params.hnsw_ef: expected 1..100000");
    req->head_ef = static_cast<uint32_t>(*ef);
  }
  if (p.contains("cairn") && !p["cairn"].is_null()) {
    const Json& c = p["cairn"];
    if (!c.is_object()) return InvalidArgumentError("params.cairn: expected an object");
    CAIRN_ASSIGN_OR_RETURN(auto mp, OptUint(c, "max_postings", "params.cairn"));
    if (mp.has_value()) {
      if (*mp == 0 || *mp > kMaxPostingsPerQuery) {
        return InvalidArgumentError(
            absl::StrCat("params.cairn.max_postings: 1..", kMaxPostingsPerQuery));
      }
      req->max_postings = *mp;
    }
    CAIRN_ASSIGN_OR_RETURN(auto eps, OptNumber(c, "epsilon", "params.cairn"));
    if (eps.has_value()) {
      if (!(*eps >= 0)) return InvalidArgumentError("params.cairn.epsilon: must be >= 0");
      req->epsilon = static_cast<float>(*eps);
    }
  }
  return absl::OkStatus();
}

// Fields Cairn does not implement: a 400 naming them, never a silent
// ignore (null is absent, as in Qdrant).
absl::Status RefuseUnsupported(const Json& body, std::initializer_list<const char*> fields) {
  for (const char* f : fields) {
    if (body.contains(f) && !body[f].is_null()) {
      return InvalidArgumentError(absl::StrCat(f, " is not supported"));
    }
  }
  return absl::OkStatus();
}

// The shared part of search and query requests.
absl::Status ParseCommon(const Collection& c, const Json& body, bool default_payload,
                         SearchSpec* spec) {
  CAIRN_RETURN_IF_ERROR(RefuseUnsupported(body, {"lookup_from"}));
  CAIRN_ASSIGN_OR_RETURN(spec->filter, ParseFilterField(body));
  CAIRN_ASSIGN_OR_RETURN(auto limit, OptUint(body, "limit", "request"));
  CAIRN_ASSIGN_OR_RETURN(auto top, OptUint(body, "top", "request"));
  spec->request.limit = limit.value_or(top.value_or(10));
  if (spec->request.limit > 100000) return InvalidArgumentError("limit: at most 100000");
  CAIRN_ASSIGN_OR_RETURN(auto offset, OptUint(body, "offset", "request"));
  spec->request.offset = offset.value_or(0);
  CAIRN_ASSIGN_OR_RETURN(auto threshold, OptNumber(body, "score_threshold", "request"));
  if (threshold.has_value()) spec->request.score_threshold = static_cast<float>(*threshold);
  CAIRN_ASSIGN_OR_RETURN(spec->payload,
                         PayloadSelector::Parse(Field(body, "with_payload"), default_payload));
  CAIRN_ASSIGN_OR_RETURN(spec->vectors,
                         VectorSelector::Parse(Field(body, "with_vector"), c.config(), false));
  CAIRN_RETURN_IF_ERROR(ParseParams(body, &spec->request));
  spec->request.load_data = spec->payload.enabled || spec->vectors.enabled;
  return absl::OkStatus();
}

// A query's "query": a vector, a point id, {"nearest": vector or id} with
// an optional "mmr". Returns false in *has_query when there is none.
absl::Status ParseQuery(const Collection& c, const Json& body, SearchSpec* spec, bool* has_query) {
  *has_query = false;
  if (!body.contains("query") || body["query"].is_null()) return absl::OkStatus();
  if (body.contains("prefetch") && !body["prefetch"].is_null() &&
      !(body["prefetch"].is_array() && body["prefetch"].empty())) {
    return InvalidArgumentError("prefetch is not supported");
  }
  *has_query = true;
  CAIRN_RETURN_IF_ERROR(CheckUsing(body, c.config()));
  const Json* q = &body["query"];
  if (q->is_object() && (q->contains("indices") || q->contains("values"))) {
    return InvalidArgumentError("query: sparse vectors are not supported");
  }
  if (q->is_object()) {
    if (q->contains("mmr") && !(*q)["mmr"].is_null()) {
      const Json& mmr = (*q)["mmr"];
      if (!mmr.is_object()) return InvalidArgumentError("query.mmr: expected an object");
      CAIRN_ASSIGN_OR_RETURN(auto diversity, OptNumber(mmr, "diversity", "query.mmr"));
      if (diversity.has_value() && (*diversity < 0 || *diversity > 1)) {
        return InvalidArgumentError("query.mmr.diversity: expected a number in [0, 1]");
      }
      spec->mmr_diversity = static_cast<float>(diversity.value_or(0.5));
      CAIRN_ASSIGN_OR_RETURN(auto limit, OptUint(mmr, "candidates_limit", "query.mmr"));
      spec->mmr_candidates = limit.value_or(100);
    }
    if (!q->contains("nearest")) {
      return InvalidArgumentError(
          "query: supported forms are a vector, a point id, and {\"nearest\": ...} (with an "
          "optional \"mmr\")");
    }
    q = &(*q)["nearest"];
    if (q->is_object()) {
      return InvalidArgumentError(q->contains("indices")
                                      ? "query.nearest: sparse vectors are not supported"
                                      : "query.nearest: expected a vector or a point id");
    }
  }
  if (q->is_array() && !q->empty() && (*q)[0].is_array()) {
    return InvalidArgumentError("query: multivectors (a list of lists) are not supported");
  }
  if (q->is_array()) {
    CAIRN_ASSIGN_OR_RETURN(spec->request.vector, ParseVector(*q, "query"));
    return absl::OkStatus();
  }
  CAIRN_ASSIGN_OR_RETURN(ExternalId id, ParsePointId(*q, "query"));
  CAIRN_ASSIGN_OR_RETURN(std::optional<PointData> p, c.Get(id));
  if (!p.has_value()) {
    return absl::NotFoundError(absl::StrCat("No point with id ", id.ToString(), " found"));
  }
  if (p->vector.empty()) {
    return InvalidArgumentError(absl::StrCat("query: point ", id.ToString(), " has no vector ",
                                             Json(VectorNameOf(c.config())).dump()));
  }
  spec->request.vector = std::move(p->vector);
  spec->request.exclude = id;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ScoredPoint>> RunSearch(const Collection& c, SearchSpec& spec,
                                                   Metrics& metrics) {
  spec.request.filter = &spec.filter;
  SearchInfo info;
  std::vector<ScoredPoint> out;
  if (spec.mmr_diversity.has_value()) {
    SearchRequest wide = spec.request;
    wide.limit = std::max(spec.mmr_candidates, spec.request.limit + spec.request.offset);
    wide.offset = 0;
    wide.load_data = true;  // MMR needs the candidates' vectors
    CAIRN_ASSIGN_OR_RETURN(out, c.Search(wide, &info));
    out = SelectMmr(c, std::move(out), *spec.mmr_diversity,
                    spec.request.limit + spec.request.offset);
    out.erase(out.begin(), out.begin() + std::min<size_t>(out.size(), spec.request.offset));
  } else {
    CAIRN_ASSIGN_OR_RETURN(out, c.Search(spec.request, &info));
  }
  metrics.AddSearch(info.postings_read, info.bytes_read);
  return out;
}

Json ScoredList(const std::vector<ScoredPoint>& pts, const SearchSpec& spec,
                const CollectionConfig& config) {
  Json list = Json::array();
  for (const ScoredPoint& p : pts) {
    list.push_back(ScoredJson(p, spec.payload, spec.vectors, config));
  }
  return list;
}

using Deadline = std::chrono::steady_clock::time_point;

absl::StatusOr<Json> Search(const Collection& c, const Json& body, Metrics& m, Deadline deadline) {
  SearchSpec spec;
  CAIRN_RETURN_IF_ERROR(ParseCommon(c, body, /*default_payload=*/false, &spec));
  spec.request.deadline = deadline;
  if (IsNamedSparseSearch(body)) {  // NamedSparseVector: an exact sparse search
    spec.request.sparse_name.emplace();
    CAIRN_RETURN_IF_ERROR(ParseNamedSparse(body, c.config(), &*spec.request.sparse_name,
                                           &spec.request.sparse_vector));
  } else {
    CAIRN_ASSIGN_OR_RETURN(spec.request.vector, ParseSearchVector(body, c.config()));
  }
  CAIRN_ASSIGN_OR_RETURN(auto pts, RunSearch(c, spec, m));
  return ScoredList(pts, spec, c.config());
}

absl::StatusOr<Json> Scroll(const Collection& c, const Json& body, bool query_form);

absl::StatusOr<Json> Query(const Collection& c, const Json& body, Metrics& m, Deadline deadline) {
  if (body.contains("query") && body["query"].is_object() && body["query"].contains("order_by")) {
    CAIRN_RETURN_IF_ERROR(RefuseUnsupported(body, {"lookup_from", "prefetch"}));
    CAIRN_ASSIGN_OR_RETURN(OrderBy order,
                           ParseOrderBy(body["query"]["order_by"], "query.order_by"));
    return ScrollByOrder(c, body, order, /*query_form=*/true);
  }
  if (IsMultiStageQuery(body, c.config())) return MultiStageQuery(c, body, m, deadline);
  SearchSpec spec;
  CAIRN_RETURN_IF_ERROR(ParseCommon(c, body, /*default_payload=*/false, &spec));
  spec.request.deadline = deadline;
  bool has_query = false;
  CAIRN_RETURN_IF_ERROR(ParseQuery(c, body, &spec, &has_query));
  if (!has_query) return Scroll(c, body, /*query_form=*/true);
  CAIRN_ASSIGN_OR_RETURN(auto pts, RunSearch(c, spec, m));
  return Json{{"points", ScoredList(pts, spec, c.config())}};
}

absl::StatusOr<Json> Scroll(const Collection& c, const Json& body, bool query_form) {
  if (body.contains("order_by") && !body["order_by"].is_null()) {
    CAIRN_ASSIGN_OR_RETURN(OrderBy order, ParseOrderBy(body["order_by"], "order_by"));
    return ScrollByOrder(c, body, order, query_form);
  }
  CAIRN_ASSIGN_OR_RETURN(Filter filter, ParseFilterField(body));
  CAIRN_ASSIGN_OR_RETURN(auto limit, OptUint(body, "limit", "request"));
  const uint32_t n = limit.value_or(10);
  if (n > 100000) return InvalidArgumentError("limit: at most 100000");
  std::optional<ExternalId> start;
  uint32_t skip = 0;
  if (body.contains("offset") && !body["offset"].is_null()) {
    if (query_form) {
      CAIRN_ASSIGN_OR_RETURN(auto o, OptUint(body, "offset", "request"));
      skip = o.value_or(0);
    } else {
      CAIRN_ASSIGN_OR_RETURN(start, ParsePointId(body["offset"], "offset"));
    }
  }
  CAIRN_ASSIGN_OR_RETURN(PayloadSelector payload,
                         PayloadSelector::Parse(Field(body, "with_payload"),
                                                /*fallback=*/!query_form));
  CAIRN_ASSIGN_OR_RETURN(VectorSelector vectors,
                         VectorSelector::Parse(Field(body, "with_vector"), c.config(), false));
  std::vector<PointData> pts;
  std::optional<ExternalId> next;
  CAIRN_RETURN_IF_ERROR(c.Scroll(start, n + skip, filter, &pts, &next));
  Json list = Json::array();
  for (size_t i = skip; i < pts.size(); ++i) {
    Json rec = RecordJson(pts[i], payload, vectors, c.config());
    if (query_form) {
      rec["version"] = 0;
      rec["score"] = 1.0;
    }
    list.push_back(std::move(rec));
  }
  if (query_form) return Json{{"points", list}};
  return Json{{"points", list}, {"next_page_offset", next ? PointIdToJson(*next) : Json(nullptr)}};
}

absl::StatusOr<Json> Batch(const Json& body,
                           const std::function<absl::StatusOr<Json>(const Json&)>& one) {
  if (!body.contains("searches") || !body["searches"].is_array()) {
    return InvalidArgumentError("searches: expected an array of requests");
  }
  Json out = Json::array();
  for (size_t i = 0; i < body["searches"].size(); ++i) {
    const Json& req = body["searches"][i];
    if (!req.is_object()) {
      return InvalidArgumentError(absl::StrCat("searches[", i, "]: expected an object"));
    }
    auto r = one(req);
    if (!r.ok()) {
      return absl::Status(r.status().code(),
                          absl::StrCat("searches[", i, "]: ", r.status().message()));
    }
    out.push_back(std::move(*r));
  }
  return out;
}

absl::StatusOr<Json> RetrievePoints(const CollectionCall& call) {
  const Json& body = call.body;
  if (!body.contains("ids")) return InvalidArgumentError("ids: missing");
  CAIRN_ASSIGN_OR_RETURN(std::vector<ExternalId> ids, ParseIdList(body["ids"], "ids"));
  CAIRN_ASSIGN_OR_RETURN(PayloadSelector payload,
                         PayloadSelector::Parse(Field(body, "with_payload"), true));
  const CollectionConfig& config = call.collection.config();
  CAIRN_ASSIGN_OR_RETURN(VectorSelector vectors,
                         VectorSelector::Parse(Field(body, "with_vector"), config, false));
  Json out = Json::array();
  for (const ExternalId& id : ids) {
    CAIRN_ASSIGN_OR_RETURN(std::optional<PointData> p, call.collection.Get(id));
    if (p.has_value()) out.push_back(RecordJson(*p, payload, vectors, config));
  }
  return out;
}

absl::StatusOr<Json> GetPoint(const CollectionCall& call) {
  const std::string_view what = call.params.Get("id");
  // A number-looking id is a number, as Qdrant reads it.
  Json idj = what;
  if (!what.empty() && what.size() <= 20 &&
      std::all_of(what.begin(), what.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
    idj = std::stoull(std::string(what));
  }
  CAIRN_ASSIGN_OR_RETURN(ExternalId id, ParsePointId(idj, "id"));
  CAIRN_ASSIGN_OR_RETURN(std::optional<PointData> p, call.collection.Get(id));
  if (!p.has_value()) {
    return absl::NotFoundError(absl::StrCat("Point with id ", id.ToString(), " does not exists!"));
  }
  PayloadSelector all_payload;
  all_payload.enabled = true;
  VectorSelector all_vectors;
  all_vectors.enabled = true;
  return RecordJson(*p, all_payload, all_vectors, call.collection.config());
}

absl::StatusOr<Json> SearchPoints(const CollectionCall& call) {
  return Search(call.collection, call.body, call.metrics, call.deadline);
}

absl::StatusOr<Json> SearchBatch(const CollectionCall& call) {
  return Batch(call.body, [&](const Json& one) {
    return Search(call.collection, one, call.metrics, call.deadline);
  });
}

absl::StatusOr<Json> QueryPoints(const CollectionCall& call) {
  return Query(call.collection, call.body, call.metrics, call.deadline);
}

absl::StatusOr<Json> QueryBatch(const CollectionCall& call) {
  return Batch(call.body, [&](const Json& one) {
    return Query(call.collection, one, call.metrics, call.deadline);
  });
}

absl::StatusOr<Json> ScrollPoints(const CollectionCall& call) {
  return Scroll(call.collection, call.body, /*query_form=*/false);
}

absl::StatusOr<Json> CountPoints(const CollectionCall& call) {
  CAIRN_ASSIGN_OR_RETURN(Filter f, ParseFilterField(call.body));
  CAIRN_ASSIGN_OR_RETURN(uint64_t n, call.collection.Count(f, call.deadline));
  return Json{{"count", n}};
}

absl::StatusOr<Json> DeletePoints(const CollectionCall& call) {
  const Json& body = call.body;
  uint64_t n = 0;
  if (body.contains("points") && !body["points"].is_null()) {
    CAIRN_ASSIGN_OR_RETURN(std::vector<ExternalId> ids, ParseIdList(body["points"], "points"));
    CAIRN_RETURN_IF_ERROR(call.collection.Delete(ids, &n));
  } else if (body.contains("filter") && !body["filter"].is_null()) {
    CAIRN_ASSIGN_OR_RETURN(Filter f, Filter::Parse(body["filter"]));
    CAIRN_RETURN_IF_ERROR(call.collection.DeleteByFilter(f, &n));
  } else {
    return InvalidArgumentError("expected \"points\": [ids] or \"filter\": {...}");
  }
  return UpdateResult();
}

// mode: Collection::UpdatePayload's "set", "overwrite", "delete" or "clear".
absl::StatusOr<Json> ChangePayload(const CollectionCall& call, const std::string& mode) {
  const Json& body = call.body;
  CAIRN_ASSIGN_OR_RETURN(std::vector<ExternalId> ids,
                         SelectedPoints(call.collection, body, call.deadline));
  Json payload = Json::object();
  std::vector<std::string> keys;
  std::string key;
  if (mode == "set" || mode == "overwrite") {
    if (!body.contains("payload") || !body["payload"].is_object()) {
      return InvalidArgumentError("payload: expected an object");
    }
    payload = body["payload"];
    if (body.contains("key") && body["key"].is_string()) key = body["key"].get<std::string>();
  }
  if (mode == "delete") {
    if (!body.contains("keys") || !body["keys"].is_array()) {
      return InvalidArgumentError("keys: expected an array of keys");
    }
    for (const Json& k : body["keys"]) {
      if (!k.is_string()) return InvalidArgumentError("keys: expected strings");
      keys.push_back(k.get<std::string>());
    }
  }
  CAIRN_RETURN_IF_ERROR(call.collection.UpdatePayload(ids, mode, payload, keys, key));
  return UpdateResult();
}

absl::StatusOr<Json> SetPayload(const CollectionCall& call) { return ChangePayload(call, "set"); }

absl::StatusOr<Json> OverwritePayload(const CollectionCall& call) {
  return ChangePayload(call, "overwrite");
}

absl::StatusOr<Json> DeletePayloadKeys(const CollectionCall& call) {
  return ChangePayload(call, "delete");
}

absl::StatusOr<Json> ClearPayload(const CollectionCall& call) {
  return ChangePayload(call, "clear");
}

}  // namespace

std::span<const CollectionRoute> CollectionRoutes() {
  using enum Access;
  static constexpr std::string_view kIndex = "/collections/{name}/index";
  static constexpr std::string_view kPayload = "/collections/{name}/points/payload";
  static constexpr std::string_view kPointsPut = "/collections/{name}/points PUT";
  static constexpr std::string_view kPointsPost = "/collections/{name}/points POST";
  // Another method on one of these paths is an unknown route (404), as in
  // Qdrant. The payload deletes take PUT as well as POST.
  static constexpr CollectionRoute kRoutes[] = {
      {"PUT", "/collections/{name}/index", kWrite, &CreateFieldIndex},
      {"DELETE", "/collections/{name}/index/{field}", kWrite, &DeleteFieldIndex, kIndex},
      {"PUT", "/collections/{name}/points", kWrite, &UpsertPoints, kPointsPut},
      {"PUT", "/collections/{name}/points/vectors", kWrite, &UpdateVectors},
      {"POST", "/collections/{name}/points/vectors/delete", kWrite, &DeleteVectors},
      {"POST", "/collections/{name}/points", kRead, &RetrievePoints, kPointsPost},
      {"GET", "/collections/{name}/points/{id}", kRead, &GetPoint},
      {"POST", "/collections/{name}/points/search", kRead, &SearchPoints},
      {"POST", "/collections/{name}/points/search/batch", kRead, &SearchBatch},
      {"POST", "/collections/{name}/points/query", kRead, &QueryPoints},
      {"POST", "/collections/{name}/points/query/batch", kRead, &QueryBatch},
      {"POST", "/collections/{name}/points/scroll", kRead, &ScrollPoints},
      {"POST", "/collections/{name}/points/count", kRead, &CountPoints},
      {"POST", "/collections/{name}/points/delete", kWrite, &DeletePoints},
      {"POST", "/collections/{name}/points/payload", kWrite, &SetPayload},
      {"PUT", "/collections/{name}/points/payload", kWrite, &OverwritePayload},
      {"POST", "/collections/{name}/points/payload/delete", kWrite, &DeletePayloadKeys, kPayload},
      {"PUT", "/collections/{name}/points/payload/delete", kWrite, &DeletePayloadKeys, kPayload},
      {"POST", "/collections/{name}/points/payload/clear", kWrite, &ClearPayload, kPayload},
      {"PUT", "/collections/{name}/points/payload/clear", kWrite, &ClearPayload, kPayload},
  };
  return kRoutes;
}

absl::Status ParseSearchParamsField(const Json& body, SearchRequest* req) {
  return ParseParams(body, req);
}

absl::StatusOr<std::vector<ExternalId>> SelectedPoints(
    const Collection& c, const Json& body, std::chrono::steady_clock::time_point deadline) {
  if (body.contains("points") && !body["points"].is_null()) {
    return ParseIdList(body["points"], "points");
  }
  if (body.contains("filter") && !body["filter"].is_null()) {
    CAIRN_ASSIGN_OR_RETURN(Filter f, Filter::Parse(body["filter"]));
    return c.Select(f, deadline);
  }
  return InvalidArgumentError("expected \"points\": [ids] or \"filter\": {...}");
}

std::vector<ScoredPoint> SelectMmr(const Collection& c, std::vector<ScoredPoint> cand,
                                   float diversity, uint32_t limit) {
  const uint32_t dim = c.config().size;
  const VectorDistance distance = c.config().distance;
  auto sim = [&](const std::vector<float>& a, const std::vector<float>& b) -> float {
    if (distance == VectorDistance::kEuclid) {
      return -std::sqrt(Kernels().l2_f32(a.data(), b.data(), dim));
    }
    if (distance == VectorDistance::kManhattan) return -Kernels().l1_f32(a.data(), b.data(), dim);
    return Kernels().dot_f32(a.data(), b.data(), dim);  // cosine vectors are unit length
  };
  auto relevance = [&](const ScoredPoint& p) {
    return LowerIsBetter(distance) ? -p.score : p.score;
  };
  std::vector<ScoredPoint> picked;
  std::vector<float> max_sim(cand.size(), -std::numeric_limits<float>::infinity());
  std::vector<bool> used(cand.size(), false);
  while (picked.size() < limit && picked.size() < cand.size()) {
    size_t best = cand.size();
    float best_value = -std::numeric_limits<float>::infinity();
    for (size_t i = 0; i < cand.size(); ++i) {
      if (used[i] || !cand[i].data) continue;
      const float redundancy = picked.empty() ? 0.0f : max_sim[i];
      const float value = (1 - diversity) * relevance(cand[i]) - diversity * redundancy;
      if (best == cand.size() || value > best_value) {
        best = i;
        best_value = value;
      }
    }
    if (best == cand.size()) break;
    used[best] = true;
    for (size_t i = 0; i < cand.size(); ++i) {
      if (!used[i] && cand[i].data) {
        max_sim[i] = std::max(max_sim[i], sim(cand[i].data->vector, cand[best].data->vector));
      }
    }
    picked.push_back(cand[best]);
  }
  return picked;
}

}  // namespace cairn
