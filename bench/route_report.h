// What `cairn bench route-study` measured (bench/route_study.h) and its
// printed report: oracle distributions, fixed-count curve, feature
// correlations, and per recall target the postings each budget rule reads.
#ifndef CAIRN_BENCH_ROUTE_REPORT_H_
#define CAIRN_BENCH_ROUTE_REPORT_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "index/routing/budget_fit.h"
#include "bench/route_orders.h"
#include "bench/route_study.h"
#include "index/routing/gmm.h"

namespace cairn {

// The feature columns of RouteObservation::features, in order.
const std::vector<std::string>& RouteFeatureNames();

struct RouteStudyData {
  std::vector<RouteObservation> test, calib;
  // Per AlternativeOrderNames() entry, the same queries in that order.
  std::vector<std::vector<RouteObservation>> alt_test, alt_calib;
  std::vector<Cover> cover_all, cover_nine;  // test queries
  GmmFitReport gmm_report;
  uint32_t components = 0, heads = 0, calib_skipped = 0;
  uint64_t manifest_entries = 0;
  double membership_s = 0, gmm_s = 0, calib_gt_s = 0, observe_s = 0, stage_s = 0;
  double check_recall = -1, check_kib = 0;  // the real searcher; -1: not run
};

void PrintRouteStudy(const RouteStudyOptions& o, const RouteStudyData& d, std::ostream& out);

}  // namespace cairn

#endif  // CAIRN_BENCH_ROUTE_REPORT_H_
