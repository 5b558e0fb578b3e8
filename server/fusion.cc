#include "server/fusion.h"

#include <algorithm>
#include <cmath>

#include "absl/container/flat_hash_map.h"

namespace cairn {

namespace {

// Sums per-point contributions in first-appearance order, then sorts by the
// sum, best first, stably.
class Accumulator {
 public:
  void Add(const ScoredPoint& p, double score) {
    auto [it, inserted] = index_.try_emplace(p.id.Key(), out_.size());
    if (inserted) {
      out_.push_back(p);
      sums_.push_back(0);
    }
    sums_[it->second] += score;
  }
  std::vector<ScoredPoint> Take() {
    std::vector<size_t> order(out_.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return sums_[a] > sums_[b]; });
    std::vector<ScoredPoint> sorted;
    sorted.reserve(order.size());
    for (size_t i : order) {
      sorted.push_back(std::move(out_[i]));
      sorted.back().score = static_cast<float>(sums_[i]);
    }
    return sorted;
  }

 private:
  absl::flat_hash_map<std::string, size_t> index_;
  std::vector<ScoredPoint> out_;
  std::vector<double> sums_;
};

}  // namespace

std::vector<ScoredPoint> FuseRrf(const std::vector<RankedList>& lists, uint32_t k) {
  Accumulator acc;
  for (const RankedList& list : lists) {
    for (size_t r = 0; r < list.points.size(); ++r) {
      acc.Add(list.points[r], 1.0 / (static_cast<double>(r) + k));
    }
  }
  return acc.Take();
}

std::vector<ScoredPoint> FuseDbsf(const std::vector<RankedList>& lists) {
  Accumulator acc;
  for (const RankedList& list : lists) {
    const size_t n = list.points.size();
    if (n == 0) continue;
    double mean = 0, m2 = 0;  // Welford
    for (size_t i = 0; i < n; ++i) {
      const double x = list.points[i].score;
      const double delta = x - mean;
      mean += delta / static_cast<double>(i + 1);
      m2 += delta * (x - mean);
    }
    const double sd = n > 1 ? std::sqrt(m2 / static_cast<double>(n - 1)) : 0.0;
    const double low = mean - 3 * sd, high = mean + 3 * sd;
    for (const ScoredPoint& p : list.points) {
      double s = (n == 1 || high == low) ? 0.5 : (p.score - low) / (high - low);
      if (list.lower_is_better) s = 1.0 - s;
      acc.Add(p, s);
    }
  }
  return acc.Take();
}

}  // namespace cairn
