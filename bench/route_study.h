// `cairn bench route-study`: the measurement that decides the per-query
// posting budget (docs/routing.md). For a built index, its base vectors and a
// query set with ground truth, and for calibration queries sampled from the
// base (each left out of its own exact ground truth, computed here):
//
//   1. the head order of each query: the `prefix` nearest heads from the head
//      graph with a wide beam (ef = head_ef);
//   2. where each true top-k neighbour first appears in that order (every
//      posting is read once, through PostingFileReader::ForEachRecord, to
//      map vectors to the postings that hold them), hence the oracle counts:
//      postings needed for all of the reachable true neighbours, for 9 of 10;
//   3. the routing features: entropy and top posterior of a Gaussian mixture
//      over the heads weighted by posting size (index/routing/gmm.h,
//      K = sqrt(heads) by default), the ratios d1/dk of the nearest head
//      distances (k = 2, 4, 8, 16) and d1 itself;
//   4. for each feature set (fixed, entropy, ratios, both, ...) and each
//      recall target, a budget rule calibrated on the calibration queries
//      (index/routing/budget_fit.h) applied to the test queries: recall reached,
//      mean postings and KiB, against the per-query oracle;
//   5. second-stage features after the first stage_postings postings (the
//      real searcher), and the same budgets over orders that use the
//      posting radius plus the set-cover bound (bench/route_orders.h).
//
// Recall here is exact without running the searcher: a posting scan
// computes exact distances, so the true neighbours among the postings read
// are the ones returned. A pass of the real searcher at a fixed count checks
// that the study's recall agrees.
#ifndef CAIRN_BENCH_ROUTE_STUDY_H_
#define CAIRN_BENCH_ROUTE_STUDY_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace cairn {

struct RouteStudyOptions {
  std::string index;              // a built index directory (L2)
  std::string base;               // the base vectors it was built from (calibration queries)
  std::string queries;            // test queries
  std::string gt;                 // their ground truth
  uint64_t max_queries = 0;       // first N test queries; 0: all
  uint32_t calib_queries = 2000;  // sampled from the base
  uint32_t k = 10;
  uint32_t prefix = 128;    // postings studied per query (head order length)
  uint32_t head_ef = 512;   // beam of the wide head search
  uint32_t components = 0;  // GMM K; 0: round(sqrt(heads))
  uint32_t buckets = 8;
  std::vector<double> targets{0.90, 0.95, 0.99};
  uint64_t seed = 7;
  // Second-stage features after this many postings (0: none); rules that
  // use them read at least this many.
  uint32_t stage_postings = 8;
  uint32_t check_postings = 16;  // fixed count of the real-searcher check; 0: none
  absl::Status Validate() const;
};

// Runs the study and prints its report to `out`.
absl::Status RunRouteStudy(const RouteStudyOptions& options, std::ostream& out);

}  // namespace cairn

#endif  // CAIRN_BENCH_ROUTE_STUDY_H_
