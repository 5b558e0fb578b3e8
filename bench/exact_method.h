// Brute-force search over a copy of the base with the dispatched SIMD kernels
// (index/distance.h): the exact reference every other method is measured
// against, and a floor for "how slow is a full scan" on this machine.
#ifndef CAIRN_BENCH_EXACT_METHOD_H_
#define CAIRN_BENCH_EXACT_METHOD_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "bench/method.h"

namespace cairn {

class ExactMethod : public SearchMethod {
 public:
  std::string name() const override { return "exact"; }
  absl::Status Build(const FloatMatrix& base, Metric metric, int threads) override;
  std::vector<SearchParams> DefaultSweep() const override { return {SearchParams()}; }
  absl::Status SetParams(const SearchParams& params) override;
  void Search(const float* query, uint32_t k, int64_t* ids_out, float* dists_out) override;
  uint64_t ResidentBytes() const override;
  std::string Notes() const override;
  WorkCounters Counters() const override;

 private:
  Metric metric_ = Metric::kL2;
  FloatMatrix base_;  // normalised rows for kCosine
  std::atomic<uint64_t> distances_{0};
};

}  // namespace cairn

#endif  // CAIRN_BENCH_EXACT_METHOD_H_
