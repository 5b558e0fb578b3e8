// Fitting per-query posting budgets (index/routing/budget_fit.h): recall and
// oracle counts of one query, the greedy allocation against an exhaustive
// search over small problems, both calibration methods, the per-query oracle
// and the rank correlation.
#include "index/routing/budget_fit.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "common/random.h"

namespace cairn {
namespace {

RouteObservation Obs(std::vector<uint32_t> ranks, std::vector<double> features = {},
                     uint32_t prefix = 16) {
  RouteObservation q;
  std::sort(ranks.begin(), ranks.end());
  q.first_rank = std::move(ranks);
  q.features = std::move(features);
  q.cum_kib.resize(prefix + 1);
  for (uint32_t n = 0; n <= prefix; ++n) q.cum_kib[n] = 4.0f * n;
  return q;
}

TEST(BudgetFitTest, RecallAndOracleCountsOfOneQuery) {
  const RouteObservation q = Obs({0, 0, 2, 5, kUnreached});
  EXPECT_DOUBLE_EQ(RecallAt(q, 0), 0.0);
  EXPECT_DOUBLE_EQ(RecallAt(q, 1), 0.4);
  EXPECT_DOUBLE_EQ(RecallAt(q, 3), 0.6);
  EXPECT_DOUBLE_EQ(RecallAt(q, 100), 0.8);  // one neighbour in no posting
  EXPECT_EQ(OracleCount(q, 0), 6u);         // all that the prefix reaches
  EXPECT_EQ(OracleCount(q, 2), 1u);
  EXPECT_EQ(OracleCount(q, 3), 3u);
  EXPECT_EQ(OracleCount(q, 5), kUnreached);
  EXPECT_EQ(OracleCount(Obs({}), 0), 1u);
  EXPECT_DOUBLE_EQ(RecallAt(Obs({}), 4), 0.0);
}

// The fewest total postings (sum over groups of size x count) reaching
// `target`, by trying every allocation.
double ExhaustiveCost(const std::vector<std::vector<const RouteObservation*>>& groups,
                      double target, uint32_t max_n, double total) {
  double best = INFINITY;
  std::vector<uint32_t> n(groups.size(), 1);
  std::function<void(size_t)> rec = [&](size_t g) {
    if (g == groups.size()) {
      double recall = 0, cost = 0;
      for (size_t i = 0; i < groups.size(); ++i) {
        for (const RouteObservation* q : groups[i]) recall += RecallAt(*q, n[i]);
        cost += groups[i].size() * double(n[i]);
      }
      if (recall / total >= target - 1e-9) best = std::min(best, cost);
      return;
    }
    for (uint32_t c = 1; c <= max_n; ++c) {
      n[g] = c;
      rec(g + 1);
    }
  };
  rec(0);
  return best;
}

TEST(BudgetFitTest, GreedyAllocationReachesTheTargetNearTheExhaustiveOptimum) {
  Rng rng(3);
  for (int trial = 0; trial < 30; ++trial) {
    SCOPED_TRACE(trial);
    std::vector<RouteObservation> qs;
    for (int i = 0; i < 30; ++i) {
      std::vector<uint32_t> ranks;
      const uint32_t spread = 1 + static_cast<uint32_t>(rng.Below(8));
      for (int j = 0; j < 4; ++j) ranks.push_back(static_cast<uint32_t>(rng.Below(spread)));
      qs.push_back(Obs(ranks, {}, 8));
    }
    std::vector<std::vector<const RouteObservation*>> groups(3);
    for (size_t i = 0; i < qs.size(); ++i) groups[i % 3].push_back(&qs[i]);
    const double target = 0.7 + 0.01 * trial;
    std::vector<uint32_t> budgets;
    ASSERT_TRUE(AllocateBudgets(groups, target, 8, &budgets));
    double recall = 0, cost = 0;
    for (size_t g = 0; g < 3; ++g) {
      for (const RouteObservation* q : groups[g]) recall += RecallAt(*q, budgets[g]);
      cost += groups[g].size() * double(budgets[g]);
    }
    EXPECT_GE(recall / qs.size(), target - 1e-9);
    const double best = ExhaustiveCost(groups, target, 8, qs.size());
    // Greedy on the best rate is not always optimal; it must stay close.
    EXPECT_LE(cost, best * 1.25 + 10) << "greedy " << cost << " optimum " << best;
  }
  // Out of reach within the prefix: false.
  std::vector<RouteObservation> far{Obs({9, 9}, {}, 8)};
  std::vector<std::vector<const RouteObservation*>> one{{&far[0]}};
  std::vector<uint32_t> budgets;
  EXPECT_FALSE(AllocateBudgets(one, 0.5, 8, &budgets));
}

TEST(BudgetFitTest, BothMethodsReachTheTargetAndUseTheFeature) {
  // A feature that says how spread a query's neighbours are.
  Rng rng(5);
  std::vector<RouteObservation> qs;
  for (int i = 0; i < 800; ++i) {
    const uint32_t spread = 1 + static_cast<uint32_t>(rng.Below(24));
    std::vector<uint32_t> ranks;
    for (int j = 0; j < 10; ++j) ranks.push_back(static_cast<uint32_t>(rng.Below(spread)));
    qs.push_back(Obs(ranks, {std::log(spread) + 0.1 * rng.Uniform()}, 32));
  }
  for (BudgetMethod method : {BudgetMethod::kGreedy, BudgetMethod::kQuantile}) {
    BudgetOptions o;
    o.target = 0.9;
    o.max_postings = 32;
    o.method = method;
    auto fixed = CalibrateBudget(qs, {}, o);
    auto rule = CalibrateBudget(qs, {0}, o);
    ASSERT_TRUE(fixed.ok() && rule.ok());
    EXPECT_EQ(fixed->budget.size(), 1u);
    EXPECT_GT(rule->calib_r2, 0.5);
    const BudgetOutcome a = EvaluateBudget(*fixed, qs), b = EvaluateBudget(*rule, qs);
    EXPECT_GE(a.recall, 0.9 - 1e-9);
    EXPECT_GE(b.recall, 0.9 - 1e-9);
    EXPECT_LT(b.mean_postings, a.mean_postings);
    EXPECT_DOUBLE_EQ(b.mean_kib, 4.0 * b.mean_postings);
  }
  // The per-query oracle is a lower bound on both.
  const BudgetOutcome oracle = PerQueryOracle(qs, 0.9, 32);
  BudgetOptions o;
  o.target = 0.9;
  o.max_postings = 32;
  auto rule = CalibrateBudget(qs, {0}, o);
  ASSERT_TRUE(rule.ok());
  EXPECT_GE(oracle.recall, 0.9 - 1e-9);
  EXPECT_LE(oracle.mean_postings, EvaluateBudget(*rule, qs).mean_postings);
  EXPECT_FALSE(CalibrateBudget({}, {}, o).ok());
}

TEST(BudgetFitTest, SpearmanRanksAndTies) {
  EXPECT_NEAR(Spearman({1, 2, 3, 4}, {10, 20, 30, 40}), 1.0, 1e-12);
  EXPECT_NEAR(Spearman({1, 2, 3, 4}, {4, 3, 2, 1}), -1.0, 1e-12);
  EXPECT_NEAR(Spearman({1, 2, 3, 4}, {1, 100, 2, 3}), 0.4, 1e-12);
  EXPECT_DOUBLE_EQ(Spearman({1, 1, 1}, {1, 2, 3}), 0.0);  // a constant column
}

}  // namespace
}  // namespace cairn
