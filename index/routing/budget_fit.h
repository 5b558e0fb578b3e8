// Fitting a per-query posting budget: given, per calibration query, where in
// the head order each true neighbour first appears and the query's routing
// features, how many postings must a rule read to reach a mean recall@k
// target? Pure functions over in-memory observations, so that tests can feed
// them made-up queries. The index's shipped budget (posting_budget.h) is
// fitted with these at build time; `cairn bench route-study` (bench/) uses
// them to compare feature sets.
//
// A budget rule has three parts, all fitted on calibration queries only:
//   score   least squares of log(oracle postings) on the chosen features
//           (an intercept and nothing else for the fixed rule);
//   buckets equal-count quantile bins of the calibration scores;
//   budget  postings per bucket: either the greedy allocation that reaches
//           the target at the least mean postings (kGreedy), or one quantile
//           of each bucket's oracle counts, the quantile chosen by bisection
//           (kQuantile, a simpler rule to ship).
//
// Thread-safety: pure functions.
#ifndef CAIRN_INDEX_ROUTING_BUDGET_FIT_H_
#define CAIRN_INDEX_ROUTING_BUDGET_FIT_H_

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace cairn {

inline constexpr uint32_t kUnreached = std::numeric_limits<uint32_t>::max();

struct RouteObservation {
  // Per true neighbour, sorted ascending: the 0-based position, in the head
  // order, of the first posting that holds it; kUnreached when no posting of
  // the studied prefix does.
  std::vector<uint32_t> first_rank;
  std::vector<double> features;  // RouteStudy's feature columns
  std::vector<float> cum_kib;    // cum_kib[n]: KiB of the first n postings
};

// Recall of the true neighbours when the first n postings are read.
double RecallAt(const RouteObservation& q, uint32_t n);
// Postings needed for `needed` of the true neighbours (kUnreached if the
// prefix holds fewer); needed = 0 means all that the prefix reaches.
uint32_t OracleCount(const RouteObservation& q, uint32_t needed);

enum class BudgetMethod { kGreedy, kQuantile };

struct BudgetRule {
  std::vector<size_t> features;     // columns used; empty: fixed budget
  std::vector<double> mean, scale;  // standardisation of those columns
  std::vector<double> coef;         // intercept, then one per feature
  std::vector<double> bounds;       // bucket upper bounds on the score (B - 1)
  std::vector<uint32_t> budget;     // postings per bucket (B)
  // kGreedy only: budget with the last raise taken in part (see
  // AllocateBudgets); the mean recall of the calibration queries is then the
  // target itself rather than above it.
  std::vector<double> fractional;
  uint32_t min_postings = 1;        // already read before the rule applies
  double calib_recall = 0;          // mean recall on the calibration queries
  double calib_r2 = 0;              // of the score against log(oracle count)

  double Score(const std::vector<double>& features) const;
  uint32_t Budget(const std::vector<double>& features) const;
};

struct BudgetOptions {
  double target = 0.95;
  uint32_t buckets = 8;
  uint32_t max_postings = 128;  // the studied prefix
  // A second-stage rule has read this many postings before it decides: no
  // bucket gets fewer.
  uint32_t min_postings = 1;
  BudgetMethod method = BudgetMethod::kGreedy;
};

// Fits a rule on `calib`. InvalidArgument when calib is empty or the target
// cannot be reached within max_postings.
absl::StatusOr<BudgetRule> CalibrateBudget(const std::vector<RouteObservation>& calib,
                                           const std::vector<size_t>& features,
                                           const BudgetOptions& options);

struct BudgetOutcome {
  double recall = 0;
  double mean_postings = 0;
  double mean_kib = 0;
};
BudgetOutcome EvaluateBudget(const BudgetRule& rule, const std::vector<RouteObservation>& queries);

// The least mean postings at which each group reads one shared count and
// the mean recall over all queries reaches `target` (greedy on the best
// recall gained per posting, jumps of any length, so a flat stretch of a
// group's recall curve does not stop it). budgets gets one count per group.
// False when the target is out of reach within max_postings.
// The last raise usually overshoots the target; `fractional` (if not null)
// gets the counts with that raise taken only in part (count + p * step, p
// the share of the raise that lands exactly on the target), for callers that
// read floor(count) postings or one more with probability frac(count).
bool AllocateBudgets(const std::vector<std::vector<const RouteObservation*>>& groups, double target,
                     uint32_t max_postings, std::vector<uint32_t>* budgets,
                     uint32_t min_postings = 1, std::vector<double>* fractional = nullptr);

// The per-query lower bound: each query reads its own count (one group per
// query), the mean recall reaching `target`.
BudgetOutcome PerQueryOracle(const std::vector<RouteObservation>& queries, double target,
                             uint32_t max_postings);

// Spearman rank correlation of two columns (average ranks for ties).
double Spearman(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace cairn

#endif  // CAIRN_INDEX_ROUTING_BUDGET_FIT_H_
