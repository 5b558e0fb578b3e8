// AVX2 + FMA kernels. Compiled with -mavx2 -mfma -mf16c only; reached only
// through the dispatcher after it has checked the CPU (distance.cc). See
// distance_internal.h for why nothing here may odr-use a shared inline
// function (no std::, no absl).
//
// Float: four 8-lane accumulators, so four independent FMA chains are in
// flight (FMA latency 4-5 cycles, two ports); the tail (< 8 floats) uses a
// masked load, which never touches memory past the end.
//
// Mixed (float query, u8/i8 vector): 8 bytes are widened to 8 int32 (u8
// zero-extended, i8 sign-extended) and converted to float, which is exact,
// then treated like the float kernels: four accumulators, 32 elements per
// iteration. The tail (< 8) masks the query load and copies the bytes into a
// zeroed buffer; masked-off lanes are 0 in both, adding nothing.
//
// Integers: bytes are widened to 16 bits (u8 zero-extended, i8 sign-extended)
// and _mm256_madd_epi16 multiplies and sums adjacent pairs into int32 lanes.
// Differences fit int16 (|d| <= 255) and a pair sum is at most 2 * 255^2 =
// 130050, so an int32 lane takes 16512 steps before it could overflow; lanes
// are widened into an int64 total every kBlock elements, which keeps every
// dim exact. The tail (< 16 bytes) is copied into a zeroed buffer: zeros add
// nothing to either L2 or dot.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/distance.h"
#include "kernels/distance_internal.h"

namespace cairn::distance_internal {
namespace {

// Elements between int32 -> int64 flushes. Per lane: kBlock / 16 steps, at
// most 130050 each, both accumulators together: 4096 * 130050 < 2^31.
constexpr size_t kBlock = 65536;

// Eight -1 then eight 0: the eight int32 starting at index 8 - n are n times
// -1 and then zeros, i.e. a maskload mask selecting the first n lanes.
alignas(32) constexpr int32_t kTailMaskTable[16] = {
    -1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

inline __m256i TailMask(size_t n) {
  return _mm256_loadu_si256(
      reinterpret_cast<const __m256i*>(kTailMaskTable + 8 - n));
}

inline float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Sums 8 int32 lanes in int64 (the lane total may exceed int32).
inline int64_t HorizontalSumI32(__m256i v) {
  const __m256i lo = _mm256_cvtepi32_epi64(_mm256_castsi256_si128(v));
  const __m256i hi = _mm256_cvtepi32_epi64(_mm256_extracti128_si256(v, 1));
  const __m256i s4 = _mm256_add_epi64(lo, hi);
  const __m128i s2 = _mm_add_epi64(_mm256_castsi256_si128(s4),
                                   _mm256_extracti128_si256(s4, 1));
  return _mm_cvtsi128_si64(s2) + _mm_extract_epi64(s2, 1);
}

float L2F32(const float* a, const float* b, size_t dim) {
  __m256 acc0 = _mm256_setzero_ps();
  __m256 acc1 = _mm256_setzero_ps();
  __m256 acc2 = _mm256_setzero_ps();
  __m256 acc3 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= dim; i += 32) {
    const __m256 d0 =
        _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    const __m256 d1 =
        _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
    const __m256 d2 =
        _mm256_sub_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16));
    const __m256 d3 =
        _mm256_sub_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24));
    acc0 = _mm256_fmadd_ps(d0, d0, acc0);
    acc1 = _mm256_fmadd_ps(d1, d1, acc1);
    acc2 = _mm256_fmadd_ps(d2, d2, acc2);
    acc3 = _mm256_fmadd_ps(d3, d3, acc3);
  }
  for (; i + 8 <= dim; i += 8) {
    const __m256 d =
        _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    acc0 = _mm256_fmadd_ps(d, d, acc0);
  }
  if (i < dim) {
    const __m256i mask = TailMask(dim - i);
    const __m256 d = _mm256_sub_ps(_mm256_maskload_ps(a + i, mask),
                                   _mm256_maskload_ps(b + i, mask));
    acc1 = _mm256_fmadd_ps(d, d, acc1);
  }
  return HorizontalSum(
      _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
}

float DotF32(const float* a, const float* b, size_t dim) {
  __m256 acc0 = _mm256_setzero_ps();
  __m256 acc1 = _mm256_setzero_ps();
  __m256 acc2 = _mm256_setzero_ps();
  __m256 acc3 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= dim; i += 32) {
    acc0 =
        _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8),
                           _mm256_loadu_ps(b + i + 8), acc1);
    acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16),
                           _mm256_loadu_ps(b + i + 16), acc2);
    acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24),
                           _mm256_loadu_ps(b + i + 24), acc3);
  }
  for (; i + 8 <= dim; i += 8) {
    acc0 =
        _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
  }
  if (i < dim) {
    const __m256i mask = TailMask(dim - i);
    acc1 = _mm256_fmadd_ps(_mm256_maskload_ps(a + i, mask),
                           _mm256_maskload_ps(b + i, mask), acc1);
  }
  return HorizontalSum(
      _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
}

// |a - b| per lane: clearing the sign bit is exact (no rounding).
inline __m256 AbsDiff(__m256 a, __m256 b) {
  return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), _mm256_sub_ps(a, b));
}

float L1F32(const float* a, const float* b, size_t dim) {
  __m256 acc0 = _mm256_setzero_ps();
  __m256 acc1 = _mm256_setzero_ps();
  __m256 acc2 = _mm256_setzero_ps();
  __m256 acc3 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= dim; i += 32) {
    acc0 = _mm256_add_ps(acc0, AbsDiff(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    acc1 = _mm256_add_ps(acc1, AbsDiff(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8)));
    acc2 = _mm256_add_ps(acc2, AbsDiff(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16)));
    acc3 = _mm256_add_ps(acc3, AbsDiff(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24)));
  }
  for (; i + 8 <= dim; i += 8) {
    acc0 = _mm256_add_ps(acc0, AbsDiff(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
  }
  if (i < dim) {
    const __m256i mask = TailMask(dim - i);
    acc1 = _mm256_add_ps(acc1,
                         AbsDiff(_mm256_maskload_ps(a + i, mask), _mm256_maskload_ps(b + i, mask)));
  }
  return HorizontalSum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
}

// The low 8 bytes of v -> 8 floats, exactly.
inline __m256 U8ToF32(__m128i v) {
  return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v));
}
inline __m256 I8ToF32(__m128i v) {
  return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v));
}

// acc + one step's terms: (q - x)^2, resp. q * x.
inline __m256 L2Terms(__m256 q, __m256 x, __m256 acc) {
  const __m256 d = _mm256_sub_ps(q, x);
  return _mm256_fmadd_ps(d, d, acc);
}
inline __m256 DotTerms(__m256 q, __m256 x, __m256 acc) {
  return _mm256_fmadd_ps(q, x, acc);
}

// The u8 and i8 mixed kernels differ only in how bytes convert, so they share
// this driver on byte pointers.
template <__m256 (*ToF32)(__m128i), __m256 (*Terms)(__m256, __m256, __m256)>
float MixedKernel(const float* q, const uint8_t* x, size_t dim) {
  auto load_x = [](const uint8_t* p) {
    return ToF32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
  };
  __m256 acc0 = _mm256_setzero_ps();
  __m256 acc1 = _mm256_setzero_ps();
  __m256 acc2 = _mm256_setzero_ps();
  __m256 acc3 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= dim; i += 32) {
    acc0 = Terms(_mm256_loadu_ps(q + i), load_x(x + i), acc0);
    acc1 = Terms(_mm256_loadu_ps(q + i + 8), load_x(x + i + 8), acc1);
    acc2 = Terms(_mm256_loadu_ps(q + i + 16), load_x(x + i + 16), acc2);
    acc3 = Terms(_mm256_loadu_ps(q + i + 24), load_x(x + i + 24), acc3);
  }
  for (; i + 8 <= dim; i += 8) {
    acc0 = Terms(_mm256_loadu_ps(q + i), load_x(x + i), acc0);
  }
  if (i < dim) {
    alignas(8) uint8_t tail_x[8] = {};
    __builtin_memcpy(tail_x, x + i, dim - i);
    acc1 = Terms(_mm256_maskload_ps(q + i, TailMask(dim - i)), load_x(tail_x),
                 acc1);
  }
  return HorizontalSum(
      _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
}

// 16 bytes -> 16 x int16.
inline __m256i WidenU8(__m128i v) { return _mm256_cvtepu8_epi16(v); }
inline __m256i WidenI8(__m128i v) { return _mm256_cvtepi8_epi16(v); }

// 16 x int16 pairs -> 8 x int32 partial sums.
inline __m256i L2Pairs(__m256i a, __m256i b) {
  const __m256i d = _mm256_sub_epi16(a, b);
  return _mm256_madd_epi16(d, d);
}
inline __m256i DotPairs(__m256i a, __m256i b) {
  return _mm256_madd_epi16(a, b);
}

// The int8 and uint8 kernels differ only in how bytes widen, so they share
// this driver on byte pointers.
template <__m256i (*Widen)(__m128i), __m256i (*Pairs)(__m256i, __m256i)>
float IntKernel(const uint8_t* a, const uint8_t* b, size_t dim) {
  // One step: 16 elements of a and b -> 8 int32 partial sums.
  auto step = [](const uint8_t* pa, const uint8_t* pb) {
    return Pairs(Widen(_mm_loadu_si128(reinterpret_cast<const __m128i*>(pa))),
                 Widen(_mm_loadu_si128(reinterpret_cast<const __m128i*>(pb))));
  };
  int64_t total = 0;
  size_t i = 0;
  const size_t simd_end = dim & ~size_t{15};
  while (i < simd_end) {
    const size_t block_end = simd_end - i > kBlock ? i + kBlock : simd_end;
    __m256i acc0 = _mm256_setzero_si256();
    __m256i acc1 = _mm256_setzero_si256();
    for (; i + 32 <= block_end; i += 32) {
      acc0 = _mm256_add_epi32(acc0, step(a + i, b + i));
      acc1 = _mm256_add_epi32(acc1, step(a + i + 16, b + i + 16));
    }
    if (i < block_end) {  // Exactly 16 left: block lengths are multiples of 16.
      acc0 = _mm256_add_epi32(acc0, step(a + i, b + i));
      i += 16;
    }
    total += HorizontalSumI32(_mm256_add_epi32(acc0, acc1));
  }
  if (i < dim) {
    alignas(16) uint8_t tail_a[16] = {};
    alignas(16) uint8_t tail_b[16] = {};
    __builtin_memcpy(tail_a, a + i, dim - i);
    __builtin_memcpy(tail_b, b + i, dim - i);
    total += HorizontalSumI32(step(tail_a, tail_b));
  }
  return static_cast<float>(total);
}

inline const uint8_t* Bytes(const int8_t* p) {
  return reinterpret_cast<const uint8_t*>(p);
}

float L2U8(const uint8_t* a, const uint8_t* b, size_t dim) {
  return IntKernel<WidenU8, L2Pairs>(a, b, dim);
}
float DotU8(const uint8_t* a, const uint8_t* b, size_t dim) {
  return IntKernel<WidenU8, DotPairs>(a, b, dim);
}
float L2I8(const int8_t* a, const int8_t* b, size_t dim) {
  return IntKernel<WidenI8, L2Pairs>(Bytes(a), Bytes(b), dim);
}
float DotI8(const int8_t* a, const int8_t* b, size_t dim) {
  return IntKernel<WidenI8, DotPairs>(Bytes(a), Bytes(b), dim);
}

float L2F32U8(const float* q, const uint8_t* x, size_t dim) {
  return MixedKernel<U8ToF32, L2Terms>(q, x, dim);
}
float DotF32U8(const float* q, const uint8_t* x, size_t dim) {
  return MixedKernel<U8ToF32, DotTerms>(q, x, dim);
}
float L2F32I8(const float* q, const int8_t* x, size_t dim) {
  return MixedKernel<I8ToF32, L2Terms>(q, Bytes(x), dim);
}
float DotF32I8(const float* q, const int8_t* x, size_t dim) {
  return MixedKernel<I8ToF32, DotTerms>(q, Bytes(x), dim);
}

constexpr DistanceKernels kAvx2Kernels = {
    .level = SimdLevel::kAvx2,
    .l2_f32 = L2F32,
    .dot_f32 = DotF32,
    .l1_f32 = L1F32,
    .l2_u8 = L2U8,
    .dot_u8 = DotU8,
    .l2_i8 = L2I8,
    .dot_i8 = DotI8,
    .l2_f32_u8 = L2F32U8,
    .dot_f32_u8 = DotF32U8,
    .l2_f32_i8 = L2F32I8,
    .dot_f32_i8 = DotF32I8,
};

}  // namespace

const DistanceKernels* GetAvx2Kernels() { return &kAvx2Kernels; }

}  // namespace cairn::distance_internal
