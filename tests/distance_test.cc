// Every SIMD level against the scalar reference (index/distance_scalar.cc),
// plus the metric wrappers and the dispatcher. Levels the CPU lacks are
// skipped, not failed. No timing assertions: speed is kernel_bench's job.
#include "kernels/distance.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace cairn {

// Lets GoogleTest print "avx2" rather than the enum's bytes in failures.
void PrintTo(SimdLevel level, std::ostream* os) { *os << SimdLevelName(level); }

namespace {

// Covers empty, shorter than one register, every tail length around the
// 8/16/32/64-element steps, and common embedding sizes.
constexpr size_t kDims[] = {0,   1,   2,   3,   7,    15,  16,  17,
                            31,  33,  63,  64,  65,   100, 127, 128,
                            129, 384, 784, 960, 1000, 4096};

// Float tolerance, relative to the sum of |terms| (|a_i b_i| for dot,
// (a_i - b_i)^2 for L2). Scalar and SIMD compute the same terms but add them
// in different orders (one running sum vs. 8-64 lane partial sums and a
// tree; FMA also skips rounding each product). For a float sum of n terms the
// error is at most about n * u * sum|t| (u = 2^-24 ~ 6e-8), but that needs
// every rounding to err the same way; independent roundings grow like
// sqrt(n) * u * sum|t|, ~4e-6 at n = 4096. 1e-5 therefore holds for every
// dim here (and the data is seeded, so it is not flaky), while a kernel bug
// (a dropped or repeated element) moves the result by a whole term, typically
// sum|t| / n >= 2.4e-4 * sum|t|, far outside it.
constexpr double kF32RelTolerance = 1e-5;

std::vector<float> RandomFloats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Uniform in [lo, hi): queries on the scale of the byte vectors they meet.
std::vector<float> RandomFloatsIn(size_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

template <typename T>
std::vector<T> RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(0, 255);
  std::vector<T> v(n);
  for (T& x : v) x = static_cast<T>(static_cast<uint8_t>(dist(rng)));
  return v;
}

// Exact integer references, independent of both kernel implementations.
template <typename T>
float ExactL2(const T* a, const T* b, size_t dim) {
  int64_t sum = 0;
  for (size_t i = 0; i < dim; ++i) {
    const int64_t d = int64_t{a[i]} - int64_t{b[i]};
    sum += d * d;
  }
  return static_cast<float>(sum);
}

template <typename T>
float ExactDot(const T* a, const T* b, size_t dim) {
  int64_t sum = 0;
  for (size_t i = 0; i < dim; ++i) sum += int64_t{a[i]} * int64_t{b[i]};
  return static_cast<float>(sum);
}

// Worst-case error of a float sum of dim terms against the exact sum, in
// units of sum|terms|, for any summation order (see
// F32MatchesDoublePrecision; the rounded difference q - x of a mixed L2 term
// adds at most 3u per term, inside it).
double FloatSumBound(size_t dim) {
  return 2.0 * (dim + 8) * std::ldexp(1.0, -24);
}

// kF32RelTolerance assumes independent roundings. Structured data (equal
// terms, integer-valued floats such as pixels) breaks that: the roundings of
// one running sum then err the same way, and at dim 4096 the scalar
// reference was measured 2.2e-5 (x^2 of random bytes) to 2.7e-5 (4096 equal
// terms) off the exact sum, while the SIMD levels' short lane sums stayed
// closer. Level vs. scalar on such data can only use the worst-case bound of
// both against the exact sum; the exact checks (ExpectMixedExact) are what
// catch a lost or repeated element there.
double StructuredTolerance(size_t dim) { return 2.0 * FloatSumBound(dim); }

// Double-precision sums for a float query q against a byte vector x, plus
// the sums of |terms| the tolerances scale with (for L2 that is l2 itself).
struct MixedReference {
  double l2 = 0.0;
  double dot = 0.0;
  double dot_abs = 0.0;
};

template <typename T>
MixedReference MixedSums(const float* q, const T* x, size_t dim) {
  MixedReference r;
  for (size_t i = 0; i < dim; ++i) {
    const double d = double{q[i]} - static_cast<double>(x[i]);
    r.l2 += d * d;
    r.dot += double{q[i]} * static_cast<double>(x[i]);
    r.dot_abs += std::fabs(double{q[i]} * static_cast<double>(x[i]));
  }
  return r;
}

// The kernels of one level for one byte type, so that a test body can be
// written once for u8 and i8.
template <typename T>
struct MixedPair {
  float (*l2)(const float*, const T*, size_t);
  float (*dot)(const float*, const T*, size_t);
};

template <typename T>
MixedPair<T> MixedKernelsOf(const DistanceKernels& k);
template <>
MixedPair<uint8_t> MixedKernelsOf(const DistanceKernels& k) {
  return {k.l2_f32_u8, k.dot_f32_u8};
}
template <>
MixedPair<int8_t> MixedKernelsOf(const DistanceKernels& k) {
  return {k.l2_f32_i8, k.dot_f32_i8};
}

// Checks one level's mixed kernels on (q, x) against the scalar reference
// (rel_tolerance * sum|terms|: kF32RelTolerance for random data,
// StructuredTolerance otherwise) and against a double-precision sum (within
// FloatSumBound).
template <typename T>
void ExpectMixedMatches(const DistanceKernels& level,
                        const DistanceKernels& scalar, const float* q,
                        const T* x, size_t dim, double rel_tolerance) {
  const MixedPair<T> k = MixedKernelsOf<T>(level);
  const MixedPair<T> ref = MixedKernelsOf<T>(scalar);
  const MixedReference exact = MixedSums(q, x, dim);
  const double bound = FloatSumBound(dim);
  const float l2 = k.l2(q, x, dim);
  const float dot = k.dot(q, x, dim);
  EXPECT_NEAR(l2, ref.l2(q, x, dim), rel_tolerance * exact.l2);
  EXPECT_NEAR(dot, ref.dot(q, x, dim), rel_tolerance * exact.dot_abs);
  EXPECT_NEAR(l2, exact.l2, bound * exact.l2);
  EXPECT_NEAR(dot, exact.dot, bound * exact.dot_abs);
}

// Memory that ends right before an inaccessible page, so a kernel reading
// even one byte past a vector placed at End() - size crashes the test.
class GuardedBuffer {
 public:
  explicit GuardedBuffer(size_t bytes) {
    page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    usable_ = (bytes + page_ - 1) / page_ * page_;
    void* p = mmap(nullptr, usable_ + page_, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) std::abort();
    base_ = static_cast<uint8_t*>(p);
    if (mprotect(base_ + usable_, page_, PROT_NONE) != 0) std::abort();
  }
  ~GuardedBuffer() { munmap(base_, usable_ + page_); }
  GuardedBuffer(const GuardedBuffer&) = delete;
  GuardedBuffer& operator=(const GuardedBuffer&) = delete;

  // Copies v so that its last byte is the last accessible byte.
  template <typename T>
  const T* PlaceAtEnd(const std::vector<T>& v) {
    uint8_t* dst = base_ + usable_ - v.size() * sizeof(T);
    if (!v.empty()) std::memcpy(dst, v.data(), v.size() * sizeof(T));
    return reinterpret_cast<const T*>(dst);
  }

 private:
  size_t page_ = 0;
  size_t usable_ = 0;
  uint8_t* base_ = nullptr;
};

std::string LevelParamName(const testing::TestParamInfo<SimdLevel>& info) {
  return std::string(SimdLevelName(info.param));
}

class KernelTest : public testing::TestWithParam<SimdLevel> {
 protected:
  void SetUp() override {
    kernels_ = KernelsFor(GetParam());
    if (kernels_ == nullptr) {
      GTEST_SKIP() << "this CPU cannot run " << SimdLevelName(GetParam());
    }
    scalar_ = KernelsFor(SimdLevel::kScalar);
    ASSERT_NE(scalar_, nullptr);
  }

  const DistanceKernels* kernels_ = nullptr;
  const DistanceKernels* scalar_ = nullptr;
};

TEST_P(KernelTest, LevelFieldMatches) {
  EXPECT_EQ(kernels_->level, GetParam());
  EXPECT_NE(kernels_->l2_f32, nullptr);
  EXPECT_NE(kernels_->l1_f32, nullptr);
  EXPECT_NE(kernels_->dot_f32, nullptr);
  EXPECT_NE(kernels_->l2_u8, nullptr);
  EXPECT_NE(kernels_->dot_u8, nullptr);
  EXPECT_NE(kernels_->l2_i8, nullptr);
  EXPECT_NE(kernels_->dot_i8, nullptr);
  EXPECT_NE(kernels_->l2_f32_u8, nullptr);
  EXPECT_NE(kernels_->dot_f32_u8, nullptr);
  EXPECT_NE(kernels_->l2_f32_i8, nullptr);
  EXPECT_NE(kernels_->dot_f32_i8, nullptr);
}

TEST_P(KernelTest, F32MatchesScalar) {
  for (size_t dim : kDims) {
    // One spare element so both operands can also start 1 float (4 bytes)
    // off their natural alignment.
    const std::vector<float> a = RandomFloats(dim + 1, 1000 + dim);
    const std::vector<float> b = RandomFloats(dim + 1, 2000 + dim);
    for (size_t offset : {0, 1}) {
      SCOPED_TRACE(testing::Message() << "dim=" << dim << " offset=" << offset);
      const float* pa = a.data() + offset;
      const float* pb = b.data() + offset;
      double l2_abs = 0.0;
      double dot_abs = 0.0;
      for (size_t i = 0; i < dim; ++i) {
        const double d = double{pa[i]} - double{pb[i]};
        l2_abs += d * d;
        dot_abs += std::fabs(double{pa[i]} * double{pb[i]});
      }
      EXPECT_NEAR(kernels_->l2_f32(pa, pb, dim), scalar_->l2_f32(pa, pb, dim),
                  kF32RelTolerance * l2_abs);
      EXPECT_NEAR(kernels_->dot_f32(pa, pb, dim), scalar_->dot_f32(pa, pb, dim),
                  kF32RelTolerance * dot_abs);
      // L1's terms are all >= 0, so sum |t| is the result itself.
      double l1 = 0.0;
      for (size_t i = 0; i < dim; ++i) l1 += std::fabs(double{pa[i]} - double{pb[i]});
      EXPECT_NEAR(kernels_->l1_f32(pa, pb, dim), scalar_->l1_f32(pa, pb, dim),
                  kF32RelTolerance * l1);
      EXPECT_NEAR(scalar_->l1_f32(pa, pb, dim), l1, kF32RelTolerance * l1);
    }
  }
}

TEST_P(KernelTest, F32MatchesDoublePrecision) {
  // Checks the reference too: against a double-precision sum, the float
  // error bound n * u * sum|t| holds for any summation order (n terms plus
  // at most log2(64) tree levels, with u = 2^-24; 2n keeps it simple).
  for (size_t dim : kDims) {
    SCOPED_TRACE(testing::Message() << "dim=" << dim);
    const std::vector<float> a = RandomFloats(dim, 3000 + dim);
    const std::vector<float> b = RandomFloats(dim, 4000 + dim);
    double l2 = 0.0;
    double dot = 0.0;
    double dot_abs = 0.0;
    for (size_t i = 0; i < dim; ++i) {
      const double d = double{a[i]} - double{b[i]};
      l2 += d * d;
      dot += double{a[i]} * double{b[i]};
      dot_abs += std::fabs(double{a[i]} * double{b[i]});
    }
    const double bound = 2.0 * (dim + 8) * std::ldexp(1.0, -24);
    EXPECT_NEAR(kernels_->l2_f32(a.data(), b.data(), dim), l2, bound * l2);
    EXPECT_NEAR(kernels_->dot_f32(a.data(), b.data(), dim), dot,
                bound * dot_abs);
  }
}

TEST_P(KernelTest, U8MatchesScalarExactly) {
  for (size_t dim : kDims) {
    const std::vector<uint8_t> a = RandomBytes<uint8_t>(dim + 1, 5000 + dim);
    const std::vector<uint8_t> b = RandomBytes<uint8_t>(dim + 1, 6000 + dim);
    for (size_t offset : {0, 1}) {
      SCOPED_TRACE(testing::Message() << "dim=" << dim << " offset=" << offset);
      const uint8_t* pa = a.data() + offset;
      const uint8_t* pb = b.data() + offset;
      EXPECT_EQ(scalar_->l2_u8(pa, pb, dim), ExactL2(pa, pb, dim));
      EXPECT_EQ(scalar_->dot_u8(pa, pb, dim), ExactDot(pa, pb, dim));
      EXPECT_EQ(kernels_->l2_u8(pa, pb, dim), scalar_->l2_u8(pa, pb, dim));
      EXPECT_EQ(kernels_->dot_u8(pa, pb, dim), scalar_->dot_u8(pa, pb, dim));
    }
  }
}

TEST_P(KernelTest, I8MatchesScalarExactly) {
  for (size_t dim : kDims) {
    const std::vector<int8_t> a = RandomBytes<int8_t>(dim + 1, 7000 + dim);
    const std::vector<int8_t> b = RandomBytes<int8_t>(dim + 1, 8000 + dim);
    for (size_t offset : {0, 1}) {
      SCOPED_TRACE(testing::Message() << "dim=" << dim << " offset=" << offset);
      const int8_t* pa = a.data() + offset;
      const int8_t* pb = b.data() + offset;
      EXPECT_EQ(scalar_->l2_i8(pa, pb, dim), ExactL2(pa, pb, dim));
      EXPECT_EQ(scalar_->dot_i8(pa, pb, dim), ExactDot(pa, pb, dim));
      EXPECT_EQ(kernels_->l2_i8(pa, pb, dim), scalar_->l2_i8(pa, pb, dim));
      EXPECT_EQ(kernels_->dot_i8(pa, pb, dim), scalar_->dot_i8(pa, pb, dim));
    }
  }
}

// The largest products (255^2 = 65025 for u8 and for i8 differences
// 127 - -128; (-128)^2 = 16384) overflow int16 at once and, summed carelessly,
// int32 lanes. Each level must equal the exact int64 sum rounded to float.
TEST_P(KernelTest, IntegerExtremes) {
  for (size_t dim : kDims) {
    SCOPED_TRACE(testing::Message() << "dim=" << dim);
    const std::vector<uint8_t> u255(dim, 255);
    const std::vector<uint8_t> u0(dim, 0);
    EXPECT_EQ(kernels_->dot_u8(u255.data(), u255.data(), dim),
              ExactDot(u255.data(), u255.data(), dim));
    EXPECT_EQ(kernels_->l2_u8(u255.data(), u0.data(), dim),
              ExactL2(u255.data(), u0.data(), dim));
    EXPECT_EQ(kernels_->l2_u8(u0.data(), u255.data(), dim),
              ExactL2(u0.data(), u255.data(), dim));

    const std::vector<int8_t> i_min(dim, -128);
    const std::vector<int8_t> i_max(dim, 127);
    std::vector<int8_t> mixed_a(dim);
    std::vector<int8_t> mixed_b(dim);
    for (size_t i = 0; i < dim; ++i) {
      mixed_a[i] = i % 2 == 0 ? -128 : 127;
      mixed_b[i] = i % 2 == 0 ? 127 : -128;
    }
    EXPECT_EQ(kernels_->dot_i8(i_min.data(), i_min.data(), dim),
              ExactDot(i_min.data(), i_min.data(), dim));
    EXPECT_EQ(kernels_->l2_i8(i_min.data(), i_max.data(), dim),
              ExactL2(i_min.data(), i_max.data(), dim));
    EXPECT_EQ(kernels_->dot_i8(i_min.data(), i_max.data(), dim),
              ExactDot(i_min.data(), i_max.data(), dim));
    EXPECT_EQ(kernels_->l2_i8(mixed_a.data(), mixed_b.data(), dim),
              ExactL2(mixed_a.data(), mixed_b.data(), dim));
    EXPECT_EQ(kernels_->dot_i8(mixed_a.data(), mixed_b.data(), dim),
              ExactDot(mixed_a.data(), mixed_b.data(), dim));
  }
  // Hand-checked values at the largest test dim.
  const std::vector<uint8_t> u255(4096, 255);
  const std::vector<uint8_t> u0(4096, 0);
  EXPECT_EQ(kernels_->dot_u8(u255.data(), u255.data(), 4096), 266342400.0f);
  EXPECT_EQ(kernels_->l2_u8(u255.data(), u0.data(), 4096), 266342400.0f);
  const std::vector<int8_t> i_min(4096, -128);
  EXPECT_EQ(kernels_->dot_i8(i_min.data(), i_min.data(), 4096), 67108864.0f);
}

TEST_P(KernelTest, IntegerSumsBeyondInt32) {
  // 255^2 * dim passes 2^31 at dim 33026, so the total must be int64; and at
  // 786449 even a single int32 lane (of 8 or 16, without periodic widening)
  // would pass it. Every level must still equal the exact sum, rounded once.
  for (size_t dim : {size_t{2 * 65536 + 17}, size_t{3 * 262144 + 17}}) {
    SCOPED_TRACE(testing::Message() << "dim=" << dim);
    const std::vector<uint8_t> u255(dim, 255);
    const std::vector<uint8_t> u0(dim, 0);
    EXPECT_EQ(kernels_->l2_u8(u255.data(), u0.data(), dim),
              static_cast<float>(int64_t{65025} * dim));
    EXPECT_EQ(kernels_->dot_u8(u255.data(), u255.data(), dim),
              static_cast<float>(int64_t{65025} * dim));
    const std::vector<int8_t> i_min(dim, -128);
    const std::vector<int8_t> i_max(dim, 127);
    EXPECT_EQ(kernels_->l2_i8(i_min.data(), i_max.data(), dim),
              static_cast<float>(int64_t{65025} * dim));
    EXPECT_EQ(kernels_->dot_i8(i_min.data(), i_min.data(), dim),
              static_cast<float>(int64_t{16384} * dim));
  }
}

// Mixed kernels: float queries spanning (and a little beyond) the byte range.
TEST_P(KernelTest, F32U8MatchesScalarAndDouble) {
  for (size_t dim : kDims) {
    // Spare elements so the query can start 1 float off its alignment and
    // the bytes 1 or 3 bytes off theirs.
    const std::vector<float> q =
        RandomFloatsIn(dim + 1, 11000 + dim, -16.0f, 272.0f);
    const std::vector<uint8_t> x = RandomBytes<uint8_t>(dim + 3, 12000 + dim);
    for (size_t q_offset : {0, 1}) {
      for (size_t x_offset : {0, 1, 3}) {
        SCOPED_TRACE(testing::Message()
                     << "dim=" << dim << " q_offset=" << q_offset
                     << " x_offset=" << x_offset);
        ExpectMixedMatches(*kernels_, *scalar_, q.data() + q_offset,
                           x.data() + x_offset, dim, kF32RelTolerance);
      }
    }
  }
}

TEST_P(KernelTest, F32I8MatchesScalarAndDouble) {
  for (size_t dim : kDims) {
    const std::vector<float> q =
        RandomFloatsIn(dim + 1, 13000 + dim, -144.0f, 144.0f);
    const std::vector<int8_t> x = RandomBytes<int8_t>(dim + 3, 14000 + dim);
    for (size_t q_offset : {0, 1}) {
      for (size_t x_offset : {0, 1, 3}) {
        SCOPED_TRACE(testing::Message()
                     << "dim=" << dim << " q_offset=" << q_offset
                     << " x_offset=" << x_offset);
        ExpectMixedMatches(*kernels_, *scalar_, q.data() + q_offset,
                           x.data() + x_offset, dim, kF32RelTolerance);
      }
    }
  }
}

// A query equal to the vector (q[i] = x[i] as float) must give L2 exactly 0
// at every level: any conversion error (zero- vs sign-extension, a lost lane,
// a wrong byte) leaves a nonzero term. Likewise q = 1 sums x exactly (every
// partial sum is an integer of magnitude below 2^24), and both q = 0 (L2) and
// q = x (dot) give sum x^2, within the float error bound.
template <typename T>
void ExpectMixedExact(const DistanceKernels& level, const std::vector<T>& x) {
  const size_t dim = x.size();
  const MixedPair<T> k = MixedKernelsOf<T>(level);
  const std::vector<float> same(x.begin(), x.end());
  const std::vector<float> ones(dim, 1.0f);
  const std::vector<float> zeros(dim, 0.0f);
  int64_t sum = 0;
  for (T v : x) sum += v;
  EXPECT_EQ(k.l2(same.data(), x.data(), dim), 0.0f);
  EXPECT_EQ(k.dot(ones.data(), x.data(), dim), static_cast<float>(sum));
  const double squares = MixedSums(zeros.data(), x.data(), dim).l2;
  EXPECT_NEAR(k.l2(zeros.data(), x.data(), dim), squares,
              FloatSumBound(dim) * squares);
  EXPECT_NEAR(k.dot(same.data(), x.data(), dim), squares,
              FloatSumBound(dim) * squares);
}

TEST_P(KernelTest, MixedExtremes) {
  for (size_t dim : kDims) {
    SCOPED_TRACE(testing::Message() << "dim=" << dim);
    const std::vector<uint8_t> u255(dim, 255);
    const std::vector<uint8_t> u_rand = RandomBytes<uint8_t>(dim, 15000 + dim);
    const std::vector<int8_t> i_min(dim, -128);
    const std::vector<int8_t> i_max(dim, 127);
    const std::vector<int8_t> i_rand = RandomBytes<int8_t>(dim, 16000 + dim);
    const std::vector<int8_t> i_mixed = [dim] {
      std::vector<int8_t> v(dim);
      for (size_t i = 0; i < dim; ++i) v[i] = i % 2 == 0 ? -128 : 127;
      return v;
    }();
    for (const std::vector<uint8_t>* x : {&u255, &u_rand}) {
      ExpectMixedExact(*kernels_, *x);
    }
    for (const std::vector<int8_t>* x : {&i_min, &i_max, &i_mixed, &i_rand}) {
      ExpectMixedExact(*kernels_, *x);
    }

    // Large queries, one sign and alternating (dot cancels), at the extreme
    // bytes: q - x rounds to q, and sums reach ~4e37, still finite.
    std::vector<float> big(dim, 1e17f);
    std::vector<float> big_alt(dim);
    for (size_t i = 0; i < dim; ++i) big_alt[i] = i % 3 == 0 ? -1e17f : 3e16f;
    for (const std::vector<float>* q : {&big, &big_alt}) {
      ExpectMixedMatches(*kernels_, *scalar_, q->data(), u255.data(), dim,
                         StructuredTolerance(dim));
      ExpectMixedMatches(*kernels_, *scalar_, q->data(), i_min.data(), dim,
                         StructuredTolerance(dim));
      ExpectMixedMatches(*kernels_, *scalar_, q->data(), i_mixed.data(), dim,
                         StructuredTolerance(dim));
    }

    // Past float range every level overflows the same way: +inf, not NaN.
    if (dim > 0) {
      const std::vector<float> huge(dim, 1e30f);
      const float inf = std::numeric_limits<float>::infinity();
      EXPECT_EQ(kernels_->l2_f32_u8(huge.data(), u255.data(), dim), inf);
      EXPECT_EQ(kernels_->l2_f32_i8(huge.data(), i_min.data(), dim), inf);
    }
  }
  // Hand-checked values at Fashion-MNIST's dim. All but one are exact in any
  // summation order: every partial sum is a multiple of 0.5 (resp. an
  // integer) below 2^23 (resp. 2^24). 784 * 254.5^2 has partial sums that
  // need rounding, so it gets the double-precision bound.
  const std::vector<uint8_t> u255(784, 255);
  const std::vector<float> ones(784, 1.0f);
  const std::vector<float> halves(784, 0.5f);
  EXPECT_EQ(kernels_->dot_f32_u8(ones.data(), u255.data(), 784), 199920.0f);
  EXPECT_EQ(kernels_->dot_f32_u8(halves.data(), u255.data(), 784), 99960.0f);
  EXPECT_NEAR(kernels_->l2_f32_u8(halves.data(), u255.data(), 784),
              784.0 * 254.5 * 254.5,
              FloatSumBound(784) * 784.0 * 254.5 * 254.5);
  const std::vector<int8_t> i_min(784, -128);
  EXPECT_EQ(kernels_->dot_f32_i8(ones.data(), i_min.data(), 784), -100352.0f);
  EXPECT_EQ(kernels_->l2_f32_i8(ones.data(), i_min.data(), 784), 13046544.0f);
}

TEST_P(KernelTest, L1OfSmallIntegersIsExact) {
  // Integer-valued floats: every partial sum is an integer below 2^24, so
  // any summation order gives the exact L1 distance.
  for (size_t dim : kDims) {
    SCOPED_TRACE(testing::Message() << "dim=" << dim);
    std::vector<float> a(dim), b(dim);
    double want = 0;
    for (size_t i = 0; i < dim; ++i) {
      a[i] = static_cast<float>(static_cast<int>(i % 7) - 3);
      b[i] = static_cast<float>(static_cast<int>(i % 5) * 2 - 4);
      want += std::fabs(double{a[i]} - double{b[i]});
    }
    EXPECT_EQ(kernels_->l1_f32(a.data(), b.data(), dim), static_cast<float>(want));
    EXPECT_EQ(kernels_->l1_f32(b.data(), a.data(), dim), static_cast<float>(want));
  }
}

TEST_P(KernelTest, NeverReadsPastTheEnd) {
  // Tails must use masked loads or copies, never a full-width load.
  for (size_t dim : kDims) {
    SCOPED_TRACE(testing::Message() << "dim=" << dim);
    const std::vector<float> fa = RandomFloats(dim, 9000 + dim);
    const std::vector<uint8_t> ua = RandomBytes<uint8_t>(dim, 9100 + dim);
    const std::vector<int8_t> ia = RandomBytes<int8_t>(dim, 9200 + dim);
    GuardedBuffer fbuf(dim * sizeof(float));
    GuardedBuffer ubuf(dim);
    GuardedBuffer ibuf(dim);
    const float* f = fbuf.PlaceAtEnd(fa);
    const uint8_t* u = ubuf.PlaceAtEnd(ua);
    const int8_t* s = ibuf.PlaceAtEnd(ia);
    EXPECT_EQ(kernels_->l2_f32(f, f, dim), 0.0f);
    EXPECT_EQ(kernels_->l1_f32(f, f, dim), 0.0f);
    EXPECT_NEAR(kernels_->dot_f32(f, f, dim), scalar_->dot_f32(f, f, dim),
                kF32RelTolerance * scalar_->dot_f32(f, f, dim));
    EXPECT_EQ(kernels_->l2_u8(u, u, dim), 0.0f);
    EXPECT_EQ(kernels_->dot_u8(u, u, dim), ExactDot(u, u, dim));
    EXPECT_EQ(kernels_->l2_i8(s, s, dim), 0.0f);
    EXPECT_EQ(kernels_->dot_i8(s, s, dim), ExactDot(s, s, dim));

    // Mixed: both the float query and the byte vector end at a guard page.
    // With q = x as floats, L2 is exactly 0 and dot is sum x^2 (integer
    // terms: structured data, see StructuredTolerance).
    const std::vector<float> qu(ua.begin(), ua.end());
    const std::vector<float> qi(ia.begin(), ia.end());
    GuardedBuffer qubuf(dim * sizeof(float));
    GuardedBuffer qibuf(dim * sizeof(float));
    const float* fu = qubuf.PlaceAtEnd(qu);
    const float* fi = qibuf.PlaceAtEnd(qi);
    EXPECT_EQ(kernels_->l2_f32_u8(fu, u, dim), 0.0f);
    EXPECT_NEAR(kernels_->dot_f32_u8(fu, u, dim),
                scalar_->dot_f32_u8(fu, u, dim),
                StructuredTolerance(dim) * scalar_->dot_f32_u8(fu, u, dim));
    EXPECT_EQ(kernels_->l2_f32_i8(fi, s, dim), 0.0f);
    EXPECT_NEAR(kernels_->dot_f32_i8(fi, s, dim),
                scalar_->dot_f32_i8(fi, s, dim),
                StructuredTolerance(dim) * scalar_->dot_f32_i8(fi, s, dim));
  }
}

INSTANTIATE_TEST_SUITE_P(AllLevels, KernelTest,
                         testing::Values(SimdLevel::kScalar, SimdLevel::kAvx2,
                                         SimdLevel::kAvx512),
                         LevelParamName);

TEST(DispatchTest, ScalarAlwaysAvailable) {
  const DistanceKernels* scalar = KernelsFor(SimdLevel::kScalar);
  ASSERT_NE(scalar, nullptr);
  EXPECT_EQ(scalar->level, SimdLevel::kScalar);
}

TEST(DispatchTest, KernelsForFollowsCpuLevel) {
  const SimdLevel cpu = CpuSimdLevel();
  for (SimdLevel level :
       {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    SCOPED_TRACE(SimdLevelName(level));
    const DistanceKernels* k = KernelsFor(level);
    if (level <= cpu) {
      ASSERT_NE(k, nullptr);
      EXPECT_EQ(k->level, level);
    } else {
      EXPECT_EQ(k, nullptr);
    }
  }
}

TEST(DispatchTest, KernelsHonoursCairnSimd) {
  // The choice is made once per process, so this checks it against whatever
  // CAIRN_SIMD this test binary was started with (run it with
  // CAIRN_SIMD=scalar to exercise the lowering).
  const SimdLevel cpu = CpuSimdLevel();
  SimdLevel expected = cpu;
  if (const char* env = std::getenv("CAIRN_SIMD"); env != nullptr) {
    const std::string value = env;
    if (value == "scalar") expected = SimdLevel::kScalar;
    if (value == "avx2") expected = SimdLevel::kAvx2;
    if (value == "avx512") expected = SimdLevel::kAvx512;
    if (expected > cpu) expected = cpu;
  }
  EXPECT_EQ(Kernels().level, expected);
}

TEST(DispatchTest, LevelNames) {
  EXPECT_EQ(SimdLevelName(SimdLevel::kScalar), "scalar");
  EXPECT_EQ(SimdLevelName(SimdLevel::kAvx2), "avx2");
  EXPECT_EQ(SimdLevelName(SimdLevel::kAvx512), "avx512");
}

TEST(DistanceTest, HandComputedValues) {
  // |a| = |b| = 5, a - b = (-1, 1), <a, b> = 24.
  const float a[] = {3.0f, 4.0f};
  const float b[] = {4.0f, 3.0f};
  EXPECT_FLOAT_EQ(Distance(Metric::kL2, a, b, 2), 2.0f);
  EXPECT_FLOAT_EQ(Distance(Metric::kInnerProduct, a, b, 2), -24.0f);
  EXPECT_NEAR(Distance(Metric::kCosine, a, b, 2), 1.0f - 24.0f / 25.0f, 1e-6);

  // (1,2,3) vs (4,6,8): squares of differences 9 + 16 + 25; dot 4 + 12 + 24.
  const float c[] = {1.0f, 2.0f, 3.0f};
  const float d[] = {4.0f, 6.0f, 8.0f};
  EXPECT_FLOAT_EQ(Distance(Metric::kL2, c, d, 3), 50.0f);
  EXPECT_FLOAT_EQ(Distance(Metric::kInnerProduct, c, d, 3), -40.0f);
  EXPECT_NEAR(Distance(Metric::kCosine, c, d, 3),
              1.0 - 40.0 / std::sqrt(14.0 * 116.0), 1e-6);
}

TEST(DistanceTest, CosineDirections) {
  const float x[] = {1.0f, 0.0f};
  const float y[] = {0.0f, 1.0f};
  const float minus_x[] = {-2.0f, 0.0f};
  const float e[] = {1.0f, 2.0f, 2.0f};
  const float e_scaled[] = {2.0f, 4.0f, 4.0f};
  EXPECT_NEAR(Distance(Metric::kCosine, x, y, 2), 1.0f, 1e-6);
  EXPECT_NEAR(Distance(Metric::kCosine, x, minus_x, 2), 2.0f, 1e-6);
  EXPECT_NEAR(Distance(Metric::kCosine, e, e_scaled, 3), 0.0f, 1e-6);
}

TEST(DistanceTest, CosineWithZeroVectorIsOne) {
  const float zero[] = {0.0f, 0.0f, 0.0f};
  const float v[] = {1.0f, 2.0f, 3.0f};
  EXPECT_EQ(Distance(Metric::kCosine, zero, v, 3), 1.0f);
  EXPECT_EQ(Distance(Metric::kCosine, v, zero, 3), 1.0f);
  EXPECT_EQ(Distance(Metric::kCosine, zero, zero, 3), 1.0f);
  EXPECT_EQ(Distance(Metric::kCosine, v, v, 0), 1.0f);
}

TEST(DistanceTest, SquaredNormAndNormalize) {
  float v[] = {3.0f, 4.0f};
  EXPECT_FLOAT_EQ(SquaredNorm(v, 2), 25.0f);
  Normalize(v, 2);
  EXPECT_FLOAT_EQ(v[0], 0.6f);
  EXPECT_FLOAT_EQ(v[1], 0.8f);
  EXPECT_NEAR(SquaredNorm(v, 2), 1.0f, 1e-6);

  std::vector<float> big = RandomFloats(1000, 42);
  Normalize(big.data(), big.size());
  EXPECT_NEAR(SquaredNorm(big.data(), big.size()), 1.0f, 1e-5);
}

TEST(DistanceTest, NormalizeLeavesZeroVectorAlone) {
  float zero[] = {0.0f, 0.0f, 0.0f, 0.0f};
  Normalize(zero, 4);
  for (float x : zero) EXPECT_EQ(x, 0.0f);  // Not NaN.
  Normalize(zero, 0);                       // Empty: nothing to do, no crash.
}

}  // namespace
}  // namespace cairn
