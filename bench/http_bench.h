// `cairn bench http`: the cost of serving search over HTTP/JSON. Serves an
// index built offline as a collection on a loopback port, measures the same
// queries in process (Collection::Search, one thread) and over HTTP at
// several numbers of keep-alive connections, and prints QPS and latency
// percentiles side by side: the difference is the HTTP and JSON overhead.
#ifndef CAIRN_BENCH_HTTP_BENCH_H_
#define CAIRN_BENCH_HTTP_BENCH_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace cairn {

struct HttpBenchOptions {
  std::string index;    // a `cairn build` directory
  std::string queries;  // query vectors file
  std::string work = "/var/tmp/cairn-http-bench";
  uint32_t k = 10;
  uint32_t max_postings = 16;
  std::vector<int> connections = {1, 8, 64};
  double seconds = 10;
  uint32_t max_queries = 2000;
  int workers = 0;  // server worker threads; 0 = one per core
  std::string json;  // also write the results here, if set
  absl::Status Validate() const;
};

absl::Status RunHttpBench(const HttpBenchOptions& options);

}  // namespace cairn

#endif  // CAIRN_BENCH_HTTP_BENCH_H_
