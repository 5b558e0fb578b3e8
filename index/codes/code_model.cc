// Names, the Train and Deserialize dispatch, the body reader/writer and the
// encode / query / estimate path shared by every family (see
// code_models_internal.h for the entry and body layouts).
#include "index/codes/code_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/random.h"
#include "common/status_macros.h"
#include "index/codes/code_models_internal.h"
#include "index/codes/code_scan.h"

namespace cairn {

const char* CodeFamilyName(CodeFamily f) {
  switch (f) {
    case CodeFamily::kNone:
      return "none";
    case CodeFamily::kLsh:
      return "lsh";
    case CodeFamily::kItq:
      return "itq";
    case CodeFamily::kRabitq:
      return "rabitq";
    case CodeFamily::kSq8:
      return "sq8";
  }
  return "?";
}

absl::StatusOr<CodeFamily> ParseCodeFamily(const std::string& name) {
  const std::string lower = absl::AsciiStrToLower(name);
  for (CodeFamily f :
       {CodeFamily::kNone, CodeFamily::kLsh, CodeFamily::kItq, CodeFamily::kRabitq,
        CodeFamily::kSq8}) {
    if (lower == CodeFamilyName(f)) return f;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown code family \"", name, "\" (expected none, lsh, itq, rabitq or sq8)"));
}

const char* RotationKindName(RotationKind r) {
  return r == RotationKind::kHadamard ? "hadamard" : r == RotationKind::kLearned ? "learned" : "?";
}

absl::StatusOr<std::unique_ptr<CodeModel>> CodeModel::Train(const CodeParams& params, Metric metric,
                                                            uint32_t dim, const float* residuals,
                                                            size_t n) {
  using namespace code_internal;
  if (dim == 0 || dim > kMaxDim) {
    return absl::InvalidArgumentError(
        absl::StrCat("code model dim ", dim, " not in [1, ", kMaxDim, "]"));
  }
  if (!(params.eps0 > 0) || !std::isfinite(params.eps0)) {
    return absl::InvalidArgumentError(absl::StrCat("eps0 must be positive, got ", params.eps0));
  }
  if (n > 0 && residuals == nullptr) return absl::InvalidArgumentError("residuals is null");
  for (size_t i = 0; i < n * dim; ++i) {
    if (!std::isfinite(residuals[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("training residual ", i / dim, " is not finite"));
    }
  }
  switch (params.family) {
    case CodeFamily::kNone:
      return absl::InvalidArgumentError("code family none has no model to train");
    case CodeFamily::kLsh:
      return TrainLsh(params, metric, dim);
    case CodeFamily::kItq:
      return TrainItq(params, metric, dim, residuals, n);
    case CodeFamily::kRabitq:
      return TrainRabitq(params, metric, dim, residuals, n);
    case CodeFamily::kSq8:
      return TrainSq(params, metric, dim);
  }
  return absl::InvalidArgumentError("unknown code family");
}

absl::StatusOr<std::unique_ptr<CodeModel>> CodeModel::Deserialize(std::span<const uint8_t> body,
                                                                  const std::string& where) {
  using namespace code_internal;
  BodyReader r(body, where);
  uint32_t magic = 0, version = 0, entry_bytes = 0;
  uint8_t family = 0, metric = 0, rotation = 0, query_bits = 0;
  ModelHeader h{};
  CAIRN_RETURN_IF_ERROR(r.U32(&magic));
  if (magic != kBodyMagic) return r.Corrupt("not a code model (bad magic)");
  CAIRN_RETURN_IF_ERROR(r.U32(&version));
  if (version != kBodyVersion) return r.Corrupt(absl::StrCat("unknown version ", version));
  CAIRN_RETURN_IF_ERROR(r.U8(&family));
  CAIRN_RETURN_IF_ERROR(r.U8(&metric));
  CAIRN_RETURN_IF_ERROR(r.U8(&rotation));
  CAIRN_RETURN_IF_ERROR(r.U8(&query_bits));
  CAIRN_RETURN_IF_ERROR(r.U32(&h.dim));
  CAIRN_RETURN_IF_ERROR(r.U32(&h.code_bits));
  CAIRN_RETURN_IF_ERROR(r.U32(&entry_bytes));
  CAIRN_RETURN_IF_ERROR(r.F64(&h.eps0));
  CAIRN_RETURN_IF_ERROR(r.U64(&h.seed));
  if (family < 1 || family > 4) return r.Corrupt(absl::StrCat("bad family ", family));
  if (metric > 2) return r.Corrupt(absl::StrCat("bad metric ", metric));
  if (rotation > 1) return r.Corrupt(absl::StrCat("bad rotation ", rotation));
  if (query_bits != kQueryBits) return r.Corrupt(absl::StrCat("bad query bits ", query_bits));
  if (h.dim == 0 || h.dim > kMaxDim) return r.Corrupt(absl::StrCat("bad dim ", h.dim));
  if (h.code_bits == 0 || h.code_bits > kMaxCodeBits) {
    return r.Corrupt(absl::StrCat("bad code bits ", h.code_bits));
  }
  const uint32_t expected_entry = family == static_cast<uint8_t>(CodeFamily::kSq8)
                                      ? SqEntryBytes(h.code_bits / 8)
                                      : EntryBytes(h.code_bits);
  if (entry_bytes != expected_entry) {
    return r.Corrupt(
        absl::StrCat("entry bytes ", entry_bytes, " do not match ", h.code_bits, " bits"));
  }
  if (!(h.eps0 > 0)) return r.Corrupt("eps0 not positive");
  h.family = static_cast<CodeFamily>(family);
  h.metric = static_cast<Metric>(metric);
  h.rotation = static_cast<RotationKind>(rotation);
  std::unique_ptr<CodeModel> model;
  switch (h.family) {
    case CodeFamily::kLsh: {
      CAIRN_ASSIGN_OR_RETURN(model, LoadLsh(h, &r));
      break;
    }
    case CodeFamily::kItq: {
      CAIRN_ASSIGN_OR_RETURN(model, LoadItq(h, &r));
      break;
    }
    case CodeFamily::kSq8: {
      CAIRN_ASSIGN_OR_RETURN(model, LoadSq(h, &r));
      break;
    }
    default: {
      CAIRN_ASSIGN_OR_RETURN(model, LoadRabitq(h, &r));
      break;
    }
  }
  CAIRN_RETURN_IF_ERROR(r.Finish());
  return model;
}

namespace code_internal {

double GaussianConfidence(double eps0) { return std::erf(eps0 / std::sqrt(2.0)); }

void BodyWriter::Floats(const std::vector<float>& v) {
  U64(v.size());
  Raw(v.data(), v.size() * sizeof(float));
}

absl::Status BodyReader::Corrupt(absl::string_view what) const {
  return absl::DataLossError(absl::StrCat(where_, ": code model body: ", what, " (at byte ", pos_,
                                          " of ", body_.size(), ")"));
}

absl::Status BodyReader::Raw(void* out, size_t n, absl::string_view what) {
  if (body_.size() - pos_ < n) return Corrupt(absl::StrCat("truncated reading ", what));
  std::memcpy(out, body_.data() + pos_, n);
  pos_ += n;
  return absl::OkStatus();
}

absl::Status BodyReader::F32(float* v) {
  CAIRN_RETURN_IF_ERROR(Raw(v, 4, "f32"));
  return std::isfinite(*v) ? absl::OkStatus() : Corrupt("non-finite float");
}

absl::Status BodyReader::F64(double* v) {
  CAIRN_RETURN_IF_ERROR(Raw(v, 8, "f64"));
  return std::isfinite(*v) ? absl::OkStatus() : Corrupt("non-finite double");
}

absl::Status BodyReader::Floats(uint64_t expected, absl::string_view what, std::vector<float>* v) {
  uint64_t count = 0;
  CAIRN_RETURN_IF_ERROR(U64(&count));
  if (count != expected) {
    return Corrupt(absl::StrCat(what, " has ", count, " values, expected ", expected));
  }
  if ((body_.size() - pos_) / sizeof(float) < count)
    return Corrupt(absl::StrCat("truncated ", what));
  v->resize(count);
  CAIRN_RETURN_IF_ERROR(Raw(v->data(), count * sizeof(float), what));
  for (float x : *v) {
    if (!std::isfinite(x)) return Corrupt(absl::StrCat(what, " holds a non-finite value"));
  }
  return absl::OkStatus();
}

absl::Status BodyReader::Finish() const {
  if (pos_ != body_.size()) return Corrupt(absl::StrCat(body_.size() - pos_, " trailing bytes"));
  return absl::OkStatus();
}

void WriteDense(const DenseTransform& t, BodyWriter* w) {
  w->U32(t.rows);
  w->U32(t.cols);
  w->Floats(t.m);
}

absl::Status ReadDense(uint32_t rows, uint32_t cols, BodyReader* r, DenseTransform* t) {
  CAIRN_RETURN_IF_ERROR(r->U32(&t->rows));
  CAIRN_RETURN_IF_ERROR(r->U32(&t->cols));
  if (t->rows != rows || t->cols != cols) {
    return r->Corrupt(
        absl::StrCat("matrix is ", t->rows, " x ", t->cols, ", expected ", rows, " x ", cols));
  }
  CAIRN_RETURN_IF_ERROR(r->Floats(static_cast<uint64_t>(rows) * cols, "matrix", &t->m));
  // Our matrices have orthonormal rows (itq, learned rabitq: |entry| <= 1)
  // or N(0, 1) entries from Rng::Gaussian (lsh: |entry| < 8.6). A larger
  // entry is no model of ours, and T q of a finite query could overflow.
  constexpr float kMaxEntry = 16;
  for (size_t i = 0; i < t->m.size(); ++i) {
    if (!(std::fabs(t->m[i]) <= kMaxEntry)) {
      return r->Corrupt(absl::StrCat("matrix entry (", i / cols, ", ", i % cols, ") is ", t->m[i],
                                     ", beyond +-", kMaxEntry));
    }
  }
  return absl::OkStatus();
}

SignCodeModel::SignCodeModel(const ModelHeader& h)
    : rotation_(h.rotation), eps0_(h.eps0), seed_(h.seed), words_(CodeWords(h.code_bits)) {
  family_ = h.family;
  metric_ = h.metric;
  dim_ = h.dim;
  code_bits_ = h.code_bits;
  entry_bytes_ = EntryBytes(h.code_bits);
}

uint64_t SignCodeModel::ram_bytes() const {
  return sizeof(*this) + dense_.ram_bytes() + (hadamard_ ? hadamard_->ram_bytes() : 0);
}

void SignCodeModel::Transform(const float* x, float* out, float* scratch) const {
  if (hadamard_) {
    hadamard_->Apply(x, out, scratch);
    std::fill(out + code_bits_, out + padded_bits(), 0.0f);
  } else {
    dense_.Apply(x, out);
    std::fill(out + dense_.rows, out + padded_bits(), 0.0f);
  }
}

void SignCodeModel::Encode(const float* x, const float* head, uint8_t* out) const {
  // Per thread, so encoding allocates only on a thread's first call.
  thread_local std::vector<float> buf;
  const uint32_t padded = padded_bits();
  buf.resize(dim_ + 3 * static_cast<size_t>(padded));
  float* r = buf.data();
  float* tr = r + dim_;
  float* tc = tr + padded;
  float* scratch = tc + padded;
  double r2 = 0;
  for (uint32_t d = 0; d < dim_; ++d) {
    r[d] = x[d] - head[d];
    r2 += static_cast<double>(r[d]) * r[d];
  }
  Transform(r, tr, scratch);
  std::memset(out, 0, 8 * static_cast<size_t>(words_));
  double tr_l1 = 0;
  for (uint32_t j = 0; j < code_bits_; ++j) {
    if (tr[j] > 0) out[j / 8] |= static_cast<uint8_t>(1u << (j % 8));  // little-endian words
    tr_l1 += std::fabs(tr[j]);
  }
  // Only the L2 form needs T c: for inner product the estimate is of <r, q>.
  double s_dot_tc = 0;
  if (metric_ == Metric::kL2) {
    Transform(head, tc, scratch);
    for (uint32_t j = 0; j < code_bits_; ++j) s_dot_tc += tr[j] > 0 ? tc[j] : -tc[j];
  }
  const double r_norm = std::sqrt(r2);
  float alpha = 0, beta = 0;
  if (r_norm > 0 && tr_l1 > 0) Factors(r_norm, tr_l1, &alpha, &beta);
  const float f[kEntryFloats] = {static_cast<float>(r_norm), static_cast<float>(s_dot_tc), alpha,
                                 beta};
  std::memcpy(out + 8 * static_cast<size_t>(words_), f, sizeof(f));
}

void SignCodeModel::PrepareQuery(const float* q, CodeQuery* cq) const {
  const uint32_t padded = padded_bits();
  cq->t.resize(padded);
  cq->scratch.resize(padded);
  Transform(q, cq->t.data(), cq->scratch.data());
  const float* t = cq->t.data();
  double t_sum = 0, q2 = 0;
  float lo = t[0], hi = t[0];
  for (uint32_t j = 0; j < code_bits_; ++j) {
    t_sum += t[j];
    lo = std::min(lo, t[j]);
    hi = std::max(hi, t[j]);
  }
  for (uint32_t d = 0; d < dim_; ++d) q2 += static_cast<double>(q[d]) * q[d];
  cq->t_sum = static_cast<float>(t_sum);
  cq->q_norm2 = static_cast<float>(q2);
  constexpr uint32_t kLevels = (1u << kQueryBits) - 1;
  const float scale = (hi - lo) / kLevels;
  const float inv = scale > 0 ? 1.0f / scale : 0.0f;
  cq->offset = lo;
  cq->planes.assign(static_cast<size_t>(kQueryBits) * words_, 0);
  // The conversion of level below is defined only for a finite level, so
  // the range must be positive with a finite reciprocal. Otherwise every
  // u_j = 0 (t_j ~= lo): exact when all t_j == lo; when the range is so
  // small that scale is subnormal and 1 / scale overflows (hi - lo below
  // ~255 * FLT_MIN, from tiny matrix entries or query values) the error is
  // below that range; when T q overflowed, no estimate means anything and
  // this one is at least defined (t_sum is not finite iff some t_j is not).
  if (!(scale > 0) || !std::isfinite(scale) || !std::isfinite(inv) || !std::isfinite(t_sum)) {
    cq->scale = 0;
    return;
  }
  cq->scale = scale;
  // Randomised rounding makes offset + scale * u_j an unbiased estimate of
  // t_j; the seed depends on the query so its estimates are reproducible.
  uint64_t h = seed_;
  for (uint32_t d = 0; d < dim_; ++d) {
    uint32_t bits;
    std::memcpy(&bits, q + d, 4);
    h = Rng::Mix(h, bits);
  }
  Rng rng(h);
  // Word by word, with the planes' words in registers: this loop runs once
  // per query over every code bit, and writing bits straight into the plane
  // vector cost ~10% of a Fashion-MNIST two-step search (measured).
  uint64_t* planes = cq->planes.data();
  for (uint32_t w = 0; w < words_; ++w) {
    uint64_t acc[kQueryBits] = {};
    const uint32_t j0 = w * kCodeWordBits, j1 = std::min(code_bits_, j0 + kCodeWordBits);
    for (uint32_t j = j0; j < j1; ++j) {
      // 24 random bits: a uniform in [0, 1) exact in float.
      const float r = static_cast<float>(rng.Next() >> 40) * 0x1.0p-24f;
      const float level = (t[j] - lo) * inv + r;  // >= 0, so truncation floors
      const uint32_t u = std::min<uint32_t>(static_cast<uint32_t>(level), kLevels);
      for (uint32_t k = 0; k < kQueryBits; ++k) acc[k] |= uint64_t{(u >> k) & 1u} << (j - j0);
    }
    for (uint32_t k = 0; k < kQueryBits; ++k) planes[k * words_ + w] = acc[k];
  }
}

// With b_j in {0, 1}, s = 2b - 1 and t_j ~= offset + scale * u_j:
//   <s, t> = 2 <b, t> - sum t ~= 2 (offset * popcount(b) + scale * <b, u>) - sum t.
// The rounding errors e_j (mean 0, variance <= 1/4 in units of scale) add
// 2 scale sum_{b_j = 1} e_j to <s, t>, of standard deviation at most
// scale * sqrt(popcount(b)); the bound adds eps0 times that (times alpha) in
// quadrature to the estimator's own term:
//   rabitq, itq  e = beta * ||v||
//   lsh          e = beta * sqrt(pi/2 ||v||^2 - est<o,v>^2), the plug-in
//                standard deviation of sum_j s_j <w_j, v> / sqrt(B)
// where v = q - c (L2) or q (inner product). The L2 bound is twice that on
// <r, v>, since dist = ||v||^2 + ||r||^2 - 2 <r, v>.
void SignCodeModel::EstimatePosting(const CodeQuery& cq, const PostingQueryTerms& terms,
                                    const uint8_t* entries, uint32_t n, float* est,
                                    float* err) const {
  constexpr uint32_t kBlock = 128;
  uint32_t dot[kBlock], ones[kBlock];
  const CodeDotKernel kernel = CodeKernels().dot;
  const bool l2 = metric_ == Metric::kL2;
  const double v2 = l2 ? std::max(0.0f, terms.q_head_l2) : std::max(0.0f, cq.q_norm2);
  const double v_norm = std::sqrt(v2);
  const double noise = eps0_ * cq.scale;
  const size_t factors_at = 8 * static_cast<size_t>(words_);
  for (uint32_t begin = 0; begin < n; begin += kBlock) {
    const uint32_t m = std::min(kBlock, n - begin);
    const uint8_t* block = entries + static_cast<size_t>(begin) * entry_bytes_;
    kernel(cq.planes.data(), kQueryBits, words_, block, entry_bytes_, m, dot, ones);
    for (uint32_t i = 0; i < m; ++i) {
      float f[kEntryFloats];
      std::memcpy(f, block + static_cast<size_t>(i) * entry_bytes_ + factors_at, sizeof(f));
      const double r_norm = f[0], alpha = f[2], beta = f[3];
      const double s_dot_t = 2.0 * (double{cq.offset} * static_cast<double>(ones[i]) +
                                    double{cq.scale} * static_cast<double>(dot[i])) -
                             cq.t_sum;
      const double rv = alpha * (l2 ? s_dot_t - f[1] : s_dot_t);
      double e = beta * v_norm;
      if (lsh_variance_) {
        const double ov = r_norm > 0 ? std::clamp(rv / r_norm, -v_norm, v_norm) : 0.0;
        e = beta * std::sqrt(std::max(0.0, M_PI / 2 * v2 - ov * ov));
      }
      const double eq = noise * alpha * std::sqrt(static_cast<double>(ones[i]));
      e = std::sqrt(e * e + eq * eq);
      const size_t out = begin + i;
      if (l2) {
        est[out] = static_cast<float>(v2 + r_norm * r_norm - 2.0 * rv);
        err[out] = static_cast<float>(2.0 * e);
      } else {
        est[out] = static_cast<float>(-double{terms.q_dot_head} - rv);
        err[out] = static_cast<float>(e);
      }
    }
  }
}

void SignCodeModel::Serialize(std::string* out) const {
  out->clear();
  BodyWriter w(out);
  w.U32(kBodyMagic);
  w.U32(kBodyVersion);
  w.U8(static_cast<uint8_t>(family_));
  w.U8(static_cast<uint8_t>(metric_));
  w.U8(static_cast<uint8_t>(rotation_));
  w.U8(kQueryBits);
  w.U32(dim_);
  w.U32(code_bits_);
  w.U32(entry_bytes_);
  w.F64(eps0_);
  w.U64(seed_);
  SerializeFamily(&w);
}

}  // namespace code_internal
}  // namespace cairn
