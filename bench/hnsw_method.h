// hnswlib's HNSW (Debian libhnswlib-dev headers) as a benchmark adapter. The
// distance function hnswlib calls is ours: it goes through Kernels(), so the
// graph search runs with this build's flags and runtime SIMD dispatch rather
// than whatever hnswlib's headers pick at compile time.
#ifndef CAIRN_BENCH_HNSW_METHOD_H_
#define CAIRN_BENCH_HNSW_METHOD_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bench/method.h"

namespace cairn {

struct HnswOptions {
  uint32_t m = 16;                 // links per node above level 0 (2*m at level 0)
  uint32_t ef_construction = 200;  // candidate list size while inserting
  uint32_t seed = 100;             // level generator seed
  absl::Status Validate() const;
  // Build knobs "M", "ef_construction" (or "efc") and "seed" override the
  // defaults; other knobs are an error.
  static absl::StatusOr<HnswOptions> FromParams(const SearchParams& params);
};

class HnswMethod : public SearchMethod {
 public:
  explicit HnswMethod(HnswOptions options = {});
  ~HnswMethod() override;

  std::string name() const override { return "hnswlib"; }
  absl::Status Build(const FloatMatrix& base, Metric metric, int threads) override;
  // ef in {10, 20, 40, 80, 160, 320}.
  std::vector<SearchParams> DefaultSweep() const override;
  // Knob "ef" (>= 1). hnswlib searches with max(ef, k).
  absl::Status SetParams(const SearchParams& params) override;
  void Search(const float* query, uint32_t k, int64_t* ids_out, float* dists_out) override;
  uint64_t ResidentBytes() const override;
  std::string Notes() const override;
  WorkCounters Counters() const override;

 private:
  struct State;  // hnswlib types stay in the .cc: its header defines non-inline functions

  const HnswOptions options_;
  Metric metric_ = Metric::kL2;
  uint32_t dim_ = 0;
  std::unique_ptr<State> state_;
  std::atomic<uint64_t> search_distances_{0};
  std::atomic<uint64_t> failed_searches_{0};
};

}  // namespace cairn

#endif  // CAIRN_BENCH_HNSW_METHOD_H_
