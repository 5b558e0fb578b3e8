#include "index/routing/budget_fit.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <queue>
#include <tuple>

#include "absl/strings/str_format.h"

namespace cairn {
namespace {

// hits[n]: recall summed over the group's queries when each reads n
// postings, n = 0..max_postings.
std::vector<double> GroupHits(const std::vector<const RouteObservation*>& group, uint32_t max_n) {
  std::vector<double> hits(max_n + 2, 0.0);
  for (const RouteObservation* q : group) {
    if (q->first_rank.empty()) continue;
    const double unit = 1.0 / q->first_rank.size();
    for (uint32_t r : q->first_rank) {
      if (r < max_n) hits[r + 1] += unit;
    }
  }
  for (uint32_t n = 1; n <= max_n; ++n) hits[n] += hits[n - 1];
  hits.resize(max_n + 1);
  return hits;
}

// Solves the (small, symmetric positive definite) system a x = b in place by
// Gaussian elimination with partial pivoting.
std::vector<double> Solve(std::vector<std::vector<double>> a, std::vector<double> b) {
  const size_t n = b.size();
  for (size_t i = 0; i < n; ++i) {
    size_t piv = i;
    for (size_t r = i + 1; r < n; ++r) {
      if (std::abs(a[r][i]) > std::abs(a[piv][i])) piv = r;
    }
    std::swap(a[i], a[piv]);
    std::swap(b[i], b[piv]);
    if (std::abs(a[i][i]) < 1e-300) continue;
    for (size_t r = i + 1; r < n; ++r) {
      const double f = a[r][i] / a[i][i];
      for (size_t c = i; c < n; ++c) a[r][c] -= f * a[i][c];
      b[r] -= f * b[i];
    }
  }
  std::vector<double> x(n, 0.0);
  for (size_t i = n; i-- > 0;) {
    double s = b[i];
    for (size_t c = i + 1; c < n; ++c) s -= a[i][c] * x[c];
    x[i] = std::abs(a[i][i]) < 1e-300 ? 0.0 : s / a[i][i];
  }
  return x;
}

// Least squares of log(oracle count) on the standardised features (with a
// tiny ridge so that a constant feature does not make the system singular).
void FitScore(const std::vector<RouteObservation>& calib, uint32_t max_n, BudgetRule* rule) {
  const size_t p = rule->features.size();
  rule->mean.assign(p, 0.0);
  rule->scale.assign(p, 1.0);
  const double nq = static_cast<double>(calib.size());
  for (size_t f = 0; f < p; ++f) {
    double s = 0, s2 = 0;
    for (const auto& q : calib) s += q.features[rule->features[f]];
    rule->mean[f] = s / nq;
    for (const auto& q : calib) s2 += std::pow(q.features[rule->features[f]] - rule->mean[f], 2);
    rule->scale[f] = std::sqrt(s2 / nq) > 0 ? std::sqrt(s2 / nq) : 1.0;
  }
  std::vector<std::vector<double>> a(p + 1, std::vector<double>(p + 1, 0.0));
  std::vector<double> b(p + 1, 0.0), y(calib.size()), x(p + 1);
  for (size_t i = 0; i < calib.size(); ++i) {
    y[i] = std::log(static_cast<double>(std::min(OracleCount(calib[i], 0), max_n)));
    x[0] = 1;
    for (size_t f = 0; f < p; ++f) {
      x[f + 1] = (calib[i].features[rule->features[f]] - rule->mean[f]) / rule->scale[f];
    }
    for (size_t r = 0; r <= p; ++r) {
      for (size_t c = 0; c <= p; ++c) a[r][c] += x[r] * x[c];
      b[r] += x[r] * y[i];
    }
  }
  for (size_t r = 1; r <= p; ++r) a[r][r] += 1e-9 * nq;
  rule->coef = Solve(a, b);
  const double ybar = std::accumulate(y.begin(), y.end(), 0.0) / nq;
  double ss_res = 0, ss_tot = 0;
  for (size_t i = 0; i < calib.size(); ++i) {
    ss_res += std::pow(y[i] - rule->Score(calib[i].features), 2);
    ss_tot += std::pow(y[i] - ybar, 2);
  }
  rule->calib_r2 = ss_tot > 0 ? 1.0 - ss_res / ss_tot : 0.0;
}

// Equal-count bucket bounds on the calibration scores, duplicates removed so
// that no bucket is empty.
std::vector<double> BucketBounds(std::vector<double> scores, uint32_t buckets) {
  std::sort(scores.begin(), scores.end());
  std::vector<double> bounds;
  for (uint32_t i = 1; i < buckets; ++i) {
    const double b = scores[std::min(scores.size() - 1, scores.size() * i / buckets)];
    if (bounds.empty() || b > bounds.back()) bounds.push_back(b);
  }
  // The top bucket holds the scores above the last bound; none there when
  // the top scores tie with it.
  while (!bounds.empty() && scores.back() <= bounds.back()) bounds.pop_back();
  return bounds;
}

size_t BucketOf(const std::vector<double>& bounds, double score) {
  return std::lower_bound(bounds.begin(), bounds.end(), score) - bounds.begin();
}

// Budgets b_g = the alpha-quantile of each group's oracle counts, alpha the
// least (by bisection) that reaches the target. False if alpha = 1 does not.
bool QuantileBudgets(const std::vector<std::vector<const RouteObservation*>>& groups, double target,
                     uint32_t max_n, uint32_t min_n, std::vector<uint32_t>* budgets) {
  std::vector<std::vector<uint32_t>> counts(groups.size());
  double total = 0;
  for (size_t g = 0; g < groups.size(); ++g) {
    for (const RouteObservation* q : groups[g]) {
      counts[g].push_back(std::min(OracleCount(*q, 0), max_n));
    }
    std::sort(counts[g].begin(), counts[g].end());
    total += groups[g].size();
  }
  auto at = [&](double alpha, std::vector<uint32_t>* out) {
    out->assign(groups.size(), min_n);
    double recall = 0;
    for (size_t g = 0; g < groups.size(); ++g) {
      if (counts[g].empty()) continue;
      const size_t i =
          std::min(counts[g].size() - 1,
                   static_cast<size_t>(std::ceil(alpha * counts[g].size())) - (alpha > 0 ? 1 : 0));
      (*out)[g] = std::max(min_n, counts[g][i]);
      for (const RouteObservation* q : groups[g]) recall += RecallAt(*q, (*out)[g]);
    }
    return recall / total;
  };
  if (at(1.0, budgets) < target) return false;
  double lo = 0, hi = 1;
  for (int it = 0; it < 40; ++it) {
    const double mid = 0.5 * (lo + hi);
    (at(mid, budgets) >= target ? hi : lo) = mid;
  }
  at(hi, budgets);
  return true;
}

}  // namespace

double RecallAt(const RouteObservation& q, uint32_t n) {
  if (q.first_rank.empty()) return 0;
  size_t hit = 0;
  for (uint32_t r : q.first_rank) hit += r < n;
  return static_cast<double>(hit) / q.first_rank.size();
}

uint32_t OracleCount(const RouteObservation& q, uint32_t needed) {
  if (needed == 0) {
    uint32_t last = 0;
    for (uint32_t r : q.first_rank) {
      if (r != kUnreached) last = std::max(last, r + 1);
    }
    return std::max<uint32_t>(last, 1);
  }
  if (needed > q.first_rank.size() || q.first_rank[needed - 1] == kUnreached) return kUnreached;
  return q.first_rank[needed - 1] + 1;
}

double BudgetRule::Score(const std::vector<double>& f) const {
  double s = coef.empty() ? 0.0 : coef[0];
  for (size_t i = 0; i < features.size(); ++i) {
    s += coef[i + 1] * (f[features[i]] - mean[i]) / scale[i];
  }
  return s;
}

uint32_t BudgetRule::Budget(const std::vector<double>& f) const {
  return std::max(min_postings, budget[BucketOf(bounds, Score(f))]);
}

bool AllocateBudgets(const std::vector<std::vector<const RouteObservation*>>& groups, double target,
                     uint32_t max_n, std::vector<uint32_t>* budgets, uint32_t min_n,
                     std::vector<double>* fractional) {
  const size_t ng = groups.size();
  std::vector<std::vector<double>> hits(ng);
  double total_q = 0, have = 0;
  budgets->assign(ng, min_n);
  auto finish = [&](size_t g, uint32_t from, double part) {
    if (fractional == nullptr) return;
    fractional->assign(budgets->begin(), budgets->end());
    if (g < ng) (*fractional)[g] = from + part * ((*budgets)[g] - from);
  };
  for (size_t g = 0; g < ng; ++g) {
    hits[g] = GroupHits(groups[g], max_n);
    total_q += groups[g].size();
    have += hits[g][min_n];
  }
  const double need = target * total_q - 1e-9;
  // (gain per posting, group, new count); a popped entry is stale unless its
  // group is still at the count it was computed from.
  using Move = std::tuple<double, size_t, uint32_t, uint32_t>;
  std::priority_queue<Move> queue;
  auto push_best = [&](size_t g) {
    const uint32_t n = (*budgets)[g];
    double best = 0;
    uint32_t to = n;
    for (uint32_t m = n + 1; m <= max_n; ++m) {
      const double rate = (hits[g][m] - hits[g][n]) / (groups[g].size() * double(m - n));
      if (rate > best) best = rate, to = m;
    }
    if (to > n) queue.emplace(best, g, to, n);
  };
  for (size_t g = 0; g < ng; ++g) push_best(g);
  while (have < need) {
    if (queue.empty()) return false;
    const auto [rate, g, to, from] = queue.top();
    queue.pop();
    if ((*budgets)[g] != from) continue;
    const uint32_t n = (*budgets)[g];
    // The last move: the cheapest raise of any one group that finishes.
    if (have + hits[g][to] - hits[g][n] >= need) {
      double best_cost = INFINITY;
      size_t best_g = g;
      uint32_t best_to = to;
      for (size_t h = 0; h < ng; ++h) {
        const uint32_t cur = (*budgets)[h];
        for (uint32_t m = cur + 1; m <= max_n; ++m) {
          if (have + hits[h][m] - hits[h][cur] < need) continue;
          const double cost = double(groups[h].size()) * (m - cur);
          if (cost < best_cost) best_cost = cost, best_g = h, best_to = m;
          break;
        }
      }
      const uint32_t from = (*budgets)[best_g];
      const double gain = hits[best_g][best_to] - hits[best_g][from];
      (*budgets)[best_g] = best_to;
      finish(best_g, from, gain > 0 ? std::clamp((need - have) / gain, 0.0, 1.0) : 1.0);
      return true;
    }
    have += hits[g][to] - hits[g][n];
    (*budgets)[g] = to;
    push_best(g);
  }
  finish(ng, 0, 0);  // reached without a last raise
  return true;
}

absl::StatusOr<BudgetRule> CalibrateBudget(const std::vector<RouteObservation>& calib,
                                           const std::vector<size_t>& features,
                                           const BudgetOptions& o) {
  if (calib.empty()) return absl::InvalidArgumentError("no calibration queries");
  BudgetRule rule;
  rule.features = features;
  rule.min_postings = std::max<uint32_t>(1, o.min_postings);
  FitScore(calib, o.max_postings, &rule);
  std::vector<double> scores(calib.size());
  for (size_t i = 0; i < calib.size(); ++i) scores[i] = rule.Score(calib[i].features);
  rule.bounds = features.empty() ? std::vector<double>{} : BucketBounds(scores, o.buckets);
  std::vector<std::vector<const RouteObservation*>> groups(rule.bounds.size() + 1);
  for (size_t i = 0; i < calib.size(); ++i) {
    groups[BucketOf(rule.bounds, scores[i])].push_back(&calib[i]);
  }
  const bool ok =
      o.method == BudgetMethod::kGreedy
          ? AllocateBudgets(groups, o.target, o.max_postings, &rule.budget, o.min_postings,
                            &rule.fractional)
          : QuantileBudgets(groups, o.target, o.max_postings, o.min_postings, &rule.budget);
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "recall %.3f is out of reach within %u postings", o.target, o.max_postings));
  }
  rule.calib_recall = EvaluateBudget(rule, calib).recall;
  return rule;
}

BudgetOutcome EvaluateBudget(const BudgetRule& rule, const std::vector<RouteObservation>& qs) {
  BudgetOutcome out;
  for (const RouteObservation& q : qs) {
    const uint32_t n = std::min<uint32_t>(rule.Budget(q.features), q.cum_kib.size() - 1);
    out.recall += RecallAt(q, n);
    out.mean_postings += n;
    out.mean_kib += q.cum_kib[n];
  }
  const double nq = std::max<size_t>(qs.size(), 1);
  out.recall /= nq;
  out.mean_postings /= nq;
  out.mean_kib /= nq;
  return out;
}

BudgetOutcome PerQueryOracle(const std::vector<RouteObservation>& qs, double target,
                             uint32_t max_n) {
  std::vector<std::vector<const RouteObservation*>> groups(qs.size());
  for (size_t i = 0; i < qs.size(); ++i) groups[i] = {&qs[i]};
  std::vector<uint32_t> budgets;
  BudgetOutcome out;
  if (!AllocateBudgets(groups, target, max_n, &budgets)) {
    out.recall = out.mean_postings = out.mean_kib = NAN;
    return out;
  }
  for (size_t i = 0; i < qs.size(); ++i) {
    const uint32_t n = std::min<uint32_t>(budgets[i], qs[i].cum_kib.size() - 1);
    out.recall += RecallAt(qs[i], n);
    out.mean_postings += n;
    out.mean_kib += qs[i].cum_kib[n];
  }
  out.recall /= qs.size();
  out.mean_postings /= qs.size();
  out.mean_kib /= qs.size();
  return out;
}

double Spearman(const std::vector<double>& a, const std::vector<double>& b) {
  auto ranks = [](const std::vector<double>& v) {
    std::vector<size_t> idx(v.size());
    std::iota(idx.begin(), idx.end(), 0);
    std::sort(idx.begin(), idx.end(), [&](size_t x, size_t y) { return v[x] < v[y]; });
    std::vector<double> r(v.size());
    for (size_t i = 0; i < idx.size();) {
      size_t j = i;
      while (j + 1 < idx.size() && v[idx[j + 1]] == v[idx[i]]) ++j;
      for (size_t t = i; t <= j; ++t) r[idx[t]] = 0.5 * (i + j);
      i = j + 1;
    }
    return r;
  };
  const std::vector<double> ra = ranks(a), rb = ranks(b);
  const double n = a.size();
  const double ma = std::accumulate(ra.begin(), ra.end(), 0.0) / n;
  const double mb = std::accumulate(rb.begin(), rb.end(), 0.0) / n;
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    sab += (ra[i] - ma) * (rb[i] - mb);
    saa += (ra[i] - ma) * (ra[i] - ma);
    sbb += (rb[i] - mb) * (rb[i] - mb);
  }
  return saa > 0 && sbb > 0 ? sab / std::sqrt(saa * sbb) : 0.0;
}

}  // namespace cairn
