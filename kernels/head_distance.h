// Distances between vectors and heads as the head graph sees them (squared
// L2, or -dot of unit vectors for cosine / plain -dot for inner product) and
// as the RNG rule compares them (true distances: L2, or the L2 of unit
// vectors for cosine). Shared by the bulk builder and the live updater so
// that both place vectors by the same rule.
#ifndef CAIRN_KERNELS_HEAD_DISTANCE_H_
#define CAIRN_KERNELS_HEAD_DISTANCE_H_

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/distance.h"
#include "kernels/metric.h"

namespace cairn {

inline float TrueDistance(Metric metric, float graph_distance) {
  if (metric == Metric::kL2) return std::sqrt(std::max(0.0f, graph_distance));
  if (metric == Metric::kCosine) return std::sqrt(std::max(0.0f, 2.0f + 2.0f * graph_distance));
  return graph_distance;
}

inline float GraphDistance(Metric metric, const float* a, const float* b, uint32_t dim) {
  return metric == Metric::kL2 ? Kernels().l2_f32(a, b, dim) : -Kernels().dot_f32(a, b, dim);
}

}  // namespace cairn

#endif  // CAIRN_KERNELS_HEAD_DISTANCE_H_
