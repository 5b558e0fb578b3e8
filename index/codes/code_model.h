// Binary codes of posting entries: what a posting stores per entry besides
// the full vector, so a search can estimate every entry's distance from a few
// bytes and read full vectors only for the candidates that may make the
// top k.
//
// Every code is of the entry's residual r = x - c to the head c of the
// posting it sits in (each replica its own code). All three families share
// one asymmetric estimator shape: a linear transform T (B x dim) maps the
// residual to B sign bits; the query is transformed once per query (t = T q,
// never per posting) and, because T is linear, the per-posting part
// <sign bits, T c> is folded into a per-entry factor at encode time. So a
// posting costs one pass over its entries' codes against a per-query table.
//
//   lsh    T = B x dim Gaussian (SimHash hyperplanes, data independent),
//          B = bits_per_dim * dim; estimator sqrt(pi/2)/B * <s, T v>
//          (unbiased for Gaussian rows); bound from its variance.
//   itq    T = ITQ rotation after PCA to B <= dim components (Gong and
//          Lazebnik), learned on a training sample; estimator <s, T v> / B
//          scaled by one global factor fitted on the sample; bound is an
//          empirical quantile of the error on held-out sample pairs.
//   rabitq T = orthogonal rotation (random: sign flips + fast Hadamard
//          transforms; or learned: the ITQ rotation at full dimension),
//          B = dim padded; RaBitQ's estimator with the per-entry factor
//          <x_bar, T o> and its error bound (Gao and Long, SIGMOD 2024).
//   sq8    not a sign code: the Hadamard-rotated residual on a per-entry
//          255-level grid, estimated through one float x uint8 dot product,
//          with a bound that holds for every entry (index/codes/sq_codes.cc).
//
// Distances follow index/metric.h: squared L2, or -dot for inner product
// (cosine indexes store normalised vectors and use the inner-product form;
// the caller adds its constant).
//
// Thread-safety: a CodeModel is immutable after Train/Deserialize; all
// methods are const and safe to call concurrently. CodeQuery is per query.
#ifndef CAIRN_INDEX_CODES_CODE_MODEL_H_
#define CAIRN_INDEX_CODES_CODE_MODEL_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/metric.h"

namespace cairn {

enum class CodeFamily : uint8_t { kNone = 0, kLsh = 1, kItq = 2, kRabitq = 3, kSq8 = 4 };
const char* CodeFamilyName(CodeFamily f);
// "none", "lsh", "itq", "rabitq", "sq8"; InvalidArgument otherwise.
absl::StatusOr<CodeFamily> ParseCodeFamily(const std::string& name);

enum class RotationKind : uint8_t { kHadamard = 0, kLearned = 1 };
const char* RotationKindName(RotationKind r);

// Bytes of one sq8 entry at `dim`: a byte per coordinate of the dimension
// padded to whole 64s, and four floats.
uint32_t Sq8EntryBytes(uint32_t dim);

struct CodeParams {
  CodeFamily family = CodeFamily::kNone;
  // lsh: hyperplanes per dimension (B = bits_per_dim * dim, >= 1);
  // itq: 1 (B = dim) or less via itq_bits; rabitq: 1 (extended RaBitQ codes
  // are not implemented; other values are InvalidArgument).
  uint32_t bits_per_dim = 1;
  uint32_t itq_bits = 0;                            // 0 = dim (itq only)
  RotationKind rotation = RotationKind::kHadamard;  // rabitq only
  uint32_t itq_iterations = 50;
  // Confidence of the error bound, stated as P(|Z| <= eps0) for a standard
  // normal Z (0.943 for eps0 = 1.9): rabitq's estimation error is ~Gaussian
  // with the bound's scale / eps0 as its standard deviation under a random
  // rotation; lsh's is by the central limit theorem; itq and the learned
  // rabitq rotation calibrate their bounds to that quantile on held-out
  // training residuals. (The RaBitQ paper's guaranteed, looser statement is
  // 1 - 2 exp(-c eps0^2).) tests/code_estimator_test.cc measures coverage.
  double eps0 = 1.9;
  uint64_t seed = 0x5eed;
};

// Per-query state, built once by PrepareQuery and reused for every posting.
// t is quantised to u_j in [0, 2^8) by randomised rounding (seeded by the
// model's seed and the query's bytes, so a query's estimates are
// reproducible), t_j ~= offset + scale * u_j, unbiased.
struct CodeQuery {
  std::vector<float> t;          // T q (B values, zero-padded to whole code words)
  std::vector<uint64_t> planes;  // u as bit planes, plane-major (index/code_scan.h)
  float t_sum = 0;               // sum of t
  float q_norm2 = 0;             // ||q||^2
  float scale = 0, offset = 0;   // quantisation of t
  std::vector<float> scratch;    // transform scratch
};

// Per posting values the searcher already has from the head search.
struct PostingQueryTerms {
  float q_head_l2 = 0;   // ||q - c||^2
  float q_dot_head = 0;  // <q, c>
};

class CodeModel {
 public:
  virtual ~CodeModel() = default;

  // Trains on n float vectors of `dim` (the sample; for rabitq with the
  // Hadamard rotation only the seed matters). heads[assign[i]] is the head
  // sample vector i would sit under, so learned families fit residuals:
  // pass the residuals directly (x - head) as `residuals`.
  static absl::StatusOr<std::unique_ptr<CodeModel>> Train(const CodeParams& params, Metric metric,
                                                          uint32_t dim, const float* residuals,
                                                          size_t n);

  CodeFamily family() const { return family_; }
  Metric metric() const { return metric_; }
  uint32_t dim() const { return dim_; }
  uint32_t code_bits() const { return code_bits_; }
  // Bytes one entry's code and factors take in a posting (a multiple of 8).
  uint32_t entry_bytes() const { return entry_bytes_; }
  // RAM the model holds (transform matrices, tables), for RAM reports.
  virtual uint64_t ram_bytes() const = 0;
  // One line for reports: family, bits, rotation, training figures.
  virtual std::string Describe() const = 0;

  // Writes entry_bytes() bytes for vector x under head c.
  virtual void Encode(const float* x, const float* head, uint8_t* out) const = 0;

  virtual void PrepareQuery(const float* q, CodeQuery* cq) const = 0;

  // For the n entries (entry_bytes() each, back to back) of one posting:
  // est[i] = estimated distance (metric.h convention), err[i] = half-width
  // of the error bound (>= 0), so the true distance lies in
  // [est - err, est + err] with the model's stated confidence.
  virtual void EstimatePosting(const CodeQuery& cq, const PostingQueryTerms& terms,
                               const uint8_t* entries, uint32_t n, float* est,
                               float* err) const = 0;

  // Serialises into a self-describing body (family, params, matrices); the
  // caller wraps it in a record file (magic, version, checksum).
  virtual void Serialize(std::string* out) const = 0;
  static absl::StatusOr<std::unique_ptr<CodeModel>> Deserialize(std::span<const uint8_t> body,
                                                                const std::string& where);

 protected:
  CodeFamily family_ = CodeFamily::kNone;
  Metric metric_ = Metric::kL2;
  uint32_t dim_ = 0;
  uint32_t code_bits_ = 0;
  uint32_t entry_bytes_ = 0;
};

}  // namespace cairn

#endif  // CAIRN_INDEX_CODES_CODE_MODEL_H_
