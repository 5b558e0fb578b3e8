// itq: T = R^T W, W the top B principal directions of the training
// residuals, R the ITQ rotation (index/itq_train.h), so T has orthonormal
// rows and codes are s = sign(T r). The estimator has RaBitQ's shape, which
// is exact for v = r, times one global factor gamma:
//   <r, v> ~= gamma * ||r||^2 / ||T r||_1 * <s, T v>
// With B < dim it is biased (T drops the residual's energy outside the PCA
// subspace), so there is no closed-form bound: gamma is fitted by least
// squares on held-out sample pairs and the bound is beta * ||v|| with
// beta = ||r|| times the GaussianConfidence(eps0) quantile of
// |est - true| / (||r|| ||v||) over the unaligned held-out pairs
// (code_models_internal.h: CalibrationPairs).
#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/random.h"
#include "common/status_macros.h"
#include "index/codes/code_models_internal.h"
#include "index/codes/itq_train.h"

namespace cairn::code_internal {
namespace {

struct ItqFit {
  double gamma = 1, quantile = 0, loss_first = 0, loss_last = 0;
};

class ItqCodeModel final : public SignCodeModel {
 public:
  ItqCodeModel(const ModelHeader& h, DenseTransform t, const ItqFit& fit)
      : SignCodeModel(h), fit_(fit) {
    dense_ = std::move(t);
  }

  std::string Describe() const override {
    return absl::StrFormat(
        "itq B=%u of dim %u, PCA + ITQ (loss %.4g -> %.4g), gamma=%.4f, bound quantile %.4f at "
        "conf %.3f",
        code_bits_, dim_, fit_.loss_first, fit_.loss_last, fit_.gamma, fit_.quantile,
        GaussianConfidence(eps0_));
  }

 protected:
  void Factors(double r_norm, double tr_l1, float* alpha, float* beta) const override {
    *alpha = static_cast<float>(fit_.gamma * r_norm * r_norm / tr_l1);
    *beta = static_cast<float>(fit_.quantile * r_norm);
  }
  void SerializeFamily(BodyWriter* w) const override {
    w->F64(fit_.gamma);
    w->F64(fit_.quantile);
    w->F64(fit_.loss_first);
    w->F64(fit_.loss_last);
    WriteDense(dense_, w);
  }

 private:
  ItqFit fit_;
};

// Fits gamma on all held-out pairs and the bound's quantile on the
// unaligned ones (see CalibrationPair).
void Calibrate(const std::vector<CalibrationPair>& pairs, double conf, ItqFit* fit) {
  double num = 0, den = 0;
  for (const CalibrationPair& p : pairs) {
    num += p.est0 * p.truth;
    den += p.est0 * p.est0;
  }
  fit->gamma = den > 0 ? num / den : 1.0;
  std::vector<double> rel;
  for (const CalibrationPair& p : pairs) {
    const double scale = p.r_norm * p.v_norm;
    if (!p.aligned && scale > 0) rel.push_back(std::fabs(p.truth - fit->gamma * p.est0) / scale);
  }
  fit->quantile = Quantile(std::move(rel), conf);
}

}  // namespace

absl::StatusOr<std::unique_ptr<CodeModel>> TrainItq(const CodeParams& p, Metric metric,
                                                    uint32_t dim, const float* residuals,
                                                    size_t n) {
  if (p.bits_per_dim != 1) {
    return absl::InvalidArgumentError("itq supports bits_per_dim = 1 (use itq_bits for fewer)");
  }
  const uint32_t b = p.itq_bits == 0 ? dim : p.itq_bits;
  if (b > dim) return absl::InvalidArgumentError(absl::StrCat("itq_bits ", b, " > dim ", dim));
  if (n < 2) return absl::InvalidArgumentError("itq needs at least 2 training residuals");
  std::vector<float> train;
  std::vector<size_t> held;
  SplitHeldOut(residuals, n, dim, &train, &held);
  CAIRN_ASSIGN_OR_RETURN(PcaItq learned, FitPcaItq(train.data(), train.size() / dim, dim, b,
                                                   p.itq_iterations, p.seed));
  ItqFit fit;
  fit.loss_first = learned.losses.front();
  fit.loss_last = learned.losses.back();
  Calibrate(CalibrationPairs(learned.transform, residuals, held, dim, p.seed),
            GaussianConfidence(p.eps0), &fit);
  ModelHeader h{CodeFamily::kItq, metric, RotationKind::kLearned, dim, b, p.eps0, p.seed};
  return std::unique_ptr<CodeModel>(new ItqCodeModel(h, std::move(learned.transform), fit));
}

absl::StatusOr<std::unique_ptr<CodeModel>> LoadItq(const ModelHeader& h, BodyReader* r) {
  if (h.code_bits > h.dim) return r->Corrupt("itq bits exceed dim");
  ItqFit fit;
  CAIRN_RETURN_IF_ERROR(r->F64(&fit.gamma));
  CAIRN_RETURN_IF_ERROR(r->F64(&fit.quantile));
  CAIRN_RETURN_IF_ERROR(r->F64(&fit.loss_first));
  CAIRN_RETURN_IF_ERROR(r->F64(&fit.loss_last));
  if (fit.quantile < 0) return r->Corrupt("negative bound quantile");
  DenseTransform t;
  CAIRN_RETURN_IF_ERROR(ReadDense(h.code_bits, h.dim, r, &t));
  return std::unique_ptr<CodeModel>(new ItqCodeModel(h, std::move(t), fit));
}

void SplitHeldOut(const float* rows, size_t n, uint32_t dim, std::vector<float>* train,
                  std::vector<size_t>* held) {
  for (size_t i = 0; i < n; ++i) {
    if (n >= 50 && i % 5 == 4) {
      held->push_back(i);
    } else {
      train->insert(train->end(), rows + i * dim, rows + (i + 1) * dim);
    }
  }
  if (held->empty()) {
    for (size_t i = 0; i < n; ++i) held->push_back(i);
  }
}

// Linearity keeps this O(B + dim) per pair: T v = lambda T r_i + T r_j and
// <r_i, v> = lambda ||r_i||^2 + <r_i, r_j>.
std::vector<CalibrationPair> CalibrationPairs(const DenseTransform& t, const float* rows,
                                              const std::vector<size_t>& held, uint32_t dim,
                                              uint64_t seed) {
  const uint32_t b = t.rows;
  std::vector<float> tr(held.size() * b);
  for (size_t h = 0; h < held.size(); ++h) t.Apply(rows + held[h] * dim, tr.data() + h * b);
  std::vector<CalibrationPair> pairs(std::min<size_t>(20000, 8 * held.size()));
  Rng rng(Rng::Mix(seed, 0x495451));
  for (size_t k = 0; k < pairs.size(); ++k) {
    CalibrationPair& p = pairs[k];
    const size_t i = rng.Below(held.size()), j = rng.Below(held.size());
    const double lambda = k % 2 ? rng.Uniform(0, 2) : 0.0;
    p.aligned = lambda > 0;
    const float* ri = rows + held[i] * dim;
    const float* rj = rows + held[j] * dim;
    double ri2 = 0, rirj = 0, rj2 = 0;
    for (uint32_t d = 0; d < dim; ++d) {
      ri2 += static_cast<double>(ri[d]) * ri[d];
      rirj += static_cast<double>(ri[d]) * rj[d];
      rj2 += static_cast<double>(rj[d]) * rj[d];
    }
    const float* ti = tr.data() + i * b;
    const float* tj = tr.data() + j * b;
    double l1 = 0, s_tv = 0;
    for (uint32_t k = 0; k < b; ++k) {
      l1 += std::fabs(ti[k]);
      const double tv = lambda * ti[k] + tj[k];
      s_tv += ti[k] > 0 ? tv : -tv;
    }
    p.r_norm = std::sqrt(ri2);
    p.v_norm = std::sqrt(std::max(0.0, lambda * lambda * ri2 + 2 * lambda * rirj + rj2));
    p.est0 = l1 > 0 ? ri2 / l1 * s_tv : 0;
    p.truth = lambda * ri2 + rirj;
    p.a = p.r_norm > 0 ? std::min(1.0, l1 / (std::sqrt(double(b)) * p.r_norm)) : 0;
  }
  return pairs;
}

double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  const size_t at = std::min(v.size() - 1, static_cast<size_t>(std::ceil(q * v.size())));
  std::nth_element(v.begin(), v.begin() + at, v.end());
  return v[at];
}

}  // namespace cairn::code_internal
