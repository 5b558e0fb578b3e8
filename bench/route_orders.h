// Posting orders for `cairn bench route-study` (bench/route_study.h): where a
// query's true neighbours first appear in a given order of its nearest
// heads, alternative orders that use each posting's radius, and the
// set-cover bound (the fewest postings of the prefix that hold the
// neighbours, in any order): together they say whether the budget should
// decide *how many* postings to read or *which*.
//
// Thread-safety: pure functions; the scratch belongs to the caller's thread.
#ifndef CAIRN_BENCH_ROUTE_ORDERS_H_
#define CAIRN_BENCH_ROUTE_ORDERS_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "index/routing/budget_fit.h"
#include "index/spann/head_index.h"
#include "index/spann/route_calibration.h"
#include "index/spann/spann_files.h"

namespace cairn {

// The alternative orders of the same prefix, by these scores of head h at
// true distance d with radius r (the farthest entry from h): d - r/4,
// d - r/2, d - r (the triangle bound), d / r.
const std::vector<std::string>& AlternativeOrderNames();
void AlternativeOrders(const std::vector<HeadHit>& hits, const int32_t* gt, uint32_t k,
                       const Membership& mem, const std::vector<DirectoryEntry>& dir,
                       OrderScratch* s, std::vector<RouteObservation>* out);

// Greedy set cover over the prefix's postings: postings (and KiB) until
// `needed` of the reachable true neighbours are held (needed = 0: all).
struct Cover {
  uint32_t postings = 0;
  float kib = 0;
};
Cover GreedyCover(const std::vector<HeadHit>& hits, const int32_t* gt, uint32_t k, uint32_t needed,
                  const Membership& mem, const std::vector<DirectoryEntry>& dir, OrderScratch* s);

}  // namespace cairn

#endif  // CAIRN_BENCH_ROUTE_ORDERS_H_
