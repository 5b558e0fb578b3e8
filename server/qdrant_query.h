// The multi-stage form of POST /collections/{name}/points/query (Qdrant's
// Query API): a query over a sparse vector (`using` a sparse name),
// `prefetch` (nested, each with its own query, using, filter, params,
// score_threshold and limit), re-ranking of the prefetched candidates by
// the outer query, and fusion of them ({"fusion": "rrf"}, {"fusion":
// "dbsf"}, {"rrf": {"k": N}}). docs/api.md, "Hybrid queries".
//
// Semantics, as Qdrant's:
//  - a node's filter applies to its prefetches too (the child's filter is
//    the parent's AND its own);
//  - a node with prefetches and a nearest query scores exactly the union of
//    its prefetches' results with that query (dense: the stored vector
//    under the collection's distance; sparse: the dot product, idf-weighed);
//  - fusion combines the prefetches' ranked lists (server/fusion.h), then
//    applies score_threshold to the fused score and keeps `limit`;
//  - a node without a query passes its one prefetch's results through;
//  - {"recommend": {"positive", "negative"}} (strategy average_vector, dense
//    vectors or point ids as examples) is a nearest query to
//    avg(positive) + (avg(positive) - avg(negative)), examples given by id
//    left out;
//  - offset, with_payload and with_vector apply to the top-level answer.
// Refused with 400 naming the field: mmr in this form, recommend with
// another strategy or over a sparse vector, discover, context, order_by,
// sample and formula, lookup_from, several
// prefetches without a query to combine them.
#ifndef CAIRN_SERVER_QDRANT_QUERY_H_
#define CAIRN_SERVER_QDRANT_QUERY_H_

#include <chrono>

#include "absl/status/statusor.h"
#include "server/api_json.h"
#include "server/collection.h"
#include "server/metrics.h"

namespace cairn {

// True when `body` needs this path: a prefetch, a fusion, a recommendation,
// a sparse query, or a `using` that names a sparse vector.
bool IsMultiStageQuery(const Json& body, const CollectionConfig& c);

absl::StatusOr<Json> MultiStageQuery(const Collection& c, const Json& body, Metrics& metrics,
                                     std::chrono::steady_clock::time_point deadline);

}  // namespace cairn

#endif  // CAIRN_SERVER_QDRANT_QUERY_H_
