// Balanced k-means (SPANN's clustering): minimises
//   ||X - H C||^2 + lambda * sum_i (|X_i| - |X| / k)^2
// by Lloyd iterations whose assignment step adds a size penalty to each
// centroid's squared distance, so crowded clusters repel points and small ones
// attract them. Assignment is one SGEMM per chunk of points (OpenBLAS).
//
// HierarchicalBalancedClustering applies it recursively with about
// `branching` children per node until every leaf holds at most `max_leaf`
// points; the leaves' centroids become the index's heads.
//
// Deterministic for a given seed and input, whatever the thread count.
#ifndef CAIRN_INDEX_SPANN_BALANCED_KMEANS_H_
#define CAIRN_INDEX_SPANN_BALANCED_KMEANS_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace cairn {

struct BalancedKMeansOptions {
  uint32_t k = 32;
  uint32_t iterations = 12;
  // Penalty weight relative to the mean squared distance per point: lambda =
  // balance * mean_sq_dist / (n / k). 0 gives plain k-means.
  double balance = 1.0;
  uint64_t seed = 1;
  absl::Status Validate() const;
};

struct KMeansResult {
  std::vector<float> centroids;    // k * dim
  std::vector<uint32_t> assignment;  // per point
  std::vector<uint32_t> sizes;       // per cluster
};

// points: n rows of dim floats (row-major). k is clamped to n.
absl::StatusOr<KMeansResult> BalancedKMeans(const float* points, uint64_t n, uint32_t dim,
                                            const BalancedKMeansOptions& options);

struct HierarchicalOptions {
  uint32_t branching = 32;
  uint32_t max_leaf = 8;  // leaves hold at most this many points
  // Member heads: emit, per leaf, the member nearest its centroid instead of
  // the centroid.
  bool member_heads = false;
  uint32_t iterations = 10;
  double balance = 1.0;
  uint64_t seed = 1;
  int threads = 0;
  bool progress = true;
};

// Returns one vector per leaf (num_leaves * dim): its centroid, or its member
// nearest the centroid; in a deterministic order.
absl::StatusOr<std::vector<float>> HierarchicalBalancedClustering(const float* points,
                                                                  uint64_t n, uint32_t dim,
                                                                  const HierarchicalOptions& options);

}  // namespace cairn

#endif  // CAIRN_INDEX_SPANN_BALANCED_KMEANS_H_
