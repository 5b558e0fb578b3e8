// `cairn bench kernels`: throughput of the distance kernels (index/distance.h)
// at every SIMD level this CPU can run.
//
// Each case scans a fixed query against N database vectors packed back to
// back, and reports GB/s of database-vector bytes streamed (N * dim *
// element size per pass; the query stays in L1 and is not counted). Two
// footprints per case:
//   "cache":  256 KiB of vectors, re-scanned, so they stay in L2 and the
//             kernel's arithmetic is the limit;
//   "memory": 256 MiB, far larger than any cache, so DRAM bandwidth is.
// Kernels: l2/dot x f32/u8/i8, and l2/dot of a float query against u8/i8
// vectors (f32_u8, f32_i8). Speedups are against the scalar level on the
// same footprint, kernel and dim.
#ifndef CAIRN_BENCH_KERNEL_BENCH_H_
#define CAIRN_BENCH_KERNEL_BENCH_H_

#include <cstdint>
#include <ostream>
#include <vector>

#include "absl/status/status.h"
#include "nlohmann/json_fwd.hpp"

namespace cairn {

struct KernelBenchOptions {
  // Vector dimensions to measure, each in [1, 2^20].
  std::vector<uint32_t> dims = {128, 384, 784};
  // Measured time per (footprint, kernel, dim, level), excluding warm-up. The
  // default run has 2 x 10 x 3 x 3 = 180 cases on an AVX-512 machine, about
  // 18 s plus setup.
  double seconds_per_case = 0.1;

  absl::Status Validate() const;
};

// Runs the benchmark, printing progress and a table to `out`. If `json` is
// not null, *json is replaced by an object with the settings and one entry
// per case under "results" (footprint, kernel, dim, level, gb_per_s,
// speedup_vs_scalar, ...). Single-threaded; allocates 256 MiB for the run.
// Errors: InvalidArgument for bad options, ResourceExhausted if the buffer
// cannot be allocated.
absl::Status RunKernelBench(const KernelBenchOptions& opts, std::ostream& out,
                            nlohmann::json* json);

}  // namespace cairn

#endif  // CAIRN_BENCH_KERNEL_BENCH_H_
