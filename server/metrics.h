// Prometheus counters and latency histograms per route, plus gauges the
// server fills in at scrape time (index sizes, RAM, WAL, background work).
//
// Thread-safety: Observe() from any thread; Render() from any thread.
#ifndef CAIRN_SERVER_METRICS_H_
#define CAIRN_SERVER_METRICS_H_

#include <array>
#include <cstdint>
#include <map>
#include <string>

#include "absl/synchronization/mutex.h"

namespace cairn {

class Metrics {
 public:
  static constexpr std::array<double, 12> kBucketsSeconds = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0};

  void Observe(const std::string& route, int status, double seconds);
  void AddSearch(uint64_t postings, uint64_t bytes);
  // The request counters and histograms, in Prometheus text format.
  std::string Render() const;

 private:
  struct Route {
    std::map<int, uint64_t> by_status;
    std::array<uint64_t, kBucketsSeconds.size()> buckets{};
    uint64_t count = 0;
    double sum = 0;
  };
  mutable absl::Mutex mu_;
  std::map<std::string, Route> routes_ ABSL_GUARDED_BY(mu_);
  uint64_t postings_read_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t bytes_read_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t searches_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace cairn

#endif  // CAIRN_SERVER_METRICS_H_
