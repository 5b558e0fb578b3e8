// Cairn's own SPANN index as a benchmark method: Build() writes the base to
// an fbin file in a scratch directory on the SSD (/var/tmp unless
// CAIRN_BENCH_DIR says otherwise), runs the bulk builder on it and opens the
// index; Search() goes through the real disk path (io_uring, O_DIRECT), so the
// page cache never serves postings.
#ifndef CAIRN_BENCH_CAIRN_METHOD_H_
#define CAIRN_BENCH_CAIRN_METHOD_H_

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "bench/method.h"
#include "index/spann/spann_builder.h"
#include "index/spann/spann_index.h"

namespace cairn {

struct CairnMethodOptions {
  SpannBuildOptions build;  // metric and threads come from Build()
  static absl::StatusOr<CairnMethodOptions> FromParams(const SearchParams& params);
};

class CairnMethod : public SearchMethod {
 public:
  explicit CairnMethod(CairnMethodOptions options) : options_(std::move(options)) {}
  ~CairnMethod() override;
  // "cairn", or "cairn-<codes>" for an index built with binary codes.
  std::string name() const override;
  absl::Status Build(const FloatMatrix& base, Metric metric, int threads) override;
  std::vector<SearchParams> DefaultSweep() const override;
  absl::Status SetParams(const SearchParams& params) override;
  void Search(const float* query, uint32_t k, int64_t* ids_out, float* dists_out) override;
  uint64_t ResidentBytes() const override;
  std::string Notes() const override;
  WorkCounters Counters() const override;
  uint64_t DiskBytes() const override;

 private:
  SearchContext* ContextForThisThread();

  CairnMethodOptions options_;
  std::string dir_;
  std::unique_ptr<SpannIndex> index_;
  SpannSearchParams params_;
  SpannBuildReport build_report_;
  std::mutex contexts_mu_;
  std::map<std::thread::id, std::unique_ptr<SearchContext>> contexts_;
  std::atomic<uint64_t> distances_{0}, lists_{0}, bytes_{0}, errors_{0};
  std::atomic<uint64_t> two_step_{0}, reranked_{0};
};

}  // namespace cairn

#endif  // CAIRN_BENCH_CAIRN_METHOD_H_
