#include "server/metrics.h"

#include "absl/strings/str_cat.h"

namespace cairn {

void Metrics::Observe(const std::string& route, int status, double seconds) {
  absl::MutexLock lock(&mu_);
  Route& r = routes_[route];
  ++r.by_status[status];
  ++r.count;
  r.sum += seconds;
  for (size_t i = 0; i < kBucketsSeconds.size(); ++i) {
    if (seconds <= kBucketsSeconds[i]) ++r.buckets[i];
  }
}

void Metrics::AddSearch(uint64_t postings, uint64_t bytes) {
  absl::MutexLock lock(&mu_);
  ++searches_;
  postings_read_ += postings;
  bytes_read_ += bytes;
}

std::string Metrics::Render() const {
  absl::MutexLock lock(&mu_);
  std::string out;
  out += "# HELP cairn_http_requests_total HTTP requests by route and status code.\n";
  out += "# TYPE cairn_http_requests_total counter\n";
  for (const auto& [route, r] : routes_) {
    for (const auto& [status, n] : r.by_status) {
      absl::StrAppend(&out, "cairn_http_requests_total{route=\"", route, "\",status=\"", status,
                      "\"} ", n, "\n");
    }
  }
  out += "# HELP cairn_http_request_duration_seconds Time from request read to response ready.\n";
  out += "# TYPE cairn_http_request_duration_seconds histogram\n";
  for (const auto& [route, r] : routes_) {
    for (size_t i = 0; i < kBucketsSeconds.size(); ++i) {
      absl::StrAppend(&out, "cairn_http_request_duration_seconds_bucket{route=\"", route,
                      "\",le=\"", kBucketsSeconds[i], "\"} ", r.buckets[i], "\n");
    }
    absl::StrAppend(&out, "cairn_http_request_duration_seconds_bucket{route=\"", route,
                    "\",le=\"+Inf\"} ", r.count, "\n");
    absl::StrAppend(&out, "cairn_http_request_duration_seconds_sum{route=\"", route, "\"} ", r.sum,
                    "\n");
    absl::StrAppend(&out, "cairn_http_request_duration_seconds_count{route=\"", route, "\"} ",
                    r.count, "\n");
  }
  out += "# TYPE cairn_searches_total counter\n";
  absl::StrAppend(&out, "cairn_searches_total ", searches_, "\n");
  out += "# TYPE cairn_search_postings_read_total counter\n";
  absl::StrAppend(&out, "cairn_search_postings_read_total ", postings_read_, "\n");
  out += "# TYPE cairn_search_bytes_read_total counter\n";
  absl::StrAppend(&out, "cairn_search_bytes_read_total ", bytes_read_, "\n");
  return out;
}

}  // namespace cairn
