// lsh: SimHash with B = bits_per_dim * dim Gaussian hyperplanes w_j (rows of
// T, N(0, 1) entries, not orthogonalised: the estimator's unbiasedness needs
// independent Gaussian rows). For a Gaussian w and unit o,
// E[sign(<w, o>) <w, v>] = sqrt(2/pi) <o, v>, so
//   <r, v> ~= ||r|| sqrt(pi/2) / B * <s, T v>          (alpha = ||r|| sqrt(pi/2) / B)
// is unbiased over the draw of T, with per-term variance
// ||v||^2 - (2/pi) <o, v>^2; the bound is eps0 standard deviations of the
// mean of B such terms, with <o, v> replaced by its estimate (a CLT bound:
// coverage ~ P(|Z| <= eps0) for large B).
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/random.h"
#include "common/status_macros.h"
#include "index/codes/code_models_internal.h"
#include "index/codes/code_scan.h"

namespace cairn::code_internal {
namespace {

class LshCodeModel final : public SignCodeModel {
 public:
  LshCodeModel(const ModelHeader& h, DenseTransform t) : SignCodeModel(h) {
    dense_ = std::move(t);
    lsh_variance_ = true;
  }

  std::string Describe() const override {
    return absl::StrFormat("lsh B=%u (%u bits/dim) Gaussian hyperplanes, eps0=%.2f (conf %.3f)",
                           code_bits_, code_bits_ / dim_, eps0_, GaussianConfidence(eps0_));
  }

 protected:
  void Factors(double r_norm, double tr_l1, float* alpha, float* beta) const override {
    const double b = code_bits_;
    *alpha = static_cast<float>(r_norm * std::sqrt(M_PI / 2) / b);
    *beta = static_cast<float>(eps0_ * r_norm / std::sqrt(b));
  }
  void SerializeFamily(BodyWriter* w) const override { WriteDense(dense_, w); }
};

}  // namespace

absl::StatusOr<std::unique_ptr<CodeModel>> TrainLsh(const CodeParams& p, Metric metric,
                                                    uint32_t dim) {
  const uint64_t bits = static_cast<uint64_t>(p.bits_per_dim) * dim;
  // The matrix is B x dim floats; 2^28 of them (1 GiB) is already absurd.
  if (p.bits_per_dim == 0 || bits > kMaxCodeBits || bits * dim > (uint64_t{1} << 28)) {
    return absl::InvalidArgumentError(
        absl::StrCat("lsh needs 1 <= bits_per_dim * dim <= ", kMaxCodeBits, " (got ",
                     p.bits_per_dim, " x ", dim, ")"));
  }
  ModelHeader h{CodeFamily::kLsh, metric, RotationKind::kHadamard, dim, static_cast<uint32_t>(bits),
                p.eps0,           p.seed};
  DenseTransform t;
  t.rows = h.code_bits;
  t.cols = dim;
  t.m.resize(static_cast<size_t>(t.rows) * dim);
  Rng rng(Rng::Mix(p.seed, 0x4c5348));
  for (float& x : t.m) x = static_cast<float>(rng.Gaussian());
  return std::unique_ptr<CodeModel>(new LshCodeModel(h, std::move(t)));
}

absl::StatusOr<std::unique_ptr<CodeModel>> LoadLsh(const ModelHeader& h, BodyReader* r) {
  if (h.code_bits % h.dim != 0) return r->Corrupt("lsh bits are not a multiple of dim");
  DenseTransform t;
  CAIRN_RETURN_IF_ERROR(ReadDense(h.code_bits, h.dim, r, &t));
  return std::unique_ptr<CodeModel>(new LshCodeModel(h, std::move(t)));
}

}  // namespace cairn::code_internal
