// Summaries of measured samples, one definition for every report: `cairn
// search`, the benchmark harness, `cairn bench interleave`/`http`/`io-cost`
// and the server's /metrics. Percentiles are nearest-rank (the smallest value
// with at least p of the samples at or below it), so a p99 is always a value
// that was measured.
#ifndef CAIRN_COMMON_SUMMARY_H_
#define CAIRN_COMMON_SUMMARY_H_

#include <chrono>
#include <cstdint>
#include <vector>

namespace cairn {

struct LatencyMs {
  double mean = 0, p50 = 0, p99 = 0, p999 = 0;
};

// Nearest-rank percentile, p in [0, 1], of values sorted ascending; 0 when
// empty.
double NearestRankPercentile(const std::vector<double>& sorted, double p);

// Mean and nearest-rank p50/p99/p99.9 of samples in any order and any unit.
LatencyMs Summarize(std::vector<double> samples);

// Nanoseconds from a to b on the steady clock (the clock every timer here
// uses).
inline uint64_t Nanos(std::chrono::steady_clock::time_point a,
                      std::chrono::steady_clock::time_point b) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count());
}

}  // namespace cairn

#endif  // CAIRN_COMMON_SUMMARY_H_
