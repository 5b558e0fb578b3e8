// The endpoints under /collections/{name}/...: points, payloads, search,
// query (with MMR), scroll and count.
#ifndef CAIRN_SERVER_QDRANT_POINTS_H_
#define CAIRN_SERVER_QDRANT_POINTS_H_

#include <chrono>
#include <string>

#include "absl/status/statusor.h"
#include "server/api_json.h"
#include "server/collection.h"
#include "server/http_server.h"
#include "server/metrics.h"

namespace cairn {

struct PointsRequest {
  const HttpRequest& http;
  Collection& collection;
  Metrics& metrics;
  std::string* route;   // set to the route pattern, for metrics
  bool* read_only_ok;   // set when the route only reads
  // From ?timeout=SECONDS, else the server's default.
  std::chrono::steady_clock::time_point deadline;
};

// The `result` of the envelope. PermissionDenied when a write is asked
// without the full key (`writer` false); NotFound for an unknown route.
absl::StatusOr<Json> HandlePoints(PointsRequest& r, bool writer);

// Maximal marginal relevance over `candidates` (each with its vector):
// picks `limit` greedily by (1 - diversity) * sim(query) - diversity *
// max sim(already picked), sim being the collection's similarity.
std::vector<ScoredPoint> SelectMmr(const Collection& c, std::vector<ScoredPoint> candidates,
                                   float diversity, uint32_t limit);

}  // namespace cairn

#endif  // CAIRN_SERVER_QDRANT_POINTS_H_
