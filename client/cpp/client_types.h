// The values of Cairn's C++ client: point ids, points, records, scored
// points, collection configs and requests, and their JSON forms (the REST
// API of docs/api.md). Payloads and filters are nlohmann::json in Qdrant's
// shapes; `null` means none.
//
// Thread-safety: plain values and pure functions.
#ifndef CAIRN_CLIENT_CPP_CLIENT_TYPES_H_
#define CAIRN_CLIENT_CPP_CLIENT_TYPES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace cairn::client {

using Json = nlohmann::json;

// An unsigned 64-bit number or a string (a UUID, or any string of 1..256
// bytes); 42 and "42" are different points.
using PointId = std::variant<uint64_t, std::string>;

Json PointIdToJson(const PointId& id);
absl::StatusOr<PointId> PointIdFromJson(const Json& j);
// "42" or the string itself; for messages and the CLI.
std::string PointIdToString(const PointId& id);
// Text from a command line or an ids file: up to 20 digits that fit in 64
// bits are the number, anything else non-empty the string.
absl::StatusOr<PointId> ParsePointIdText(std::string_view text);

enum class Distance { kCosine, kEuclid, kDot, kManhattan };
const char* DistanceName(Distance d);  // Qdrant's spelling: "Cosine", ...
absl::StatusOr<Distance> ParseDistance(std::string_view name);

struct Point {
  PointId id{};
  // Empty with has_vector = false: a point stored without a vector.
  std::vector<float> vector{};
  bool has_vector = true;
  Json payload{};  // an object, or null for none
};

struct Record {
  PointId id{};
  Json payload{};                              // null when not asked for
  std::optional<std::vector<float>> vector{};  // when asked for and present
};

struct ScoredPoint {
  PointId id{};
  double score = 0;
  Json payload{};
  std::optional<std::vector<float>> vector{};
};

struct CollectionConfig {
  uint32_t dim = 0;
  Distance distance = Distance::kCosine;
  // With `named`, the collection's one vector has this name ("" included).
  bool named = false;
  std::string vector_name{};
  // Cairn's search defaults and durability; unset: the server's defaults.
  std::optional<double> target_recall{};
  std::optional<uint32_t> max_postings{};
  std::optional<bool> sync_writes{};
  absl::Status Validate() const;
  Json ToJson() const;
};

struct CollectionInfo {
  uint64_t points_count = 0;
  uint64_t indexed_vectors_count = 0;
  uint32_t dim = 0;
  Distance distance = Distance::kCosine;
  std::optional<std::string> vector_name{};  // set for a named vector
  Json raw{};                                // the whole answer
  static absl::StatusOr<CollectionInfo> FromJson(const Json& j);
};

// A nearest-neighbour query (POST .../points/query). Exactly one of vector
// and id; `id` asks for the neighbours of that point's vector.
struct QueryRequest {
  std::optional<std::vector<float>> vector{};
  std::optional<PointId> id{};
  std::string vector_name{};  // `using`; empty: the default vector
  Json filter{};              // null: none
  uint32_t limit = 10;
  uint32_t offset = 0;
  bool with_payload = true;
  bool with_vector = false;
  std::optional<double> score_threshold{};
  std::optional<double> target_recall{};  // params.target_recall
  bool exact = false;                     // params.exact
  absl::Status Validate() const;
  Json ToJson() const;
};

struct ScrollRequest {
  Json filter{};  // null: every point
  uint32_t limit = 256;
  std::optional<PointId> offset{};  // the first id of the page
  bool with_payload = true;
  bool with_vector = false;
  Json ToJson() const;
};

struct ScrollPage {
  std::vector<Record> points{};
  std::optional<PointId> next_page_offset{};  // unset after the last page
};

// JSON of the answers, checked: a field of the wrong type is an Internal
// error naming it (the server answered something we cannot read).
absl::StatusOr<Record> RecordFromJson(const Json& j);
absl::StatusOr<ScoredPoint> ScoredPointFromJson(const Json& j);

// Appends {"points":[...]} for an upsert: vectors with the shortest digits
// that read back as the same float (std::to_chars), as {"name": [...]} when
// `vector_name` is set, payloads as JSON. A non-finite value is
// InvalidArgument naming the point.
absl::Status AppendUpsertBody(const Point* points, size_t n,
                              const std::optional<std::string>& vector_name, std::string* out);

}  // namespace cairn::client

#endif  // CAIRN_CLIENT_CPP_CLIENT_TYPES_H_
