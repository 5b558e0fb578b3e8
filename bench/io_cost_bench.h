// `cairn bench io-cost`: what one batch of reads costs on this machine, as a
// fixed part per batch plus a part per KiB. The two-step plan of coded
// search (index/coded_search.h) pays one batch more than a whole-posting
// read and saves bytes; it pays off only when the bytes saved cost more than
// the extra batch. On a VM whose doorbell and completion interrupt trap to
// the hypervisor the fixed part is large (we measured ~100 us here); on a
// bare-metal NVMe drive it is a few us. The ratio fixed / per-KiB is the
// planner's `batch_cost_kib` (index/spann_index.h).
//
// Method: batches of `batch` random page-aligned reads of each size, one
// batch in flight at a time, single-threaded, through the same BlockReader
// (io_uring, O_DIRECT) the search uses; least-squares fit of mean batch
// latency against KiB per batch.
#ifndef CAIRN_BENCH_IO_COST_BENCH_H_
#define CAIRN_BENCH_IO_COST_BENCH_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cairn {

struct IoCostOptions {
  std::string file;                          // read, never written
  std::vector<uint32_t> sizes_kib{4, 16, 64};  // per read
  uint32_t batch = 8;                        // reads per batch
  uint32_t batches = 2000;                   // per size (after 100 warm-up)
  uint64_t seed = 1;
  std::string json;
  absl::Status Validate() const;
};

struct LinearFit {
  double fixed = 0;     // intercept
  double per_unit = 0;  // slope
};

// Least squares y = fixed + per_unit * x. InvalidArgument with fewer than two
// distinct x.
absl::StatusOr<LinearFit> FitLine(const std::vector<double>& x, const std::vector<double>& y);

absl::Status RunIoCostBench(const IoCostOptions& options);

}  // namespace cairn

#endif  // CAIRN_BENCH_IO_COST_BENCH_H_
