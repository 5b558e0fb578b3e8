// A collection's configuration and its file, `<dir>/collection.json`: a
// record file (magic CAIRNCOL, docs/formats.md "Collection config") holding
// a JSON object.
//
// Format versions: 1 had size, distance, max_postings and sync_writes. 2 adds
// `vector_name` (present only for a collection created with a map of named
// vectors) and the Manhattan distance, and marks a collection whose points
// may have no vector (an empty vector in the point store). A binary that
// knows only version 1 refuses version 2 rather than misreading such points,
// so Collection::Open rewrites a version-1 file as version 2 before the
// first write can store one. 3 adds `sparse_vectors`, whose points' vector
// records use the tagged encoding of server/point_vectors.h; a collection
// without sparse vectors is still written as version 2, so that an older
// binary keeps opening it.
#ifndef CAIRN_SERVER_COLLECTION_CONFIG_H_
#define CAIRN_SERVER_COLLECTION_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/env.h"

namespace cairn {

// Qdrant's distances. Euclid and Manhattan are distances (lower is better,
// a score_threshold is an upper bound); Cosine and Dot are similarities.
enum class VectorDistance { kCosine, kEuclid, kDot, kManhattan };
absl::StatusOr<VectorDistance> ParseDistance(const std::string& name);  // Qdrant's spelling
const char* DistanceName(VectorDistance d);
inline bool LowerIsBetter(VectorDistance d) {
  return d == VectorDistance::kEuclid || d == VectorDistance::kManhattan;
}

// Qdrant's sparse vector modifier: with kIdf a query's weight on dimension
// d is multiplied by ln(1 + (N - df + 0.5) / (df + 0.5)), N the points that
// have this sparse vector and df those with d among their indices, both
// counted live at query time (server/sparse_index.h).
enum class SparseModifier { kNone, kIdf };

struct SparseVectorConfig {
  std::string name;
  SparseModifier modifier = SparseModifier::kNone;
  friend bool operator==(const SparseVectorConfig&, const SparseVectorConfig&) = default;
};

struct CollectionConfig {
  uint32_t size = 0;
  VectorDistance distance = VectorDistance::kCosine;
  // The dense vector's name when the collection was created with Qdrant's
  // map form ({"vectors": {"<name>": {...}}}, "" included); nullopt for the
  // unnamed form ({"vectors": {"size", "distance"}}). It decides which names
  // requests may use and the shape answers take (api.md, "Named vectors").
  std::optional<std::string> vector_name;
  // Named sparse vectors ({"sparse_vectors": {"<name>": {...}}}), in name
  // order; a point's record stores them by their position here.
  std::vector<SparseVectorConfig> sparse_vectors;
  // Search defaults when a request names none. With target_recall > 0 and
  // a posting budget (the live index fits one once it holds enough
  // vectors) a search aims at that mean recall@k; otherwise it reads
  // max_postings postings. The default is the fixed count: a budget aims at
  // a mean recall over queries like the stored vectors and does not promise
  // that every stored vector is the top hit of its own vector, which the
  // fixed 32 keeps (tests/crash/disk_full_test.py found 1-6 of 300 points
  // missed at target 0.95 after live splits). Both change under PATCH.
  double target_recall = 0;
  uint32_t max_postings = 32;
  bool sync_writes = true;  // fsync before answering writes
};

inline constexpr uint32_t kCollectionConfigVersion = 3;
// The version a config is written at: 3 only when it has sparse vectors.
inline uint32_t ConfigVersionFor(const CollectionConfig& c) {
  return c.sparse_vectors.empty() ? 2 : 3;
}
// The position of sparse vector `name` in c.sparse_vectors, or -1.
int SparseSlotOf(const CollectionConfig& c, const std::string& name);

// Replaces `<dir>/collection.json` (atomically) with `c` at the current
// version.
absl::Status WriteConfigFile(Env* env, const std::string& dir, const CollectionConfig& c);
// Reads and checks it; *version (if not null) gets the file's version.
// DataLoss naming the file for a damaged or malformed one.
absl::StatusOr<CollectionConfig> ReadConfigFile(Env* env, const std::string& dir,
                                                uint32_t* version = nullptr);

}  // namespace cairn

#endif  // CAIRN_SERVER_COLLECTION_CONFIG_H_
