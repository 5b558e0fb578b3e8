// The endpoints under /collections/{name}/...: points, payloads, search,
// query (with MMR), scroll, count and payload indexes; one handler per
// operation, listed in CollectionRoutes().
#ifndef CAIRN_SERVER_QDRANT_POINTS_H_
#define CAIRN_SERVER_QDRANT_POINTS_H_

#include <chrono>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "server/api_json.h"
#include "server/collection.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "server/route_table.h"

namespace cairn {

// What a route under a collection works on. QdrantApi has found the
// collection, read ?timeout and parsed the body ({} when empty) before the
// access check and the handler.
struct CollectionCall {
  const HttpRequest& http;
  const PathParams& params;
  Collection& collection;
  const Json& body;
  Metrics& metrics;
  // From ?timeout=SECONDS, else the server's default.
  std::chrono::steady_clock::time_point deadline;
};

// A handler answers the envelope's `result`, or an error status.
using CollectionHandler = absl::StatusOr<Json> (*)(const CollectionCall&);
using CollectionRoute = Route<CollectionHandler>;

// The routes under /collections/{name}/ (but its /exists).
std::span<const CollectionRoute> CollectionRoutes();

// The points a write names: "points": [ids], else those matching "filter";
// InvalidArgument when the body has neither.
absl::StatusOr<std::vector<ExternalId>> SelectedPoints(
    const Collection& c, const Json& body, std::chrono::steady_clock::time_point deadline);

// A request's "params" (exact, hnsw_ef, target_recall, cairn.*) into *req.
absl::Status ParseSearchParamsField(const Json& body, SearchRequest* req);

// Maximal marginal relevance over `candidates` (each with its vector):
// picks `limit` greedily by (1 - diversity) * sim(query) - diversity *
// max sim(already picked), sim being the collection's similarity.
std::vector<ScoredPoint> SelectMmr(const Collection& c, std::vector<ScoredPoint> candidates,
                                   float diversity, uint32_t limit);

}  // namespace cairn

#endif  // CAIRN_SERVER_QDRANT_POINTS_H_
