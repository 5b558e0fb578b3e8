// The payload-index routes and order_by (docs/api.md, "Payload indexes"):
// PUT /collections/{n}/index, DELETE /collections/{n}/index/{field}, and
// scroll / query ordered by an indexed payload field.
#ifndef CAIRN_SERVER_QDRANT_PAYLOAD_INDEX_H_
#define CAIRN_SERVER_QDRANT_PAYLOAD_INDEX_H_

#include "absl/status/statusor.h"
#include "server/qdrant_points.h"

namespace cairn {

absl::StatusOr<Json> CreateFieldIndex(const CollectionCall& call);
absl::StatusOr<Json> DeleteFieldIndex(const CollectionCall& call);

// Qdrant's order_by: "key" or {"key", "direction": "asc" | "desc",
// "start_from": number or datetime}.
absl::StatusOr<OrderBy> ParseOrderBy(const Json& j, const std::string& where);

// A scroll body with "order_by" (query_form: the query API's scroll, from
// {"query": {"order_by": ...}}): records in that order, each with its
// "order_value"; no next_page_offset (a page starts from start_from), and
// an "offset" point id is refused as Qdrant does.
absl::StatusOr<Json> ScrollByOrder(const Collection& c, const Json& body, const OrderBy& order,
                                   bool query_form);

}  // namespace cairn

#endif  // CAIRN_SERVER_QDRANT_PAYLOAD_INDEX_H_
