// The distance a collection is searched by. Every metric is expressed as a
// distance (smaller is closer) so search code has one ordering:
//   kL2:           squared Euclidean distance, sum (a_i - b_i)^2
//   kInnerProduct: negated dot product, -<a, b>
//   kCosine:       1 - <a, b> / (|a| |b|); indexes normalise vectors on write
//                  and then use -<a, b> internally (same order, cheaper).
#ifndef CAIRN_KERNELS_METRIC_H_
#define CAIRN_KERNELS_METRIC_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace cairn {

enum class Metric { kL2 = 0, kInnerProduct = 1, kCosine = 2 };

// Accepts "l2", "ip", "cosine" (and "euclid", "dot", case-insensitive).
absl::StatusOr<Metric> ParseMetric(std::string_view name);
const char* MetricName(Metric metric);  // "l2", "ip", "cosine"

}  // namespace cairn

#endif  // CAIRN_KERNELS_METRIC_H_
