// The end of `cairn bench soak` (bench/soak_bench.h): control requests, the
// consistency check against what the workers know, and the verdict.
#ifndef CAIRN_BENCH_SOAK_CHECK_H_
#define CAIRN_BENCH_SOAK_CHECK_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bench/soak_bench.h"
#include "bench/soak_worker.h"
#include "client/cpp/http_connection.h"
#include "nlohmann/json.hpp"

namespace cairn {

// A control request: the "result" of a 2xx answer; an error naming the
// request for a transport error, another status or an unreadable body.
absl::StatusOr<nlohmann::json> SoakCall(client::HttpConnection& conn, const char* method,
                                        const std::string& target, const std::string& body = "",
                                        std::chrono::milliseconds timeout = {});
// GET /collections/NAME's result.points_count.
absl::StatusOr<uint64_t> SoakPointsCount(client::HttpConnection& conn, const std::string& name);

// After the workers stopped: waits until points_count settles (or lies in
// the expected range), compares it with the live points the workers know of
// plus `baseline` other points, and searches a sample of live points with
// their own vectors. Fills *c; an error when a request of the check failed.
absl::Status CheckSoakConsistency(client::HttpConnection& conn, const SoakOptions& options,
                                  const std::vector<std::unique_ptr<SoakWorker>>& workers,
                                  uint64_t baseline, SoakConsistency* c);

// Appends to report->failures every reason the run failed: 5xx or transport
// errors, a count off, a sampled point not found, a retrieve mismatch.
void JudgeSoak(SoakReport* report);

}  // namespace cairn

#endif  // CAIRN_BENCH_SOAK_CHECK_H_
