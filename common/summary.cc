#include "common/summary.h"

#include <algorithm>
#include <cmath>

namespace cairn {

double NearestRankPercentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const size_t rank = static_cast<size_t>(std::ceil(p * sorted.size()));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

LatencyMs Summarize(std::vector<double> samples) {
  LatencyMs s;
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  double sum = 0;
  for (double v : samples) sum += v;
  s.mean = sum / samples.size();
  s.p50 = NearestRankPercentile(samples, 0.50);
  s.p99 = NearestRankPercentile(samples, 0.99);
  s.p999 = NearestRankPercentile(samples, 0.999);
  return s;
}

}  // namespace cairn
