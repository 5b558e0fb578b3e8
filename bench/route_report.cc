#include "bench/route_report.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/summary.h"

namespace cairn {
namespace {

struct FeatureSet {
  const char* name;
  std::vector<size_t> columns;
  bool stage = false;  // uses second-stage columns: reads stage_postings first
};

// The candidate rules: entropy alone, ratios alone, both, and neighbours.
const std::vector<FeatureSet>& FeatureSets() {
  static const auto* sets = new std::vector<FeatureSet>{
      {"fixed", {}},
      {"entropy T=1", {0}},
      {"entropy tempered", {1, 2, 3}},
      {"ratios d1/dk", {5, 6, 7, 8}},
      {"d1/d16", {8}},
      {"d1/radius", {10}},
      {"entropy+ratios", {1, 2, 3, 5, 6, 7, 8}},
      {"ratios+d1/radius", {5, 6, 7, 8, 10}},
      {"all", {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
      {"2nd stage: D10/d1", {11}, true},
      {"2nd stage: log cands", {13}, true},
      {"2nd stage: all four", {11, 12, 13, 14}, true},
      {"2nd stage + ratios", {5, 6, 7, 8, 10, 11, 12, 13, 14}, true},
  };
  return *sets;
}

std::string Distribution(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  double mean = 0;
  for (double x : v) mean += x / v.size();
  return absl::StrFormat("%6.1f %4.0f %4.0f %4.0f %4.0f %4.0f %4.0f %4.0f", mean,
                         NearestRankPercentile(v, 0.10), NearestRankPercentile(v, 0.25),
                         NearestRankPercentile(v, 0.50), NearestRankPercentile(v, 0.75),
                         NearestRankPercentile(v, 0.90), NearestRankPercentile(v, 0.99),
                         v.empty() ? 0.0 : v.back());
}

void PrintOracle(const char* name, const std::vector<RouteObservation>& qs, uint32_t prefix,
                 std::ostream& out) {
  std::vector<double> all, nine;
  double unreached = 0, neighbours = 0, ceiling = 0;
  uint32_t nine_missing = 0;
  for (const auto& q : qs) {
    all.push_back(OracleCount(q, 0));
    const uint32_t n9 = OracleCount(q, std::min<uint32_t>(9, q.first_rank.size()));
    if (n9 == kUnreached) ++nine_missing;
    nine.push_back(n9 == kUnreached ? prefix : n9);
    for (uint32_t r : q.first_rank) unreached += r == kUnreached;
    neighbours += q.first_rank.size();
    ceiling += RecallAt(q, prefix) / qs.size();
  }
  out << absl::StrFormat("  %-6s all reachable: %s\n", name, Distribution(all));
  out << absl::StrFormat("  %-6s 9 of 10:       %s  (%u queries need more than %u)\n", name,
                         Distribution(nine), nine_missing, prefix);
  out << absl::StrFormat(
      "  %-6s recall@k ceiling at %u postings %.4f; %.2f%% of true "
      "neighbours in none of them\n",
      name, prefix, ceiling, 100.0 * unreached / std::max(1.0, neighbours));
}

void PrintFixedCurve(const RouteStudyData& d, uint32_t prefix, std::ostream& out) {
  out << "\nFixed count, head order of the wide beam:\n";
  out << "  postings  test recall  calib recall  test KiB/q\n";
  for (uint32_t n : {1, 2, 4, 6, 8, 12, 16, 20, 24, 32, 48, 64, 96, 128, 192, 256}) {
    if (n > prefix) break;
    double rt = 0, rc = 0, kib = 0;
    for (const auto& q : d.test) {
      rt += RecallAt(q, n) / d.test.size();
      kib += q.cum_kib[std::min<size_t>(n, q.cum_kib.size() - 1)] / d.test.size();
    }
    for (const auto& q : d.calib) rc += RecallAt(q, n) / d.calib.size();
    out << absl::StrFormat("  %8u  %11.4f  %12.4f  %10.0f\n", n, rt, rc, kib);
  }
}

void PrintCorrelations(const RouteStudyData& d, uint32_t prefix, std::ostream& out) {
  out << "\nSpearman correlation of each feature with log(oracle postings, all reachable):\n";
  out << "  feature          test     calib    test mean  calib mean\n";
  const size_t columns = d.test.empty() ? 0 : d.test[0].features.size();
  for (size_t f = 0; f < std::min(columns, RouteFeatureNames().size()); ++f) {
    auto column = [&](const std::vector<RouteObservation>& qs, std::vector<double>* feat,
                      std::vector<double>* oracle) {
      double mean = 0;
      for (const auto& q : qs) {
        feat->push_back(q.features[f]);
        oracle->push_back(std::min(OracleCount(q, 0), prefix));
        mean += q.features[f] / qs.size();
      }
      return mean;
    };
    std::vector<double> ft, ot, fc, oc;
    const double mt = column(d.test, &ft, &ot), mc = column(d.calib, &fc, &oc);
    out << absl::StrFormat("  %-16s %7.3f  %7.3f  %10.4f  %10.4f\n", RouteFeatureNames()[f],
                           Spearman(ft, ot), Spearman(fc, oc), mt, mc);
  }
}

std::string RuleLine(const char* name, const char* method, const absl::StatusOr<BudgetRule>& rule,
                     const std::vector<RouteObservation>& test) {
  if (!rule.ok()) {
    return absl::StrFormat("  %-20s %-8s %s\n", name, method, rule.status().message());
  }
  const BudgetOutcome o = EvaluateBudget(*rule, test);
  std::vector<std::string> budgets;
  for (uint32_t b : rule->budget) budgets.push_back(absl::StrCat(b));
  return absl::StrFormat("  %-20s %-8s %6.3f %8.4f %8.4f %8.2f %8.0f   %s\n", name, method,
                         rule->calib_r2, rule->calib_recall, o.recall, o.mean_postings, o.mean_kib,
                         absl::StrJoin(budgets, " "));
}

// Mean postings and KiB of the interpolated fixed rule on `test`, its n
// and fraction set on `calib`; false when out of reach.
bool InterpolateFixed(const std::vector<RouteObservation>& test,
                      const std::vector<RouteObservation>& calib, double target, uint32_t prefix,
                      BudgetOutcome* out, uint32_t* n_out, double* f_out) {
  auto mean = [](const std::vector<RouteObservation>& qs, uint32_t n, bool kib) {
    double s = 0;
    for (const auto& q : qs) {
      s += kib ? q.cum_kib[std::min<size_t>(n, q.cum_kib.size() - 1)] : RecallAt(q, n);
    }
    return s / std::max<size_t>(qs.size(), 1);
  };
  for (uint32_t n = 1; n < prefix; ++n) {
    const double lo = mean(calib, n, false), hi = mean(calib, n + 1, false);
    if (hi < target) continue;
    const double f = lo >= target ? 0.0 : (target - lo) / (hi - lo);
    auto mix = [&](bool kib) { return (1 - f) * mean(test, n, kib) + f * mean(test, n + 1, kib); };
    out->recall = mix(false);
    out->mean_kib = mix(true);
    out->mean_postings = n + f;
    *n_out = n;
    *f_out = f;
    return true;
  }
  return false;
}

// The fixed rule without its integer step: a fraction f of the queries
// reads n + 1 postings, the rest n, with n and f set on the calibration
// queries. A feature must beat this, not the integer count, to be worth it.
std::string InterpolatedFixed(const RouteStudyData& d, double target, uint32_t prefix) {
  BudgetOutcome o;
  uint32_t n = 0;
  double f = 0;
  if (!InterpolateFixed(d.test, d.calib, target, prefix, &o, &n, &f)) {
    return "  fixed, interpolated: out of reach\n";
  }
  return absl::StrFormat("  %-20s %-8s %6.3f %8.4f %8.4f %8.2f %8.0f   %u + %.2f\n",
                         "fixed, interpolated", "mix", 0.0, target, o.recall, o.mean_postings,
                         o.mean_kib, n, f);
}

// Which postings, not how many: the same fixed and oracle budgets over
// orders that use the posting radius, and the set-cover bound.
void PrintOrders(const RouteStudyOptions& opt, const RouteStudyData& d, std::ostream& out) {
  out << "\nPosting order (fixed count interpolated, calibrated on base-vector queries; "
         "per-query oracle on test):\n";
  out << "  order            target  fixed: test.rec postings  KiB/q | oracle: postings  KiB/q\n";
  auto line = [&](const std::string& name, const std::vector<RouteObservation>& test,
                  const std::vector<RouteObservation>& calib) {
    for (double t : opt.targets) {
      BudgetOutcome fixed;
      uint32_t n = 0;
      double f = 0;
      const bool ok = InterpolateFixed(test, calib, t, opt.prefix, &fixed, &n, &f);
      const BudgetOutcome oracle = PerQueryOracle(test, t, opt.prefix);
      out << absl::StrFormat("  %-16s %6.2f  %14.4f %8.2f %6.0f | %16.2f %6.0f\n", name, t,
                             ok ? fixed.recall : NAN, ok ? fixed.mean_postings : NAN,
                             ok ? fixed.mean_kib : NAN, oracle.mean_postings, oracle.mean_kib);
    }
  };
  line("head distance d", d.test, d.calib);
  for (size_t a = 0; a < d.alt_test.size(); ++a) {
    line(AlternativeOrderNames()[a], d.alt_test[a], d.alt_calib[a]);
  }
  auto cover = [&](const char* name, const std::vector<Cover>& c) {
    std::vector<double> n;
    double kib = 0;
    for (const Cover& x : c) {
      n.push_back(x.postings);
      kib += x.kib / std::max<size_t>(c.size(), 1);
    }
    out << absl::StrFormat("  set cover, %-10s postings %s; %.0f KiB/q\n", name, Distribution(n),
                           kib);
  };
  out << "  Fewest postings of the prefix holding the reachable true neighbours (greedy set "
         "cover, any order; mean p10 p25 p50 p75 p90 p99 max):\n";
  cover("all", d.cover_all);
  cover("9 of 10", d.cover_nine);
}

void PrintTarget(const RouteStudyOptions& opt, const RouteStudyData& d, double target,
                 std::ostream& out) {
  out << absl::StrFormat("\nTarget recall@%u = %.2f\n", opt.k, target);
  const BudgetOutcome oracle = PerQueryOracle(d.test, target, opt.prefix);
  out << absl::StrFormat("  per-query oracle on test: %.2f postings, %.0f KiB/q (recall %.4f)\n",
                         oracle.mean_postings, oracle.mean_kib, oracle.recall);
  out << "  rule                 method   cal.R2 cal.rec  test.rec postings    KiB/q   "
         "budget per bucket (low score first)\n";
  BudgetOptions bo;
  bo.target = target;
  bo.buckets = opt.buckets;
  bo.max_postings = opt.prefix;
  out << InterpolatedFixed(d, target, opt.prefix);
  for (const FeatureSet& set : FeatureSets()) {
    if (set.stage && opt.stage_postings == 0) continue;
    bo.min_postings = set.stage ? opt.stage_postings : 1;
    for (BudgetMethod m : {BudgetMethod::kGreedy, BudgetMethod::kQuantile}) {
      if (set.columns.empty() && m == BudgetMethod::kQuantile) continue;
      bo.method = m;
      out << RuleLine(set.name, m == BudgetMethod::kGreedy ? "greedy" : "quantile",
                      CalibrateBudget(d.calib, set.columns, bo), d.test);
    }
  }
  // The same rules fitted on the test queries themselves: what each feature
  // set could do without the shift from base-vector queries to real ones.
  out << "  ceiling: calibrated on the test queries themselves (greedy)\n";
  bo.method = BudgetMethod::kGreedy;
  for (const FeatureSet& set : FeatureSets()) {
    if (set.stage && opt.stage_postings == 0) continue;
    bo.min_postings = set.stage ? opt.stage_postings : 1;
    out << RuleLine(set.name, "test-fit", CalibrateBudget(d.test, set.columns, bo), d.test);
  }
}

}  // namespace

const std::vector<std::string>& RouteFeatureNames() {
  static const auto* names = new std::vector<std::string>{"entropy T=1",   "entropy T=sqrt d",
                                                          "entropy T=d/4", "entropy T=d",
                                                          "top posterior", "d1/d2",
                                                          "d1/d4",         "d1/d8",
                                                          "d1/d16",        "d1",
                                                          "d1/radius"};
  return *names;
}

void PrintRouteStudy(const RouteStudyOptions& o, const RouteStudyData& d, std::ostream& out) {
  out << absl::StrFormat("route-study: index %s\n", o.index);
  out << absl::StrFormat(
      "  %u heads, %u entries; %zu test queries (%s), %zu calibration queries "
      "sampled from %s (%u heads skipped)\n",
      d.heads, d.manifest_entries, d.test.size(), o.queries, d.calib.size(), o.base,
      d.calib_skipped);
  out << absl::StrFormat("  head order: %u nearest heads, beam %u; k = %u; %u buckets\n", o.prefix,
                         std::max(o.head_ef, o.prefix), o.k, o.buckets);
  out << absl::StrFormat(
      "  GMM over heads weighted by posting size: K = %u, %u EM iterations "
      "(%s), mean log-likelihood %.3f, %u re-seeded, %.1f s\n",
      d.components, d.gmm_report.iterations, d.gmm_report.converged ? "converged" : "not converged",
      d.gmm_report.log_likelihood, d.gmm_report.reseeded, d.gmm_s);
  out << absl::StrFormat(
      "  times: postings -> membership %.1f s, calibration ground truth %.1f s, "
      "observations %.1f s, second stage (%u postings) %.1f s\n",
      d.membership_s, d.calib_gt_s, d.observe_s, o.stage_postings, d.stage_s);
  if (d.check_recall >= 0) {
    double recall = 0, kib = 0;
    for (const auto& q : d.test) {
      recall += RecallAt(q, o.check_postings) / d.test.size();
      kib += q.cum_kib[std::min<size_t>(o.check_postings, q.cum_kib.size() - 1)] / d.test.size();
    }
    out << absl::StrFormat(
        "  check at %u postings: real searcher (default beam) recall %.4f, "
        "%.0f KiB/q; study (wide beam) %.4f, %.0f KiB/q\n",
        o.check_postings, d.check_recall, d.check_kib, recall, kib);
  }
  out << "\nOracle postings per query (mean p10 p25 p50 p75 p90 p99 max):\n";
  PrintOracle("test", d.test, o.prefix, out);
  PrintOracle("calib", d.calib, o.prefix, out);
  PrintFixedCurve(d, o.prefix, out);
  PrintCorrelations(d, o.prefix, out);
  PrintOrders(o, d, out);
  for (double t : o.targets) PrintTarget(o, d, t, out);
}

}  // namespace cairn
