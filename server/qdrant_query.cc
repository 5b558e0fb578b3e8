#include "server/qdrant_query.h"

#include <algorithm>
#include <cmath>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/fusion.h"
#include "server/point_id.h"
#include "server/qdrant_points.h"
#include "server/vector_json.h"

namespace cairn {

namespace {

using absl::InvalidArgumentError;
using Deadline = std::chrono::steady_clock::time_point;

// Deeper nesting than any framework sends; bounds the recursion.
constexpr int kMaxPrefetchDepth = 8;
constexpr uint32_t kMaxLimit = 100000;

enum class NodeKind { kPassThrough, kNearest, kRrf, kDbsf };

struct QueryNode {
  NodeKind kind = NodeKind::kPassThrough;
  SearchRequest request;  // the query, limit, threshold and params
  Json filter_json;       // the parent's filter AND this node's (null: none)
  Filter filter;
  uint32_t rrf_k = kDefaultRrfK;
  // Points never answered (a recommendation's examples).
  std::vector<ExternalId> exclude_ids;
  std::vector<QueryNode> prefetch;
};

bool Present(const Json& body, const char* key) {
  return body.contains(key) && !body[key].is_null();
}

// The parent's filter AND the node's own, as one filter.
Json MergeFilters(const Json& parent, const Json& own) {
  if (parent.is_null()) return own;
  if (own.is_null()) return parent;
  return Json{{"must", Json::array({parent, own})}};
}

// Sets the node's query vector from `q` (a dense list, a sparse vector or a
// point id) for the vector named by `using_name`.
absl::Status SetNearest(const Collection& c, const Json& q, const std::string& using_name,
                        const std::string& where, QueryNode* node) {
  const CollectionConfig& config = c.config();
  const bool sparse = IsSparseName(config, using_name);
  SearchRequest& r = node->request;
  if (LooksSparse(q)) {
    if (!sparse) {
      return InvalidArgumentError(
          absl::StrCat(where, ": a sparse vector needs `using` naming a sparse vector, got ",
                       Json(using_name).dump()));
    }
    CAIRN_ASSIGN_OR_RETURN(r.sparse_vector, ParseSparseVector(q, where));
    r.sparse_name = using_name;
    return absl::OkStatus();
  }
  if (!sparse) CAIRN_RETURN_IF_ERROR(CheckVectorName(config, using_name, where + " (using)"));
  if (q.is_array()) {
    if (!q.empty() && q[0].is_array()) {
      return InvalidArgumentError(
          absl::StrCat(where, ": multivectors (a list of lists) are not supported"));
    }
    if (sparse) {
      return InvalidArgumentError(
          absl::StrCat(where, ": ", Json(using_name).dump(),
                       " is a sparse vector: expected {\"indices\", \"values\"}"));
    }
    CAIRN_ASSIGN_OR_RETURN(r.vector, ParseVector(q, where));
    return absl::OkStatus();
  }
  if (q.is_object()) {
    return InvalidArgumentError(absl::StrCat(where, ": expected a vector or a point id"));
  }
  CAIRN_ASSIGN_OR_RETURN(ExternalId id, ParsePointId(q, where));
  CAIRN_ASSIGN_OR_RETURN(std::optional<PointData> p, c.Get(id));
  if (!p.has_value()) {
    return absl::NotFoundError(absl::StrCat("No point with id ", id.ToString(), " found"));
  }
  if (sparse) {
    auto it = p->sparse.find(using_name);
    if (it == p->sparse.end()) {
      return InvalidArgumentError(absl::StrCat(where, ": point ", id.ToString(), " has no vector ",
                                               Json(using_name).dump()));
    }
    r.sparse_vector = it->second;
    r.sparse_name = using_name;
  } else {
    if (p->vector.empty()) {
      return InvalidArgumentError(absl::StrCat(where, ": point ", id.ToString(), " has no vector ",
                                               Json(using_name).dump()));
    }
    r.vector = std::move(p->vector);
  }
  r.exclude = id;
  return absl::OkStatus();
}

// One example of a recommendation: a dense vector, or a point id (its
// stored vector; the point is then left out of the answer).
absl::StatusOr<std::vector<float>> ExampleVector(const Collection& c, const Json& e,
                                                 const std::string& where, QueryNode* node) {
  const CollectionConfig& config = c.config();
  if (e.is_array()) {
    CAIRN_ASSIGN_OR_RETURN(std::vector<float> v, ParseVector(e, where));
    if (v.size() != config.size) {
      return InvalidArgumentError(absl::StrCat(where, ": wrong vector dimension: expected ",
                                               config.size, ", got ", v.size()));
    }
    // Stored Cosine vectors are unit length; examples are made so too.
    if (config.distance == VectorDistance::kCosine) {
      double norm = 0;
      for (float x : v) norm += double{x} * x;
      if (norm == 0) return InvalidArgumentError(absl::StrCat(where, ": a zero vector"));
      for (float& x : v) x = static_cast<float>(x / std::sqrt(norm));
    }
    return v;
  }
  if (e.is_object()) {
    return InvalidArgumentError(
        absl::StrCat(where,
                     ": expected a dense vector or a point id (sparse examples are not "
                     "supported)"));
  }
  CAIRN_ASSIGN_OR_RETURN(ExternalId id, ParsePointId(e, where));
  CAIRN_ASSIGN_OR_RETURN(std::optional<PointData> p, c.Get(id));
  if (!p.has_value()) {
    return absl::NotFoundError(absl::StrCat("No point with id ", id.ToString(), " found"));
  }
  if (p->vector.empty()) {
    return InvalidArgumentError(absl::StrCat(where, ": point ", id.ToString(), " has no vector"));
  }
  node->exclude_ids.push_back(id);
  return std::move(p->vector);
}

// {"recommend": {"positive", "negative", "strategy"}} with the
// average_vector strategy (Qdrant's default): the nearest points to
// avg(positive) + (avg(positive) - avg(negative)), or avg(positive) without
// negatives, the examples given by id left out.
absl::Status SetRecommend(const Collection& c, const Json& rec, const std::string& using_name,
                          const std::string& where, QueryNode* node) {
  if (!rec.is_object()) return InvalidArgumentError(absl::StrCat(where, ": expected an object"));
  if (IsSparseName(c.config(), using_name)) {
    return InvalidArgumentError(absl::StrCat(where,
                                             ": recommendations over sparse vectors are "
                                             "not supported"));
  }
  CAIRN_RETURN_IF_ERROR(CheckVectorName(c.config(), using_name, where + " (using)"));
  if (Present(rec, "strategy") && rec["strategy"] != "average_vector") {
    return InvalidArgumentError(absl::StrCat(
        where, ".strategy: only average_vector is supported, got ", rec["strategy"].dump()));
  }
  const uint32_t dim = c.config().size;
  std::vector<double> pos(dim, 0.0), neg(dim, 0.0);
  size_t n_pos = 0, n_neg = 0;
  for (const char* side : {"positive", "negative"}) {
    if (!Present(rec, side)) continue;
    const Json& list = rec[side];
    if (!list.is_array()) {
      return InvalidArgumentError(absl::StrCat(where, ".", side, ": expected a list of examples"));
    }
    const bool positive = std::string_view(side) == "positive";
    for (size_t i = 0; i < list.size(); ++i) {
      CAIRN_ASSIGN_OR_RETURN(
          std::vector<float> v,
          ExampleVector(c, list[i], absl::StrCat(where, ".", side, "[", i, "]"), node));
      std::vector<double>& sum = positive ? pos : neg;
      for (uint32_t d = 0; d < dim; ++d) sum[d] += v[d];
      (positive ? n_pos : n_neg) += 1;
    }
  }
  if (n_pos == 0) {
    return InvalidArgumentError(absl::StrCat(where, ".positive: at least one example"));
  }
  std::vector<float>& q = node->request.vector;
  q.resize(dim);
  for (uint32_t d = 0; d < dim; ++d) {
    const double avg_pos = pos[d] / n_pos;
    q[d] = static_cast<float>(n_neg == 0 ? avg_pos : 2 * avg_pos - neg[d] / n_neg);
  }
  return absl::OkStatus();
}

// The node's "query" field.
absl::Status ParseNodeQuery(const Collection& c, const Json& body, const std::string& where,
                            QueryNode* node) {
  std::string using_name;
  if (Present(body, "using")) {
    if (!body["using"].is_string()) {
      return InvalidArgumentError(absl::StrCat(where, "using: expected a vector name"));
    }
    using_name = body["using"].get<std::string>();
  }
  if (!Present(body, "query")) return absl::OkStatus();  // pass-through
  const Json& q = body["query"];
  const std::string at = where + "query";
  if (!q.is_object() || LooksSparse(q)) {
    node->kind = NodeKind::kNearest;
    return SetNearest(c, q, using_name, at, node);
  }
  if (q.contains("recommend")) {
    node->kind = NodeKind::kNearest;
    return SetRecommend(c, q["recommend"], using_name, at + ".recommend", node);
  }
  for (const char* kind : {"discover", "context", "order_by", "sample", "formula"}) {
    if (q.contains(kind)) {
      return InvalidArgumentError(
          absl::StrCat(at, ".", kind, ": this query kind is not supported"));
    }
  }
  if (q.contains("fusion")) {
    if (q["fusion"] == "rrf") {
      node->kind = NodeKind::kRrf;
    } else if (q["fusion"] == "dbsf") {
      node->kind = NodeKind::kDbsf;
    } else {
      return InvalidArgumentError(absl::StrCat(at, ".fusion: expected \"rrf\" or \"dbsf\""));
    }
    return absl::OkStatus();
  }
  if (q.contains("rrf")) {
    const Json& rrf = q["rrf"];
    if (!rrf.is_object()) return InvalidArgumentError(absl::StrCat(at, ".rrf: expected an object"));
    if (Present(rrf, "weights")) {
      return InvalidArgumentError(absl::StrCat(at, ".rrf.weights: not supported"));
    }
    CAIRN_ASSIGN_OR_RETURN(auto k, OptUint(rrf, "k", at + ".rrf"));
    if (k.has_value() && (*k == 0 || *k > 1000000)) {
      return InvalidArgumentError(absl::StrCat(at, ".rrf.k: expected 1..1000000"));
    }
    node->kind = NodeKind::kRrf;
    node->rrf_k = k.value_or(kDefaultRrfK);
    return absl::OkStatus();
  }
  if (q.contains("nearest")) {
    if (Present(q, "mmr")) {
      return InvalidArgumentError(absl::StrCat(
          at, ".mmr: not supported with prefetch or sparse vectors (only on a dense query alone)"));
    }
    node->kind = NodeKind::kNearest;
    return SetNearest(c, q["nearest"], using_name, at + ".nearest", node);
  }
  return InvalidArgumentError(absl::StrCat(
      at,
      ": supported forms are a vector, a sparse vector, a point id, {\"nearest\": ...} and "
      "{\"fusion\": \"rrf\" | \"dbsf\"}"));
}

absl::Status ParseNode(const Collection& c, const Json& body, const Json& parent_filter,
                       const std::string& where, int depth, QueryNode* node) {
  if (!body.is_object()) return InvalidArgumentError(absl::StrCat(where, ": expected an object"));
  if (depth > kMaxPrefetchDepth) {
    return InvalidArgumentError(
        absl::StrCat(where, ": prefetch nested deeper than ", kMaxPrefetchDepth));
  }
  if (Present(body, "lookup_from")) {
    return InvalidArgumentError(absl::StrCat(where, "lookup_from is not supported"));
  }
  node->filter_json =
      MergeFilters(parent_filter, Present(body, "filter") ? body["filter"] : Json());
  if (!node->filter_json.is_null()) {
    CAIRN_ASSIGN_OR_RETURN(node->filter, Filter::Parse(node->filter_json));
  }
  CAIRN_ASSIGN_OR_RETURN(auto limit, OptUint(body, "limit", where + "limit"));
  node->request.limit = limit.value_or(10);
  if (node->request.limit > kMaxLimit) {
    return InvalidArgumentError(absl::StrCat(where, "limit: at most ", kMaxLimit));
  }
  CAIRN_ASSIGN_OR_RETURN(auto threshold, OptNumber(body, "score_threshold", where + "request"));
  if (threshold.has_value()) node->request.score_threshold = static_cast<float>(*threshold);
  CAIRN_RETURN_IF_ERROR(ParseSearchParamsField(body, &node->request));
  CAIRN_RETURN_IF_ERROR(ParseNodeQuery(c, body, where, node));
  if (Present(body, "prefetch")) {
    const Json& pf = body["prefetch"];
    const Json list = pf.is_array() ? pf : Json::array({pf});
    for (size_t i = 0; i < list.size(); ++i) {
      QueryNode child;
      CAIRN_RETURN_IF_ERROR(ParseNode(c, list[i], node->filter_json,
                                      absl::StrCat(where, "prefetch[", i, "].", ""), depth + 1,
                                      &child));
      if (child.kind == NodeKind::kPassThrough && child.prefetch.empty()) {
        return InvalidArgumentError(absl::StrCat(where, "prefetch[", i, "].query: missing"));
      }
      node->prefetch.push_back(std::move(child));
    }
  }
  const bool fusion = node->kind == NodeKind::kRrf || node->kind == NodeKind::kDbsf;
  if (fusion && node->prefetch.empty()) {
    return InvalidArgumentError(absl::StrCat(where, "query: a fusion needs prefetch to fuse"));
  }
  if (node->kind == NodeKind::kPassThrough && node->prefetch.size() > 1) {
    return InvalidArgumentError(absl::StrCat(
        where,
        "query: missing; several prefetches need a fusion or a nearest query to combine them"));
  }
  return absl::OkStatus();
}

// Runs `node`; its results best first, at most node.request.limit of them
// (`extra` more at the top level, for the offset).
absl::StatusOr<RankedList> Run(const Collection& c, QueryNode& node, uint32_t extra,
                               Metrics& metrics, Deadline deadline) {
  SearchRequest& r = node.request;
  r.filter = &node.filter;
  r.deadline = deadline;
  r.load_data = false;
  r.limit += extra;
  const uint32_t limit = r.limit;
  // Excluded points may take places in a result: ask for that many more.
  r.limit += static_cast<uint32_t>(node.exclude_ids.size());
  auto exclude = [&](RankedList* l) {
    if (!node.exclude_ids.empty()) {
      absl::flat_hash_set<std::string> gone;
      for (const ExternalId& id : node.exclude_ids) gone.insert(id.Key());
      std::erase_if(l->points, [&](const ScoredPoint& p) { return gone.contains(p.id.Key()); });
    }
    if (l->points.size() > limit) l->points.resize(limit);
  };
  RankedList out;
  if (node.prefetch.empty()) {  // a nearest query alone
    SearchInfo info;
    CAIRN_ASSIGN_OR_RETURN(out.points, c.Search(r, &info));
    metrics.AddSearch(info.postings_read, info.bytes_read);
    out.lower_is_better = c.LowerIsBetterFor(r);
    exclude(&out);
    return out;
  }
  std::vector<RankedList> lists;
  for (QueryNode& child : node.prefetch) {
    CAIRN_ASSIGN_OR_RETURN(RankedList l, Run(c, child, 0, metrics, deadline));
    lists.push_back(std::move(l));
  }
  switch (node.kind) {
    case NodeKind::kPassThrough:
      out = std::move(lists[0]);
      break;
    case NodeKind::kNearest: {
      std::vector<ExternalId> ids;
      absl::flat_hash_set<std::string> seen;
      for (const RankedList& l : lists) {
        for (const ScoredPoint& p : l.points) {
          if (seen.insert(p.id.Key()).second) ids.push_back(p.id);
        }
      }
      CAIRN_ASSIGN_OR_RETURN(out.points, c.ScorePoints(r, ids));
      out.lower_is_better = c.LowerIsBetterFor(r);
      exclude(&out);
      return out;
    }
    case NodeKind::kRrf:
    case NodeKind::kDbsf: {
      out.points = node.kind == NodeKind::kRrf ? FuseRrf(lists, node.rrf_k) : FuseDbsf(lists);
      if (r.score_threshold.has_value()) {
        std::erase_if(out.points,
                      [&](const ScoredPoint& p) { return p.score < *r.score_threshold; });
      }
      break;
    }
  }
  if (out.points.size() > limit) out.points.resize(limit);
  return out;
}

}  // namespace

bool IsMultiStageQuery(const Json& body, const CollectionConfig& c) {
  if (Present(body, "prefetch") && !(body["prefetch"].is_array() && body["prefetch"].empty())) {
    return true;
  }
  if (Present(body, "using") && body["using"].is_string() &&
      IsSparseName(c, body["using"].get<std::string>())) {
    return true;
  }
  if (!Present(body, "query")) return false;
  const Json& q = body["query"];
  if (LooksSparse(q)) return true;
  return q.is_object() && (q.contains("fusion") || q.contains("rrf") || q.contains("recommend") ||
                           (q.contains("nearest") && LooksSparse(q["nearest"])));
}

absl::StatusOr<Json> MultiStageQuery(const Collection& c, const Json& body, Metrics& metrics,
                                     Deadline deadline) {
  QueryNode root;
  CAIRN_RETURN_IF_ERROR(ParseNode(c, body, Json(), "", 0, &root));
  CAIRN_ASSIGN_OR_RETURN(auto offset, OptUint(body, "offset", "request"));
  CAIRN_ASSIGN_OR_RETURN(
      PayloadSelector payload,
      PayloadSelector::Parse(body.contains("with_payload") ? &body["with_payload"] : nullptr,
                             false));
  CAIRN_ASSIGN_OR_RETURN(
      VectorSelector vectors,
      VectorSelector::Parse(body.contains("with_vector") ? &body["with_vector"] : nullptr,
                            c.config(), false));
  const uint32_t skip = offset.value_or(0);
  if (root.kind == NodeKind::kPassThrough && root.prefetch.empty()) {
    return InvalidArgumentError("query: missing");
  }
  CAIRN_ASSIGN_OR_RETURN(RankedList ranked, Run(c, root, skip, metrics, deadline));
  Json points = Json::array();
  for (size_t i = skip; i < ranked.points.size(); ++i) {
    ScoredPoint& p = ranked.points[i];
    if (payload.enabled || vectors.enabled) {
      CAIRN_ASSIGN_OR_RETURN(p.data, c.Get(p.id));
      if (!p.data.has_value()) continue;  // deleted since it was found
    }
    points.push_back(ScoredJson(p, payload, vectors, c.config()));
  }
  return Json{{"points", points}};
}

}  // namespace cairn
