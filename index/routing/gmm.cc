#include "index/routing/gmm.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <queue>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/random.h"
#include "kernels/distance.h"

namespace cairn {
namespace {

constexpr double kLog2Pi = 1.8378770664093453;
// Points per block of LogPosteriorsBatch: bounds its scratch to a few MiB.
constexpr uint64_t kBatchRows = 4096;
// Worst-explained points remembered per EM pass, for re-seeding.
constexpr size_t kReseedCandidates = 32;

// log sum exp of row[0..k) in double; -inf for an all -inf row.
double LogSumExp(const float* row, uint32_t k) {
  float top = -std::numeric_limits<float>::infinity();
  for (uint32_t c = 0; c < k; ++c) top = std::max(top, row[c]);
  if (!std::isfinite(top)) return top;
  double sum = 0;
  for (uint32_t c = 0; c < k; ++c) sum += std::exp(static_cast<double>(row[c] - top));
  return top + std::log(sum);
}

// Rows x[begin..end) minus center into xc, and their squares into x2.
void CenterBlock(const float* x, uint64_t begin, uint64_t end, uint32_t dim, const float* center,
                 std::vector<float>* xc, std::vector<float>* x2) {
  const size_t count = (end - begin) * dim;
  xc->resize(count);
  x2->resize(count);
  const float* src = x + begin * dim;
  for (size_t i = 0; i < count; ++i) {
    const float v = src[i] - center[i % dim];
    (*xc)[i] = v;
    (*x2)[i] = v * v;
  }
}

}  // namespace

absl::Status GmmOptions::Validate() const {
  if (max_iterations == 0) return absl::InvalidArgumentError("GMM max_iterations must be >= 1");
  if (!(tolerance >= 0) || !std::isfinite(tolerance)) {
    return absl::InvalidArgumentError("GMM tolerance must be finite and >= 0");
  }
  if (!(variance_floor > 0) || !(variance_floor < 1)) {
    return absl::InvalidArgumentError("GMM variance_floor must be in (0, 1)");
  }
  if (block_rows == 0) return absl::InvalidArgumentError("GMM block_rows must be >= 1");
  return absl::OkStatus();
}

absl::StatusOr<GaussianMixture> GaussianMixture::FromParameters(uint32_t dim,
                                                                std::vector<float> weights,
                                                                std::vector<float> means,
                                                                std::vector<float> variances) {
  const size_t k = weights.size();
  if (dim == 0 || k == 0 || means.size() != k * dim || variances.size() != k * dim) {
    return absl::InvalidArgumentError(
        absl::StrCat("GMM parameters: ", k, " weights, ", means.size(), " mean values and ",
                     variances.size(), " variances do not fit dimension ", dim));
  }
  double sum = 0;
  for (float w : weights) {
    if (!(w > 0) || !std::isfinite(w)) {
      return absl::InvalidArgumentError("GMM weights must be positive and finite");
    }
    sum += w;
  }
  if (std::abs(sum - 1.0) > 1e-3) {
    return absl::InvalidArgumentError(absl::StrCat("GMM weights sum to ", sum, ", not 1"));
  }
  for (float& w : weights) w = static_cast<float>(w / sum);
  for (float m : means) {
    if (!std::isfinite(m)) return absl::InvalidArgumentError("GMM mean is not finite");
  }
  for (float v : variances) {
    if (!(v > 0) || !std::isfinite(v)) {
      return absl::InvalidArgumentError("GMM variances must be positive and finite");
    }
  }
  GaussianMixture g;
  g.components_ = static_cast<uint32_t>(k);
  g.dim_ = dim;
  g.weights_ = std::move(weights);
  g.means_ = std::move(means);
  g.variances_ = std::move(variances);
  g.Precompute();
  return g;
}

void GaussianMixture::Precompute() {
  const uint32_t k = components_, d = dim_;
  center_.assign(d, 0.0f);
  for (uint32_t c = 0; c < k; ++c) {
    for (uint32_t j = 0; j < d; ++j) center_[j] += weights_[c] * mean(c)[j];
  }
  inv_var_.resize(size_t{k} * d);
  mean_inv_var_.resize(size_t{k} * d);
  log_const_.resize(k);
  log_norm_.resize(k);
  for (uint32_t c = 0; c < k; ++c) {
    double log_det = 0, quad = 0;
    for (uint32_t j = 0; j < d; ++j) {
      const size_t i = size_t{c} * d + j;
      const double v = variances_[i];
      const double m = static_cast<double>(means_[i]) - center_[j];
      inv_var_[i] = static_cast<float>(1.0 / v);
      mean_inv_var_[i] = static_cast<float>(m / v);
      log_det += std::log(v);
      quad += m * m / v;
    }
    log_norm_[c] = std::log(static_cast<double>(weights_[c])) - 0.5 * (d * kLog2Pi + log_det);
    log_const_[c] = log_norm_[c] - 0.5 * quad;
  }
}

double GaussianMixture::LogPosteriors(const float* x, float* out) const {
  const uint32_t d = dim_;
  for (uint32_t c = 0; c < components_; ++c) {
    const float* mu = mean(c);
    const float* iv = inv_var_.data() + size_t{c} * d;
    float s = 0;
    for (uint32_t j = 0; j < d; ++j) {
      const float diff = x[j] - mu[j];
      s += diff * diff * iv[j];
    }
    out[c] = static_cast<float>(log_norm_[c] - 0.5 * s);
  }
  const double lse = LogSumExp(out, components_);
  for (uint32_t c = 0; c < components_; ++c) out[c] = static_cast<float>(out[c] - lse);
  return lse;
}

void GaussianMixture::Posteriors(const float* x, std::vector<float>* out) const {
  out->resize(components_);
  LogPosteriors(x, out->data());
  for (float& p : *out) p = std::exp(p);
}

double GaussianMixture::Entropy(std::span<const float> p) {
  double h = 0;
  for (float v : p) {
    if (v > 0) h -= v * std::log(static_cast<double>(v));
  }
  return std::max(0.0, h);
}

void GaussianMixture::LogPosteriorsBatch(const float* x, uint64_t n, float* out,
                                         std::vector<double>* log_px) const {
  const uint32_t k = components_, d = dim_;
  if (log_px != nullptr) log_px->resize(n);
  std::vector<float> xc, x2;
  for (uint64_t begin = 0; begin < n; begin += kBatchRows) {
    const uint64_t end = std::min(n, begin + kBatchRows);
    const int rows = static_cast<int>(end - begin);
    CenterBlock(x, begin, end, d, center_.data(), &xc, &x2);
    float* s = out + begin * k;
    // s = -0.5 x^2 . (1/v)^T + x . (mu/v)^T, then + the per-component constant.
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, (int)k, (int)d, -0.5f, x2.data(),
                (int)d, inv_var_.data(), (int)d, 0.0f, s, (int)k);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, (int)k, (int)d, 1.0f, xc.data(),
                (int)d, mean_inv_var_.data(), (int)d, 1.0f, s, (int)k);
    for (int i = 0; i < rows; ++i) {
      float* row = s + size_t(i) * k;
      for (uint32_t c = 0; c < k; ++c) row[c] = static_cast<float>(row[c] + log_const_[c]);
      const double lse = LogSumExp(row, k);
      for (uint32_t c = 0; c < k; ++c) row[c] = static_cast<float>(row[c] - lse);
      if (log_px != nullptr) (*log_px)[begin + i] = lse;
    }
  }
}

// The EM driver behind GaussianMixture::Fit. Holds the inputs, the fixed
// centring and floor, and the current parameters in centred coordinates.
class GmmFitter {
 public:
  GmmFitter(const float* x, uint64_t n, uint32_t dim, std::vector<float> w, uint32_t k,
            const GmmOptions& o)
      : x_(x), n_(n), d_(dim), w_(std::move(w)), k_(k), o_(o) {}

  absl::StatusOr<GaussianMixture> Run(GmmFitReport* report);

 private:
  // Sufficient statistics of one M-step, in centred coordinates.
  struct Stats {
    std::vector<double> n, sx, sx2;  // K; K x d; K x d
    void Reset(uint32_t k, uint32_t d) {
      n.assign(k, 0.0);
      sx.assign(size_t{k} * d, 0.0);
      sx2.assign(size_t{k} * d, 0.0);
    }
  };
  void ComputeCenterAndFloor();
  std::vector<uint32_t> SeedKMeansPlusPlus(std::vector<uint32_t>* seeds);
  void HardStats(const std::vector<uint32_t>& assign, Stats* st) const;
  absl::StatusOr<GaussianMixture> CurrentModel() const;
  double EmPass(const GaussianMixture& model, Stats* st, std::vector<uint64_t>* worst);
  uint32_t MStep(const Stats& st, const std::vector<uint64_t>& fallback_points,
                 bool fallback_by_component);

  const float* x_;
  const uint64_t n_;
  const uint32_t d_;
  const std::vector<float> w_;
  const uint32_t k_;
  const GmmOptions o_;
  double total_w_ = 0;
  uint64_t positive_ = 0;
  std::vector<float> center_;     // weighted data mean
  std::vector<double> data_var_;  // weighted per-dimension variance, floored
  double floor_ = 0;
  // Current parameters; means relative to center_.
  std::vector<double> weight_, mean_, var_;
};

void GmmFitter::ComputeCenterAndFloor() {
  std::vector<double> sum(d_, 0.0), sum2(d_, 0.0);
  for (uint64_t i = 0; i < n_; ++i) {
    for (uint32_t j = 0; j < d_; ++j) sum[j] += w_[i] * double{x_[i * d_ + j]};
  }
  center_.resize(d_);
  for (uint32_t j = 0; j < d_; ++j) center_[j] = static_cast<float>(sum[j] / total_w_);
  for (uint64_t i = 0; i < n_; ++i) {
    for (uint32_t j = 0; j < d_; ++j) {
      const double v = double{x_[i * d_ + j]} - center_[j];
      sum2[j] += w_[i] * v * v;
    }
  }
  double mean_var = 0;
  data_var_.resize(d_);
  for (uint32_t j = 0; j < d_; ++j) {
    data_var_[j] = sum2[j] / total_w_;
    mean_var += data_var_[j] / d_;
  }
  floor_ = std::max(o_.variance_floor * mean_var, 1e-12);
  for (double& v : data_var_) v = std::max(v, floor_);
}

// Weighted k-means++: each next seed is drawn with probability proportional
// to weight x squared distance to the nearest seed so far. Returns every
// point's nearest seed (index into *seeds).
std::vector<uint32_t> GmmFitter::SeedKMeansPlusPlus(std::vector<uint32_t>* seeds) {
  Rng rng(Rng::Mix(o_.seed, 0x6d6d));
  const DistanceKernels& kern = Kernels();
  std::vector<float> nearest(n_, std::numeric_limits<float>::infinity());
  std::vector<uint32_t> assign(n_, 0);
  auto draw = [&](auto&& mass) {
    double total = 0;
    for (uint64_t i = 0; i < n_; ++i) total += mass(i);
    double r = rng.Uniform() * total;
    uint64_t last = 0;
    for (uint64_t i = 0; i < n_; ++i) {
      const double m = mass(i);
      if (m <= 0) continue;
      last = i;
      if ((r -= m) < 0) return i;
    }
    return last;  // rounding at the end of the scan
  };
  seeds->clear();
  for (uint32_t s = 0; s < k_; ++s) {
    double d2_mass = 0;
    if (s > 0) {
      for (uint64_t i = 0; i < n_; ++i) d2_mass += w_[i] * double{nearest[i]};
    }
    // All points coincide with seeds (fewer distinct points than K): draw by
    // weight alone; the duplicate seed's component is re-seeded later.
    const uint64_t pick = d2_mass > 0 ? draw([&](uint64_t i) { return w_[i] * double{nearest[i]}; })
                                      : draw([&](uint64_t i) { return double{w_[i]}; });
    seeds->push_back(static_cast<uint32_t>(pick));
    const float* seed = x_ + pick * d_;
    for (uint64_t i = 0; i < n_; ++i) {
      const float dist = kern.l2_f32(x_ + i * d_, seed, d_);
      if (dist < nearest[i]) {
        nearest[i] = dist;
        assign[i] = s;
      }
    }
  }
  return assign;
}

void GmmFitter::HardStats(const std::vector<uint32_t>& assign, Stats* st) const {
  st->Reset(k_, d_);
  for (uint64_t i = 0; i < n_; ++i) {
    const uint32_t c = assign[i];
    const double w = w_[i];
    st->n[c] += w;
    for (uint32_t j = 0; j < d_; ++j) {
      const double v = double{x_[i * d_ + j]} - center_[j];
      st->sx[size_t{c} * d_ + j] += w * v;
      st->sx2[size_t{c} * d_ + j] += w * v * v;
    }
  }
}

absl::StatusOr<GaussianMixture> GmmFitter::CurrentModel() const {
  std::vector<float> w(k_), m(size_t{k_} * d_), v(size_t{k_} * d_);
  for (uint32_t c = 0; c < k_; ++c) w[c] = static_cast<float>(weight_[c]);
  for (size_t i = 0; i < m.size(); ++i) {
    m[i] = static_cast<float>(mean_[i] + center_[i % d_]);
    v[i] = static_cast<float>(var_[i]);
  }
  return GaussianMixture::FromParameters(d_, std::move(w), std::move(m), std::move(v));
}

// One E-step over all points with `model`, accumulating the M-step's
// sufficient statistics into *st (two GEMMs per block) and the
// worst-explained points into *worst (lowest log p(x) first). Returns the
// mean log-likelihood per unit weight.
double GmmFitter::EmPass(const GaussianMixture& model, Stats* st, std::vector<uint64_t>* worst) {
  st->Reset(k_, d_);
  std::priority_queue<std::pair<double, uint64_t>> lowest;  // max-heap of the lowest
  std::vector<float> logp, xc, x2, sx(size_t{k_} * d_), sx2(size_t{k_} * d_);
  std::vector<double> log_px;
  double ll = 0;
  for (uint64_t begin = 0; begin < n_; begin += o_.block_rows) {
    const uint64_t end = std::min(n_, begin + o_.block_rows);
    const int rows = static_cast<int>(end - begin);
    logp.resize(size_t(rows) * k_);
    model.LogPosteriorsBatch(x_ + begin * d_, rows, logp.data(), &log_px);
    for (int i = 0; i < rows; ++i) {
      const double w = w_[begin + i];
      float* r = logp.data() + size_t(i) * k_;
      for (uint32_t c = 0; c < k_; ++c) {
        r[c] = static_cast<float>(w * std::exp(double{r[c]}));
        st->n[c] += r[c];
      }
      if (w <= 0) continue;
      ll += w * log_px[i];
      lowest.emplace(log_px[i], begin + i);
      if (lowest.size() > kReseedCandidates) lowest.pop();
    }
    CenterBlock(x_, begin, end, d_, center_.data(), &xc, &x2);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k_, (int)d_, rows, 1.0f, logp.data(),
                (int)k_, xc.data(), (int)d_, 0.0f, sx.data(), (int)d_);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k_, (int)d_, rows, 1.0f, logp.data(),
                (int)k_, x2.data(), (int)d_, 0.0f, sx2.data(), (int)d_);
    for (size_t i = 0; i < sx.size(); ++i) {
      st->sx[i] += sx[i];
      st->sx2[i] += sx2[i];
    }
  }
  worst->clear();
  while (!lowest.empty()) {
    worst->push_back(lowest.top().second);
    lowest.pop();
  }
  std::reverse(worst->begin(), worst->end());
  return ll / total_w_;
}

// New parameters from sufficient statistics. A component holding less than
// half an average point's weight is re-seeded at a point of
// `fallback_points` (mean there, the data's variances, that half-point
// weight): the component's own entry when fallback_by_component (its
// k-means++ seed), else the next unused one (the worst-explained points).
// Returns how many were re-seeded.
uint32_t GmmFitter::MStep(const Stats& st, const std::vector<uint64_t>& fallback_points,
                          bool fallback_by_component) {
  const double empty_below = 0.5 * total_w_ / positive_;
  weight_.assign(k_, 0.0);
  mean_.assign(size_t{k_} * d_, 0.0);
  var_.assign(size_t{k_} * d_, 0.0);
  size_t next_fallback = 0;
  uint32_t reseeded = 0;
  for (uint32_t c = 0; c < k_; ++c) {
    double* m = mean_.data() + size_t{c} * d_;
    double* v = var_.data() + size_t{c} * d_;
    const size_t f = fallback_by_component ? c : next_fallback;
    if (st.n[c] < empty_below && f < fallback_points.size()) {
      const uint64_t p = fallback_points[f];
      next_fallback += !fallback_by_component;
      for (uint32_t j = 0; j < d_; ++j) {
        m[j] = double{x_[p * d_ + j]} - center_[j];
        v[j] = data_var_[j];
      }
      weight_[c] = empty_below;
      ++reseeded;
      continue;
    }
    // Kept even when nearly empty if no fallback is left: its floor and a
    // positive weight keep it valid, and the next pass may re-seed it.
    const double nc = std::max(st.n[c], 1e-300);
    weight_[c] = std::max(st.n[c], empty_below * 1e-6);
    for (uint32_t j = 0; j < d_; ++j) {
      const size_t i = size_t{c} * d_ + j;
      m[j] = st.sx[i] / nc;
      v[j] = std::max(st.sx2[i] / nc - m[j] * m[j], floor_);
    }
  }
  double sum = 0;
  for (double w : weight_) sum += w;
  for (double& w : weight_) w /= sum;
  return reseeded;
}

absl::StatusOr<GaussianMixture> GmmFitter::Run(GmmFitReport* report) {
  total_w_ = 0;
  positive_ = 0;
  for (float w : w_) {
    total_w_ += w;
    positive_ += w > 0;
  }
  ComputeCenterAndFloor();
  std::vector<uint32_t> seeds;
  const std::vector<uint32_t> assign = SeedKMeansPlusPlus(&seeds);
  Stats st;
  HardStats(assign, &st);
  std::vector<uint64_t> fallback(seeds.begin(), seeds.end());
  report->reseeded += MStep(st, fallback, /*fallback_by_component=*/true);
  std::vector<uint64_t> worst;
  double prev = 0;
  for (uint32_t it = 0; it < o_.max_iterations; ++it) {
    absl::StatusOr<GaussianMixture> model = CurrentModel();
    if (!model.ok()) return model.status();
    const double ll = EmPass(*model, &st, &worst);
    if (!std::isfinite(ll)) {
      return absl::InternalError(
          absl::StrCat("GMM log-likelihood is not finite at iteration ", it));
    }
    report->history.push_back(ll);
    report->log_likelihood = ll;
    report->iterations = it + 1;
    report->reseeded += MStep(st, worst, /*fallback_by_component=*/false);
    if (it > 0 && std::abs(ll - prev) <= o_.tolerance * std::abs(prev)) {
      report->converged = true;
      break;
    }
    prev = ll;
  }
  return CurrentModel();
}

absl::StatusOr<GaussianMixture> GaussianMixture::Fit(const float* points, uint64_t n, uint32_t dim,
                                                     std::span<const float> weights,
                                                     const GmmOptions& options,
                                                     GmmFitReport* report) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  if (dim == 0 || n == 0) return absl::InvalidArgumentError("GMM fit needs points and dim >= 1");
  if (!weights.empty() && weights.size() != n) {
    return absl::InvalidArgumentError(
        absl::StrCat("GMM fit: ", weights.size(), " weights for ", n, " points"));
  }
  for (uint64_t i = 0; i < n * dim; ++i) {
    if (!std::isfinite(points[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("GMM fit: point ", i / dim, " value ", i % dim, " is not finite"));
    }
  }
  std::vector<float> w(n, 1.0f);
  uint64_t positive = n;
  if (!weights.empty()) {
    positive = 0;
    for (uint64_t i = 0; i < n; ++i) {
      if (!(weights[i] >= 0) || !std::isfinite(weights[i])) {
        return absl::InvalidArgumentError(
            absl::StrCat("GMM fit: weight ", i, " is negative or not finite"));
      }
      w[i] = weights[i];
      positive += weights[i] > 0;
    }
  }
  if (positive == 0) return absl::InvalidArgumentError("GMM fit: no point has positive weight");
  const uint32_t k = options.components != 0
                         ? options.components
                         : std::max<uint32_t>(1, std::lround(std::sqrt(double(positive))));
  if (k > positive) {
    return absl::InvalidArgumentError(
        absl::StrCat("GMM fit: ", k, " components for ", positive, " points of positive weight"));
  }
  GmmFitReport local;
  GmmFitter fitter(points, n, dim, std::move(w), k, options);
  return fitter.Run(report != nullptr ? report : &local);
}

}  // namespace cairn
