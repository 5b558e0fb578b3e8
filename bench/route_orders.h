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

#include "bench/route_budget.h"
#include "index/spann/head_index.h"
#include "index/spann/spann_files.h"

namespace cairn {

// Vector id -> the heads whose postings hold it (compressed rows).
struct Membership {
  std::vector<uint64_t> start;  // num_vectors + 1
  std::vector<uint32_t> heads;
  std::span<const uint32_t> of(uint32_t id) const {
    return {heads.data() + start[id], heads.data() + start[id + 1]};
  }
};

// `position` is per-head scratch (num_heads entries, all kUnreached on entry
// and on return).
struct OrderScratch {
  std::vector<uint32_t> position;
  std::vector<std::pair<float, uint32_t>> keyed;
  std::vector<uint32_t> order;
};

// first_rank and cum_kib of `q` for the heads in `order` (nearest first);
// gt holds k ids, -1 past the end. Features are left empty.
void RankInOrder(const std::vector<uint32_t>& order, const int32_t* gt, uint32_t k,
                 const Membership& mem, const std::vector<DirectoryEntry>& dir, OrderScratch* s,
                 RouteObservation* q);

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
