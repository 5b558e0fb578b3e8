// sq8: 8-bit scalar codes of the rotated residual, with an error bound that
// holds for every entry (not with a stated confidence as the sign codes').
//
// y = T r for r = x - c (HadamardRotation, padded to whole code words), then
// per entry lo = min y, step = (max y - lo) / 255 and u_j = round((y_j - lo)
// / step), so y_hat_j = lo + step * u_j and eps = ||y - y_hat|| (stored).
// x_hat = c + T^T y_hat is then a point within eps of x, and the triangle
// inequality bounds the true distance by the distance to x_hat:
//   L2   | ||q - x|| - ||q - x_hat|| | <= eps, with
//        ||q - x_hat||^2 = ||q - c||^2 - 2 <t, y_hat> + K,
//        t = T q, K = 2 <T c, y_hat> + ||y_hat||^2 (per entry, at encode);
//   IP   | <q, x> - <q, x_hat> | <= ||q|| eps, <q, x_hat> = <q, c> + <t, y_hat>.
// <t, y_hat> = lo * sum(t) + step * <t, u>: one float-by-uint8 dot product
// per entry with the dispatched kernel. A small slack covers float rounding
// (the rotation, the kernel's sums), so a search that keeps every entry
// whose lower bound is within the k-th upper bound returns the same top k
// as one that reads every vector.
//
// Entry layout (entry_bytes = padded_dim + 16): padded_dim x uint8 u, then
// float lo, step, eps, K.
//
// 128-d float vectors take 144 bytes instead of 512; the bound is about
// 0.5% of ||r|| (a 255-level grid over a rotated, Gaussian-like residual),
// tight enough that the second read fetches little more than the top k's
// vector pages. Entries of a uint8 index (784 bytes at 784-d) gain nothing:
// use the 1-bit families there.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "index/codes/code_models_internal.h"
#include "kernels/distance.h"

namespace cairn::code_internal {
namespace {

constexpr uint32_t kLevels = 255;
constexpr uint32_t kSqFloats = 4;
// Float rounding allowed for in the bound (EstimatePosting): one float ulp,
// and the relative error of a rotated coordinate (4 rounds of up to 16
// butterfly levels plus a sign and a permutation: ~72 ulps, rounded up).
constexpr double kUlp = 1.2e-7;
constexpr double kRotationSlack = 1e-5;

class SqCodeModel final : public CodeModel {
 public:
  SqCodeModel(const ModelHeader& h, uint32_t rounds)
      : rotation_(h.dim, h.seed, rounds), eps0_(h.eps0), seed_(h.seed) {
    family_ = CodeFamily::kSq8;
    metric_ = h.metric;
    dim_ = h.dim;
    code_bits_ = h.code_bits;
    entry_bytes_ = SqEntryBytes(rotation_.padded_dim());
  }

  uint64_t ram_bytes() const override { return sizeof(*this) + rotation_.ram_bytes(); }

  std::string Describe() const override {
    return absl::StrFormat(
        "sq8 (dim %u, padded %u) Hadamard rotation, %u rounds, 8 bits per coordinate, exact bound",
        dim_, rotation_.padded_dim(), rotation_.rounds());
  }

  void Encode(const float* x, const float* head, uint8_t* out) const override;
  void PrepareQuery(const float* q, CodeQuery* cq) const override;
  void EstimatePosting(const CodeQuery& cq, const PostingQueryTerms& terms, const uint8_t* entries,
                       uint32_t n, float* est, float* err) const override;
  void Serialize(std::string* out) const override;

 private:
  HadamardRotation rotation_;
  double eps0_;  // unused by the bound; kept so the header reads like the others'
  uint64_t seed_;
};

void SqCodeModel::Encode(const float* x, const float* head, uint8_t* out) const {
  thread_local std::vector<float> buf;
  const uint32_t padded = rotation_.padded_dim();
  buf.resize(dim_ + 3 * static_cast<size_t>(padded));
  float* r = buf.data();
  float* y = r + dim_;
  float* tc = y + padded;
  float* scratch = tc + padded;
  for (uint32_t d = 0; d < dim_; ++d) r[d] = x[d] - head[d];
  rotation_.Apply(r, y, scratch);
  float lo = y[0], hi = y[0];
  for (uint32_t j = 1; j < padded; ++j) {
    lo = std::min(lo, y[j]);
    hi = std::max(hi, y[j]);
  }
  float step = (hi - lo) / kLevels;
  if (!(step > 0) || !std::isfinite(step) || !std::isfinite(1.0f / step)) step = 0;
  const float inv = step > 0 ? 1.0f / step : 0.0f;
  if (metric_ == Metric::kL2) rotation_.Apply(head, tc, scratch);
  double eps2 = 0, k = 0;
  for (uint32_t j = 0; j < padded; ++j) {
    const float level = std::nearbyint((y[j] - lo) * inv);
    const uint8_t u = static_cast<uint8_t>(std::clamp(level, 0.0f, float{kLevels}));
    out[j] = u;
    // The same float arithmetic as the query side's lo * sum(t) + step * <t, u>.
    const double y_hat = double{lo} + double{step} * u;
    eps2 += (y[j] - y_hat) * (y[j] - y_hat);
    if (metric_ == Metric::kL2) k += y_hat * (2.0 * tc[j] + y_hat);
  }
  const float f[kSqFloats] = {lo, step, static_cast<float>(std::sqrt(eps2)),
                              static_cast<float>(k)};
  std::memcpy(out + padded, f, sizeof(f));
}

void SqCodeModel::PrepareQuery(const float* q, CodeQuery* cq) const {
  const uint32_t padded = rotation_.padded_dim();
  cq->t.resize(padded);
  cq->scratch.resize(padded);
  rotation_.Apply(q, cq->t.data(), cq->scratch.data());
  double t_sum = 0, t_abs = 0, q2 = 0;
  for (uint32_t j = 0; j < padded; ++j) {
    t_sum += cq->t[j];
    t_abs += std::fabs(cq->t[j]);
  }
  for (uint32_t d = 0; d < dim_; ++d) q2 += static_cast<double>(q[d]) * q[d];
  cq->t_sum = static_cast<float>(t_sum);
  cq->q_norm2 = static_cast<float>(q2);
  // The sign codes' query quantisation is not used; scale carries ||t||_1
  // for the rounding slack.
  cq->planes.clear();
  cq->offset = 0;
  cq->scale = static_cast<float>(t_abs);
}

void SqCodeModel::EstimatePosting(const CodeQuery& cq, const PostingQueryTerms& terms,
                                  const uint8_t* entries, uint32_t n, float* est,
                                  float* err) const {
  const F32U8Kernel dot = Kernels().dot_f32_u8;
  const uint32_t padded = rotation_.padded_dim();
  const bool l2 = metric_ == Metric::kL2;
  const double q_norm = std::sqrt(std::max(0.0f, cq.q_norm2));
  const double t_abs = cq.scale;
  const double v2 = std::max(0.0f, terms.q_head_l2);
  for (uint32_t i = 0; i < n; ++i) {
    const uint8_t* e = entries + static_cast<size_t>(i) * entry_bytes_;
    float f[kSqFloats];
    std::memcpy(f, e + padded, sizeof(f));
    const double lo = f[0], step = f[1], eps = f[2], k = f[3];
    const double tu = dot(cq.t.data(), e, padded);
    const double t_yhat = lo * cq.t_sum + step * tu;
    // Float rounding, all of it proportional to y_hat (so zero for an entry
    // at its head), y_max = max |y_hat_j|:
    //  - the kernel's float sum over P terms and the float sum(t): at most
    //    (P + 2) ulps of ||t||_1 * 2 y_max (|u_j step| <= 2 y_max);
    //  - the rotations of q (here) and c (at encode): kRotationSlack of the
    //    vector's norm per coordinate, times ||y_hat|| <= sqrt(P) y_max,
    //    with ||c|| <= ||q|| + ||q - c||.
    const double y_max = std::max(std::fabs(lo), std::fabs(lo + kLevels * step));
    const double rot = kRotationSlack * std::sqrt(static_cast<double>(padded)) * y_max;
    const double slack_dot = kUlp * (padded + 2) * t_abs * 2 * y_max + rot * q_norm;
    if (l2) {
      const double d2 = v2 - 2.0 * t_yhat + k;
      const double slack =
          2.0 * slack_dot + 2.0 * rot * (q_norm + std::sqrt(v2)) + kUlp * std::fabs(k);
      const double d_lo = std::max(0.0, std::sqrt(std::max(0.0, d2 - slack)) - eps);
      const double d_hi = std::sqrt(std::max(0.0, d2 + slack)) + eps;
      est[i] = static_cast<float>(0.5 * (d_lo * d_lo + d_hi * d_hi));
      err[i] = static_cast<float>(0.5 * (d_hi * d_hi - d_lo * d_lo) * (1 + 4 * kUlp));
    } else {
      est[i] = static_cast<float>(-double{terms.q_dot_head} - t_yhat);
      err[i] = static_cast<float>((q_norm * eps + slack_dot + kUlp * std::fabs(t_yhat)) *
                                  (1 + 4 * kUlp));
    }
  }
}

void SqCodeModel::Serialize(std::string* out) const {
  out->clear();
  BodyWriter w(out);
  w.U32(kBodyMagic);
  w.U32(kBodyVersion);
  w.U8(static_cast<uint8_t>(family_));
  w.U8(static_cast<uint8_t>(metric_));
  w.U8(static_cast<uint8_t>(RotationKind::kHadamard));
  w.U8(kQueryBits);
  w.U32(dim_);
  w.U32(code_bits_);
  w.U32(entry_bytes_);
  w.F64(eps0_);
  w.U64(seed_);
  w.U32(rotation_.rounds());
}

}  // namespace

uint32_t SqEntryBytes(uint32_t padded_dim) { return padded_dim + 4 * kSqFloats; }

}  // namespace cairn::code_internal

namespace cairn {
uint32_t Sq8EntryBytes(uint32_t dim) {
  return code_internal::SqEntryBytes(HadamardRotation::PaddedDim(dim));
}
}  // namespace cairn

namespace cairn::code_internal {

absl::StatusOr<std::unique_ptr<CodeModel>> TrainSq(const CodeParams& p, Metric metric,
                                                   uint32_t dim) {
  if (p.bits_per_dim != 1 && p.bits_per_dim != 8) {
    return absl::InvalidArgumentError(
        absl::StrCat("sq8 codes have 8 bits per coordinate, not ", p.bits_per_dim));
  }
  if (p.rotation != RotationKind::kHadamard) {
    return absl::InvalidArgumentError("sq8 codes use the Hadamard rotation only");
  }
  const uint32_t padded = HadamardRotation::PaddedDim(dim);
  if (uint64_t{8} * padded > kMaxCodeBits) {
    return absl::InvalidArgumentError(
        absl::StrCat("sq8 codes support dim up to ", kMaxCodeBits / 8, ", got ", dim));
  }
  const ModelHeader h{CodeFamily::kSq8, metric, RotationKind::kHadamard, dim, 8 * padded,
                      p.eps0, p.seed};
  return std::unique_ptr<CodeModel>(new SqCodeModel(h, HadamardRotation::kDefaultRounds));
}

absl::StatusOr<std::unique_ptr<CodeModel>> LoadSq(const ModelHeader& h, BodyReader* r) {
  if (h.rotation != RotationKind::kHadamard) return r->Corrupt("sq8 rotation is not Hadamard");
  if (h.code_bits != 8 * HadamardRotation::PaddedDim(h.dim)) {
    return r->Corrupt("sq8 bits do not match the padded dim");
  }
  uint32_t rounds = 0;
  CAIRN_RETURN_IF_ERROR(r->U32(&rounds));
  if (rounds == 0 || rounds > 16) return r->Corrupt(absl::StrCat("bad rounds ", rounds));
  return std::unique_ptr<CodeModel>(new SqCodeModel(h, rounds));
}

}  // namespace cairn::code_internal
