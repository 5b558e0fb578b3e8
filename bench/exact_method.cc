#include "bench/exact_method.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kernels/distance.h"

namespace cairn {

absl::Status ExactMethod::Build(const FloatMatrix& base, Metric metric, int threads) {
  if (base.rows == 0 || base.dim == 0) {
    return absl::InvalidArgumentError("exact: the base is empty");
  }
  metric_ = metric;
  base_ = base;
  if (metric_ == Metric::kCosine) {
    for (uint64_t i = 0; i < base_.rows; ++i) Normalize(base_.row(i), base_.dim);
  }
  distances_ = 0;
  return absl::OkStatus();
}

absl::Status ExactMethod::SetParams(const SearchParams& params) {
  return params.CheckKnown(name(), {});
}

void ExactMethod::Search(const float* query, uint32_t k, int64_t* ids_out, float* dists_out) {
  const DistanceKernels& kernels = Kernels();
  const uint32_t dim = base_.dim;
  // Per-thread scratch so the scan allocates nothing per query once warm.
  thread_local std::vector<float> normalized;
  thread_local std::vector<std::pair<float, int64_t>> heap;
  if (metric_ == Metric::kCosine) {
    normalized.assign(query, query + dim);
    Normalize(normalized.data(), dim);
    query = normalized.data();
  }
  // Max-heap of the k best (distance, id) so far; pair order breaks distance
  // ties by the smaller id, as the ground truth does.
  heap.clear();
  for (uint64_t i = 0; i < base_.rows; ++i) {
    float d;
    if (metric_ == Metric::kL2) {
      d = kernels.l2_f32(query, base_.row(i), dim);
    } else {
      d = -kernels.dot_f32(query, base_.row(i), dim);
    }
    std::pair<float, int64_t> candidate(d, static_cast<int64_t>(i));
    if (heap.size() < k) {
      heap.push_back(candidate);
      std::push_heap(heap.begin(), heap.end());
    } else if (candidate < heap.front()) {
      std::pop_heap(heap.begin(), heap.end());
      heap.back() = candidate;
      std::push_heap(heap.begin(), heap.end());
    }
  }
  std::sort_heap(heap.begin(), heap.end());
  for (uint32_t j = 0; j < k; ++j) {
    if (j < heap.size()) {
      ids_out[j] = heap[j].second;
      dists_out[j] = metric_ == Metric::kCosine ? 1.0f + heap[j].first : heap[j].first;
    } else {
      ids_out[j] = -1;
      dists_out[j] = std::numeric_limits<float>::infinity();
    }
  }
  distances_.fetch_add(base_.rows, std::memory_order_relaxed);
}

uint64_t ExactMethod::ResidentBytes() const { return base_.data.size() * sizeof(float); }

std::string ExactMethod::Notes() const {
  return absl::StrCat("brute force with the ", std::string(SimdLevelName(Kernels().level)),
                      " kernels over a float32 copy of the base; resident bytes = that copy",
                      metric_ == Metric::kCosine ? " (rows normalised)" : "");
}

WorkCounters ExactMethod::Counters() const {
  WorkCounters c;
  c.available = true;
  c.distances = distances_.load(std::memory_order_relaxed);
  return c;
}

}  // namespace cairn
