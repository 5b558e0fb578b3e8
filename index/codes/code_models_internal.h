// Shared machinery of the code families (lsh_codes.cc, itq_codes.cc,
// rabitq_codes.cc, sq_codes.cc), for code_model.cc and those files only.
//
// Entry layout (entry_bytes = 8 * words + 16, words = ceil(B / 64)):
//   words x uint64   sign bits, bit j of word j / 64 set for s_j = +1
//                    (padding bits are 0)
//   float r_norm     ||r||, r = x - c
//   float s_dot_tc   <s, T c> (L2 only; 0 for inner product)
//   float alpha      <r, v> is estimated as alpha * <s, T v>
//   float beta       the error bound's per-entry coefficient (family
//                    specific, see SignCodeModel::EstimatePosting)
//
// Body layout (little-endian), every size validated by Deserialize:
//   u32 magic "CCMB", u32 version, u8 family, u8 metric, u8 rotation,
//   u8 query_bits, u32 dim, u32 code_bits, u32 entry_bytes, f64 eps0,
//   u64 seed, then the family's part (code_model.cc, *_codes.cc).
#ifndef CAIRN_INDEX_CODES_CODE_MODELS_INTERNAL_H_
#define CAIRN_INDEX_CODES_CODE_MODELS_INTERNAL_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "index/codes/code_model.h"
#include "index/codes/code_scan.h"
#include "index/codes/rotation.h"

namespace cairn::code_internal {

// Bits per quantised query value (B_q): at 8 bits the rounding noise is ~2%
// of the estimator's own error (see EstimatePosting), so it barely widens
// the bound.
constexpr uint32_t kQueryBits = 8;
constexpr uint32_t kEntryFloats = 4;
constexpr uint32_t kMaxDim = 65536;
constexpr uint32_t kBodyMagic = 0x424d4343;  // "CCMB"
constexpr uint32_t kBodyVersion = 1;

inline uint32_t CodeWords(uint32_t bits) { return (bits + kCodeWordBits - 1) / kCodeWordBits; }
inline uint32_t EntryBytes(uint32_t bits) { return 8 * CodeWords(bits) + 4 * kEntryFloats; }
// The probability that |Z| <= eps0 for a standard normal Z: the confidence
// the bounds are designed for (0.943 for eps0 = 1.9).
double GaussianConfidence(double eps0);

class BodyWriter {
 public:
  explicit BodyWriter(std::string* out) : out_(out) {}
  void U8(uint8_t v) { Raw(&v, 1); }
  void U32(uint32_t v) { Raw(&v, 4); }
  void U64(uint64_t v) { Raw(&v, 8); }
  void F32(float v) { Raw(&v, 4); }
  void F64(double v) { Raw(&v, 8); }
  void Floats(const std::vector<float>& v);  // u64 count, then the values

 private:
  void Raw(const void* p, size_t n) { out_->append(static_cast<const char*>(p), n); }
  std::string* out_;
};

// Bounds-checked reads; every failure is DataLoss naming `where`.
class BodyReader {
 public:
  BodyReader(std::span<const uint8_t> body, const std::string& where)
      : body_(body), where_(where) {}
  absl::Status U8(uint8_t* v) { return Raw(v, 1, "u8"); }
  absl::Status U32(uint32_t* v) { return Raw(v, 4, "u32"); }
  absl::Status U64(uint64_t* v) { return Raw(v, 8, "u64"); }
  absl::Status F32(float* v);   // finite
  absl::Status F64(double* v);  // finite
  // A u64 count that must equal `expected`, then that many finite floats.
  absl::Status Floats(uint64_t expected, absl::string_view what, std::vector<float>* v);
  absl::Status Finish() const;  // no bytes left over
  absl::Status Corrupt(absl::string_view what) const;

 private:
  absl::Status Raw(void* out, size_t n, absl::string_view what);
  std::span<const uint8_t> body_;
  size_t pos_ = 0;
  const std::string& where_;
};

struct ModelHeader {
  CodeFamily family;
  Metric metric;
  RotationKind rotation;
  uint32_t dim, code_bits;
  double eps0;
  uint64_t seed;
};

// Everything but the transform's construction and the per-entry factors is
// common to the families: encoding, the per-query transform and
// quantisation, and the estimation loop over a posting.
class SignCodeModel : public CodeModel {
 public:
  void Encode(const float* x, const float* head, uint8_t* out) const final;
  void PrepareQuery(const float* q, CodeQuery* cq) const final;
  void EstimatePosting(const CodeQuery& cq, const PostingQueryTerms& terms, const uint8_t* entries,
                       uint32_t n, float* est, float* err) const final;
  void Serialize(std::string* out) const final;
  uint64_t ram_bytes() const override;

  // Transform rows with a meaning (B); the rest of the words are padding.
  uint32_t padded_bits() const { return kCodeWordBits * words_; }
  // T x into out[0, padded_bits()), zeros past B; scratch has padded_bits().
  void Transform(const float* x, float* out, float* scratch) const;

 protected:
  explicit SignCodeModel(const ModelHeader& h);
  // alpha and beta of an entry from ||r|| > 0 and ||T r||_1 > 0.
  virtual void Factors(double r_norm, double tr_l1, float* alpha, float* beta) const = 0;
  virtual void SerializeFamily(BodyWriter* w) const = 0;

  RotationKind rotation_ = RotationKind::kHadamard;
  double eps0_;
  uint64_t seed_;
  uint32_t words_;
  // The bound uses the plug-in variance of the LSH estimator instead of
  // beta * ||v||.
  bool lsh_variance_ = false;
  // Exactly one is set: the structured rotation, or a dense B x dim matrix.
  std::unique_ptr<HadamardRotation> hadamard_;
  DenseTransform dense_;
};

// Family entry points (the body reader is positioned after the header).
absl::StatusOr<std::unique_ptr<CodeModel>> TrainLsh(const CodeParams& p, Metric metric,
                                                    uint32_t dim);
absl::StatusOr<std::unique_ptr<CodeModel>> LoadLsh(const ModelHeader& h, BodyReader* r);
absl::StatusOr<std::unique_ptr<CodeModel>> TrainItq(const CodeParams& p, Metric metric,
                                                    uint32_t dim, const float* residuals, size_t n);
absl::StatusOr<std::unique_ptr<CodeModel>> LoadItq(const ModelHeader& h, BodyReader* r);
absl::StatusOr<std::unique_ptr<CodeModel>> TrainRabitq(const CodeParams& p, Metric metric,
                                                       uint32_t dim, const float* residuals,
                                                       size_t n);
absl::StatusOr<std::unique_ptr<CodeModel>> LoadRabitq(const ModelHeader& h, BodyReader* r);
// sq8 (sq_codes.cc) has its own entry layout: padded_dim bytes + 16.
uint32_t SqEntryBytes(uint32_t padded_dim);
absl::StatusOr<std::unique_ptr<CodeModel>> TrainSq(const CodeParams& p, Metric metric,
                                                   uint32_t dim);
absl::StatusOr<std::unique_ptr<CodeModel>> LoadSq(const ModelHeader& h, BodyReader* r);

// Calibration of the learned transforms (itq_codes.cc), whose errors have no
// closed form: every 5th training residual is held out (all of them serve
// both roles when n < 50), and pairs (r_i, v) of held-out residuals are
// estimated with the float transform. Half the pairs are unaligned
// (v = r_j), half aligned (v = lambda r_i + r_j, lambda uniform in [0, 2)).
// Errors come only from v's part orthogonal to r, so bounds in units of
// ||v|| are calibrated on the unaligned pairs (the worst case, and what an
// entry under a far head sees); scale factors are fitted on all pairs.
struct CalibrationPair {
  double est0;   // ||r||^2 / ||T r||_1 * <s, T v> (RaBitQ's form, no gamma)
  double truth;  // <r, v>
  double r_norm, v_norm;
  double a;  // ||T r||_1 / (sqrt(B) ||r||)
  bool aligned;
};
void SplitHeldOut(const float* rows, size_t n, uint32_t dim, std::vector<float>* train,
                  std::vector<size_t>* held);
std::vector<CalibrationPair> CalibrationPairs(const DenseTransform& t, const float* rows,
                                              const std::vector<size_t>& held, uint32_t dim,
                                              uint64_t seed);
// The q-quantile (0 <= q <= 1) of v; 0 for an empty v.
double Quantile(std::vector<double> v, double q);

// A dense matrix in the body: u32 rows, u32 cols, then Floats.
void WriteDense(const DenseTransform& t, BodyWriter* w);
absl::Status ReadDense(uint32_t rows, uint32_t cols, BodyReader* r, DenseTransform* t);

}  // namespace cairn::code_internal

#endif  // CAIRN_INDEX_CODES_CODE_MODELS_INTERNAL_H_
