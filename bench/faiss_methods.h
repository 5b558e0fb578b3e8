// faiss (Debian libfaiss-dev 1.7.3) IVF indexes as benchmark adapters:
//   faiss-ivf-flat:       IndexIVFFlat over a flat quantizer.
//   faiss-ivf-pq-refine:  IndexIVFPQ wrapped in IndexRefineFlat (PQ codes pick
//                         k * k_factor candidates, full vectors re-rank them).
// Metrics: L2 uses METRIC_L2 and an IndexFlatL2 quantizer; inner product and
// cosine use METRIC_INNER_PRODUCT and an IndexFlatIP quantizer, cosine on
// normalised vectors.
//
// faiss throws; every call into it is caught here and becomes an
// absl::Status (or, in Search, an empty answer counted in Notes()).
// OpenMP: Build runs faiss with `threads` OpenMP threads (OpenBLAS with one,
// see faiss_support.h); Search pins
// the calling thread's OpenMP team size to 1 so a query never fans out.
#ifndef CAIRN_BENCH_FAISS_METHODS_H_
#define CAIRN_BENCH_FAISS_METHODS_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/method.h"

namespace faiss {
struct IndexIVFFlat;
struct IndexRefineFlat;
struct IndexIVFPQ;
}  // namespace faiss

namespace cairn {

struct IvfFlatOptions {
  uint32_t nlist = 0;      // 0: round(4 * sqrt(n))
  uint64_t max_train = 0;  // 0: min(n, max(100000, 40 * nlist))
  uint32_t seed = 1234;    // training sample and k-means seed
  // Build knobs "nlist", "max_train", "seed".
  static absl::StatusOr<IvfFlatOptions> FromParams(const SearchParams& params);
};

struct IvfPqRefineOptions {
  uint32_t nlist = 0;      // 0: round(4 * sqrt(n))
  uint32_t m = 0;          // sub-quantizers; 0: the divisor of dim nearest dim / 4
  uint32_t nbits = 8;      // bits per sub-quantizer code (lowered if the sample is tiny)
  uint64_t max_train = 0;  // as IvfFlatOptions
  uint32_t seed = 1234;
  bool precomputed_table = true;  // faiss's L2 residual table if it fits in 2 GiB
  // Build knobs "nlist", "m", "nbits", "max_train", "seed", "precomputed_table" (0/1).
  static absl::StatusOr<IvfPqRefineOptions> FromParams(const SearchParams& params);
};

class FaissIvfFlatMethod : public SearchMethod {
 public:
  explicit FaissIvfFlatMethod(IvfFlatOptions options = {});
  ~FaissIvfFlatMethod() override;

  std::string name() const override { return "faiss-ivf-flat"; }
  absl::Status Build(const FloatMatrix& base, Metric metric, int threads) override;
  // nprobe in {1, 2, 4, ..., 64}, those <= nlist.
  std::vector<SearchParams> DefaultSweep() const override;
  // Knob "nprobe" in [1, nlist].
  absl::Status SetParams(const SearchParams& params) override;
  void Search(const float* query, uint32_t k, int64_t* ids_out, float* dists_out) override;
  uint64_t ResidentBytes() const override;
  std::string Notes() const override;
  WorkCounters Counters() const override;

 private:
  const IvfFlatOptions options_;
  Metric metric_ = Metric::kL2;
  std::unique_ptr<faiss::IndexIVFFlat> index_;  // owns its quantizer
  uint32_t nprobe_ = 1;
  std::atomic<uint64_t> distances_{0};
  std::atomic<uint64_t> failed_searches_{0};
};

class FaissIvfPqRefineMethod : public SearchMethod {
 public:
  explicit FaissIvfPqRefineMethod(IvfPqRefineOptions options = {});
  ~FaissIvfPqRefineMethod() override;

  std::string name() const override { return "faiss-ivf-pq-refine"; }
  absl::Status Build(const FloatMatrix& base, Metric metric, int threads) override;
  // nprobe in {1, ..., 64} (<= nlist) x k_factor in {2, 8}.
  std::vector<SearchParams> DefaultSweep() const override;
  // Knobs "nprobe" in [1, nlist] and "k_factor" >= 1.
  absl::Status SetParams(const SearchParams& params) override;
  void Search(const float* query, uint32_t k, int64_t* ids_out, float* dists_out) override;
  uint64_t ResidentBytes() const override;
  std::string Notes() const override;
  WorkCounters Counters() const override;

 private:
  const IvfPqRefineOptions options_;
  Metric metric_ = Metric::kL2;
  std::unique_ptr<faiss::IndexRefineFlat> index_;  // owns the IVFPQ and its quantizer
  faiss::IndexIVFPQ* ivfpq_ = nullptr;             // index_->base_index
  uint32_t nprobe_ = 1;
  double k_factor_ = 1;
  std::atomic<uint64_t> distances_{0};
  std::atomic<uint64_t> code_distances_{0};
  std::atomic<uint64_t> failed_searches_{0};
};

}  // namespace cairn

#endif  // CAIRN_BENCH_FAISS_METHODS_H_
