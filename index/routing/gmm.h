// A Gaussian mixture with diagonal covariances: the coarsest level of the
// router (component -> head (posting) -> vector, docs/routing.md). Fitted by
// weighted EM over the heads, each weighted by its posting's size, so that a
// component's mixing weight is the share of the collection it covers, not the
// share of heads; or unweighted over a sample of base vectors.
//
// Fit: k-means++ seeds (weighted D^2 sampling, common/random.h), a hard
// assignment to the nearest seed for the first M-step, then EM until the
// mean log-likelihood per unit weight changes by less than `tolerance`
// (relative). The E-step is two GEMMs per block of points (OpenBLAS):
//   -2 log N(x | c) = sum_d x_d^2 / v_cd - 2 x_d mu_cd / v_cd + const_c,
// i.e. X^2 . (1/V)^T and X . (M/V)^T, in coordinates centred on the data mean
// (so that x^2 and the cross term stay of the size of the spread, not of the
// offset). The M-step sums are two more GEMMs (R^T X, R^T X^2). Variances are
// floored at variance_floor x the mean per-dimension variance of the data
// (a dimension constant in a component would otherwise give an infinite
// density). A component whose weight falls below one point's share is
// re-seeded at the worst-explained point.
//
// Query-time (Posteriors, LogPosteriors) evaluates (x - mu)^2 / v directly,
// without the expansion, so one query costs K x dim multiply-adds and loses
// no digits.
//
// Thread-safety: Fit is a pure function (it may use OpenBLAS threads). A
// fitted GaussianMixture is immutable; its const methods are safe from many
// threads at once.
#ifndef CAIRN_INDEX_ROUTING_GMM_H_
#define CAIRN_INDEX_ROUTING_GMM_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cairn {

struct GmmOptions {
  // Components K; 0 means round(sqrt(number of points)), at least 1.
  uint32_t components = 0;
  uint32_t max_iterations = 50;
  // Stop when |LL_t - LL_{t-1}| <= tolerance * |LL_{t-1}| (LL: mean
  // log-likelihood per unit weight).
  double tolerance = 1e-5;
  // Floor of every variance, relative to the data's mean per-dimension
  // variance (an absolute floor of 1e-12 applies when the data is constant).
  double variance_floor = 1e-3;
  uint64_t seed = 1;
  // Points per E-step block: the block's K responsibilities are held in RAM.
  uint32_t block_rows = 8192;
  absl::Status Validate() const;
};

// What a fit did, for reports and tests.
struct GmmFitReport {
  uint32_t iterations = 0;      // EM iterations after the initial M-step
  bool converged = false;       // tolerance met before max_iterations
  double log_likelihood = 0;    // mean per unit weight, at the final E-step
  uint32_t reseeded = 0;        // empty components re-seeded, all iterations
  std::vector<double> history;  // mean log-likelihood after each E-step
};

class GaussianMixture {
 public:
  GaussianMixture() = default;

  // Fits a mixture to n points of `dim` floats (row-major). `weights`: one
  // non-negative finite weight per point, or empty for weight 1 each.
  // InvalidArgument on a non-finite value, a negative weight, no positive
  // weight, or K larger than the number of points of positive weight.
  static absl::StatusOr<GaussianMixture> Fit(const float* points, uint64_t n, uint32_t dim,
                                             std::span<const float> weights,
                                             const GmmOptions& options,
                                             GmmFitReport* report = nullptr);

  // A mixture from its parameters (K x dim row-major means and variances, K
  // mixing weights). InvalidArgument unless sizes agree, weights are positive
  // and sum to 1 within 1e-3 (they are renormalised), variances are positive
  // and every value is finite. Used by Deserialize and tests.
  static absl::StatusOr<GaussianMixture> FromParameters(uint32_t dim, std::vector<float> weights,
                                                        std::vector<float> means,
                                                        std::vector<float> variances);

  uint32_t components() const { return components_; }
  uint32_t dim() const { return dim_; }
  float weight(uint32_t c) const { return weights_[c]; }
  const float* mean(uint32_t c) const { return means_.data() + size_t{c} * dim_; }
  const float* variance(uint32_t c) const { return variances_.data() + size_t{c} * dim_; }

  // log p(c | x) for every component into out[0..K) (log-sum-exp normalised);
  // returns log p(x). `x` must be finite (the caller validates queries).
  double LogPosteriors(const float* x, float* out) const;
  // p(c | x), summing to 1; out is resized to K.
  void Posteriors(const float* x, std::vector<float>* out) const;
  // Shannon entropy of a distribution in nats: 0 <= H <= log(size). Zero
  // entries contribute 0.
  static double Entropy(std::span<const float> p);

  // Batch log p(c | x) of n points into out (n x K, row-major), by the GEMM
  // expansion; and each point's log p(x) into log_px if not null. For
  // many points at once (calibration, studies); float rounding of the
  // expansion makes it differ from LogPosteriors by ~1e-4 relative.
  void LogPosteriorsBatch(const float* x, uint64_t n, float* out,
                          std::vector<double>* log_px = nullptr) const;

  // Body of the routing.gmm record file (docs/formats.md, "Routing mixture").
  std::string Serialize() const;
  // DataLoss naming `where` on any size or value that does not check out.
  static absl::StatusOr<GaussianMixture> Deserialize(std::string_view body,
                                                     const std::string& where);

 private:
  friend class GmmFitter;
  // Derives the evaluation tables below from weights_, means_, variances_.
  void Precompute();

  uint32_t components_ = 0;
  uint32_t dim_ = 0;
  std::vector<float> weights_;    // K, sum 1
  std::vector<float> means_;      // K x dim
  std::vector<float> variances_;  // K x dim, > 0
  // Evaluation tables, in coordinates centred on center_ (the weighted mean
  // of the component means): 1/v, (mu - center)/v, and per component
  // log w_c - 0.5 (sum log(2 pi v) + sum (mu - center)^2 / v).
  std::vector<float> center_;        // dim
  std::vector<float> inv_var_;       // K x dim
  std::vector<float> mean_inv_var_;  // K x dim
  std::vector<double> log_const_;    // K, for the centred GEMM form
  // log w_c - 0.5 (dim log(2 pi) + sum log v): the direct form's constant.
  std::vector<double> log_norm_;  // K
};

}  // namespace cairn

#endif  // CAIRN_INDEX_ROUTING_GMM_H_
