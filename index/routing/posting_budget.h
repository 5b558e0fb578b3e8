// The per-query posting budget an index ships (`routing.budget`): how many of
// its nearest postings a query reads to reach a requested mean recall@k.
//
// A query's features are the ratios d1/dk of the true distances to its
// nearest heads (k = 2, 4, 8, 16): a query deep inside its nearest posting has
// small ratios and needs few postings; one between many heads at nearly the
// same distance needs more. (The study behind this choice, and the GMM
// entropy that predicted nothing, are in docs/routing.md.) A linear score of
// the features, fitted to log(postings needed) on calibration queries,
// places the query in one of B equal-count buckets; a table per recall
// target gives each bucket its count, allocated greedily so that the mean
// recall of the calibration queries reaches the target at the least mean
// postings. Counts are fractional (3.4: 3 postings, or 4 for 40% of
// queries, chosen by a hash of the query, so the same query always reads
// the same): a whole count would overshoot the target by up to one
// bucket's step, which at 3-4 postings a query is 0.01-0.02 of recall.
// Targets between the calibrated ones interpolate the counts.
//
// The calibration queries are base vectors, each left out of its own exact
// ground truth, never the test queries (index/spann/route_calibration.h).
// Each table aims a margin above its target (two standard errors of the
// sample's mean recall), so that other queries reach the target. The tables
// hold for the head beam they were calibrated with (head_ef()): a search
// asks the head graph for up to that many heads with that beam, and no
// budget exceeds it.
//
// Thread-safety: immutable after Fit or Deserialize; const methods are safe
// from many threads.
#ifndef CAIRN_INDEX_ROUTING_POSTING_BUDGET_H_
#define CAIRN_INDEX_ROUTING_POSTING_BUDGET_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "index/routing/budget_fit.h"
#include "storage/env.h"

namespace cairn {

inline constexpr char kPostingBudgetMagic[8] = {'C', 'A', 'I', 'R', 'N', 'B', 'D', 'G'};
inline constexpr uint32_t kPostingBudgetVersion = 1;
inline constexpr char kPostingBudgetFileName[] = "routing.budget";

struct PostingBudgetOptions {
  // Recall targets calibrated; those out of reach within `prefix` postings
  // are dropped (at least one must remain).
  std::vector<double> targets{0.50, 0.60, 0.70, 0.80, 0.85, 0.90, 0.92, 0.94,
                              0.95, 0.96, 0.97, 0.98, 0.99, 0.995, 0.999};
  uint32_t buckets = 8;
  uint32_t prefix = 128;  // most postings a query may be given
  // Each table aims this many standard errors of the calibration sample's
  // mean recall above its target (0: at the target).
  double margin_z = 2.0;
  // What the observations were measured with (stored for the searcher).
  uint32_t k = 10;
  uint32_t head_ef = 0;
  uint64_t num_vectors = 0;
  // False for metrics without meaningful distance ratios (inner product):
  // one bucket, a count per target.
  bool use_features = true;
  absl::Status Validate() const;
};

class PostingBudget {
 public:
  // Heads whose distances the features read; a query's head search must
  // return at least this many for the features to mean what they did at
  // calibration.
  static constexpr uint32_t kFeatureHeads = 16;
  static constexpr size_t kNumFeatures = 4;

  // The features of a query from the true (not squared) distances of its
  // nearest heads, ascending; `n` may be below kFeatureHeads (the last one
  // stands in for the missing).
  static void Features(const float* distances, size_t n, double out[kNumFeatures]);

  // Fits one table per target on observations whose features came from
  // Features(). InvalidArgument when no target is reachable.
  static absl::StatusOr<PostingBudget> Fit(const std::vector<RouteObservation>& calib,
                                           const PostingBudgetOptions& options);

  // Postings to read for `target` given the features (ignored when the
  // budget has none) and a hash of the query (QueryHash), which rounds a
  // fractional count. At least 1, at most prefix().
  uint32_t Postings(double target, const double features[kNumFeatures],
                    uint64_t query_hash) const;
  static uint64_t QueryHash(const float* query, uint32_t dim);
  // The most any query is given for `target` (the head search's size).
  uint32_t MaxPostings(double target) const;

  uint32_t head_ef() const { return head_ef_; }
  uint32_t k() const { return k_; }
  uint32_t prefix() const { return prefix_; }
  uint64_t num_vectors() const { return num_vectors_; }
  uint32_t calib_queries() const { return calib_queries_; }
  bool uses_features() const { return !coef_.empty(); }
  size_t buckets() const { return bounds_.size() + 1; }
  // Calibrated targets, ascending, with the mean recall and postings each
  // reached on the calibration queries.
  struct Table {
    double target = 0, calib_recall = 0, calib_postings = 0;
    std::vector<double> counts;  // per bucket, fractional
  };
  const std::vector<Table>& tables() const { return tables_; }
  double max_target() const { return tables_.back().target; }
  // Bytes it holds in RAM (for resident-size reports).
  uint64_t ram_bytes() const;

  std::string Serialize() const;
  static absl::StatusOr<PostingBudget> Deserialize(std::string_view body, const std::string& where);

 private:
  double Score(const double features[kNumFeatures]) const;
  // The fractional count of `bucket` for `target`.
  double Count(double target, size_t bucket) const;
  // Fills t's calibration recall and mean postings (expected over the
  // rounding of fractional counts).
  void Evaluate(const std::vector<RouteObservation>& calib, Table* t) const;
  // Makes t's one fractional count the least that reaches `target` on the
  // calibration queries.
  void SettleFraction(const std::vector<RouteObservation>& calib, const BudgetRule& rule,
                      double target, Table* t) const;
  size_t Bucket(const double features[kNumFeatures]) const;
  // The budgets of `target`: the table at or above it, interpolated from the
  // one below; lo/hi/frac describe the mix.
  void Bracket(double target, size_t* lo, size_t* hi, double* frac) const;

  uint32_t k_ = 10, head_ef_ = 0, prefix_ = 0, calib_queries_ = 0;
  uint64_t num_vectors_ = 0;
  std::vector<double> mean_, scale_, coef_;  // coef_: intercept then per feature; empty: none
  std::vector<double> bounds_;               // bucket upper bounds on the score
  std::vector<Table> tables_;
};

// routing.budget: a record file (magic, version, XXH3; docs/formats.md).
absl::Status WritePostingBudget(Env* env, const std::string& path, const PostingBudget& budget);
absl::StatusOr<PostingBudget> ReadPostingBudget(Env* env, const std::string& path);

}  // namespace cairn

#endif  // CAIRN_INDEX_ROUTING_POSTING_BUDGET_H_
