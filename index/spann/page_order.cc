#include "index/spann/page_order.h"

#include <algorithm>
#include <numeric>
#include <utility>

#include "kernels/distance.h"

namespace cairn {
namespace {

// The entry of [begin, end) farthest from `from`.
uint32_t Farthest(const float* vectors, uint32_t dim, const uint32_t* begin, const uint32_t* end,
                  const float* from) {
  uint32_t best = *begin;
  float best_d = -1;
  for (const uint32_t* p = begin; p != end; ++p) {
    const float d = Kernels().l2_f32(vectors + uint64_t{*p} * dim, from, dim);
    if (d > best_d) best_d = d, best = *p;
  }
  return best;
}

void Bisect(const float* vectors, uint32_t dim, uint32_t group, uint32_t* begin, uint32_t* end,
            std::vector<float>* scratch, std::vector<std::pair<float, uint32_t>>* keyed) {
  const uint32_t n = static_cast<uint32_t>(end - begin);
  if (n <= group || n <= 2) return;
  // A cheap principal direction: from an extreme entry to the entry
  // farthest from it (two passes, no iteration).
  std::vector<float>& mean = *scratch;
  mean.assign(dim, 0.0f);
  for (const uint32_t* p = begin; p != end; ++p) {
    const float* v = vectors + uint64_t{*p} * dim;
    for (uint32_t d = 0; d < dim; ++d) mean[d] += v[d];
  }
  for (float& m : mean) m /= static_cast<float>(n);
  const uint32_t a = Farthest(vectors, dim, begin, end, mean.data());
  const uint32_t b = Farthest(vectors, dim, begin, end, vectors + uint64_t{a} * dim);
  const float* va = vectors + uint64_t{a} * dim;
  const float* vb = vectors + uint64_t{b} * dim;
  keyed->clear();
  for (const uint32_t* p = begin; p != end; ++p) {
    const float* v = vectors + uint64_t{*p} * dim;
    float key = 0;
    for (uint32_t d = 0; d < dim; ++d) key += (v[d] - va[d]) * (vb[d] - va[d]);
    keyed->push_back({key, *p});
  }
  // Stable tie-break on the entry index keeps the order deterministic.
  std::sort(keyed->begin(), keyed->end());
  for (uint32_t i = 0; i < n; ++i) begin[i] = (*keyed)[i].second;
  // Cut at a page boundary near the middle, so pages never straddle halves.
  const uint32_t g = std::max<uint32_t>(group, 1);
  uint32_t cut = ((n / 2 + g - 1) / g) * g;
  if (cut >= n) cut = ((n - 1) / g) * g;
  if (cut == 0) return;
  Bisect(vectors, dim, group, begin, begin + cut, scratch, keyed);
  Bisect(vectors, dim, group, begin + cut, end, scratch, keyed);
}

}  // namespace

std::vector<uint32_t> PageLocalityOrder(const float* vectors, uint32_t n, uint32_t dim,
                                        uint32_t group) {
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  if (group <= 1) group = 1;
  std::vector<float> scratch;
  std::vector<std::pair<float, uint32_t>> keyed;
  keyed.reserve(n);
  Bisect(vectors, dim, group, order.data(), order.data() + n, &scratch, &keyed);
  return order;
}

}  // namespace cairn
