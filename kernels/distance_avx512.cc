// AVX-512 (F, BW, VL, DQ) kernels. Compiled with those flags plus AVX2/FMA;
// reached only through the dispatcher after it has checked the CPU
// (distance.cc). See distance_internal.h for why nothing here may odr-use a
// shared inline function (no std::, no absl).
//
// Float: four 16-lane accumulators, so four independent FMA chains are in
// flight (FMA latency 4 cycles); the tail (< 16 floats) uses a zero-masked
// load, which never faults on the masked-off bytes past the end.
//
// Mixed (float query, u8/i8 vector): 16 bytes are widened to 16 int32 (u8
// zero-extended, i8 sign-extended) and converted to float, which is exact,
// then treated like the float kernels: four accumulators, 64 elements per
// iteration. The tail (< 16) uses one lane mask for a zero-masked float load
// of the query and a zero-masked byte load (AVX512BW+VL) of the vector;
// masked-off lanes are 0 in both, adding nothing.
//
// Integers: 32 bytes are widened to 32 x int16 (u8 zero-extended, i8
// sign-extended) and _mm512_madd_epi16 multiplies and sums adjacent pairs
// into 16 int32 lanes. Differences fit int16 (|d| <= 255) and a pair sum is at
// most 2 * 255^2 = 130050; lanes are widened into an int64 total every kBlock
// elements, which keeps every dim exact. The tail (< 32 bytes) is one more
// step with masked byte loads (AVX512BW+VL); masked-off lanes load as zero,
// which adds nothing to either L2 or dot.
#include <immintrin.h>

// GCC 12's AVX-512 intrinsics (reductions, extracts, widening) pass
// _mm512_undefined_*() as the unused merge source, which
// -W(maybe-)uninitialized reports after inlining (GCC bug 105593, fixed in GCC
// 13). Nothing here reads uninitialised data; silence the false positive for
// this file only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <cstddef>
#include <cstdint>

#include "kernels/distance.h"
#include "kernels/distance_internal.h"

namespace cairn::distance_internal {
namespace {

// Elements between int32 -> int64 flushes. Per lane: kBlock / 32 steps, at
// most 130050 each, both accumulators together: 2048 * 130050 < 2^31.
constexpr size_t kBlock = 65536;

// Mask selecting the first n (< 16) float lanes.
inline __mmask16 FloatTailMask(size_t n) {
  return static_cast<__mmask16>((1u << n) - 1u);
}

// Mask selecting the first n (< 32) bytes.
inline __mmask32 ByteTailMask(size_t n) {
  return static_cast<__mmask32>((1u << n) - 1u);
}

float L2F32(const float* a, const float* b, size_t dim) {
  __m512 acc0 = _mm512_setzero_ps();
  __m512 acc1 = _mm512_setzero_ps();
  __m512 acc2 = _mm512_setzero_ps();
  __m512 acc3 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 64 <= dim; i += 64) {
    const __m512 d0 =
        _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
    const __m512 d1 =
        _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
    const __m512 d2 =
        _mm512_sub_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32));
    const __m512 d3 =
        _mm512_sub_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48));
    acc0 = _mm512_fmadd_ps(d0, d0, acc0);
    acc1 = _mm512_fmadd_ps(d1, d1, acc1);
    acc2 = _mm512_fmadd_ps(d2, d2, acc2);
    acc3 = _mm512_fmadd_ps(d3, d3, acc3);
  }
  for (; i + 16 <= dim; i += 16) {
    const __m512 d =
        _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
    acc0 = _mm512_fmadd_ps(d, d, acc0);
  }
  if (i < dim) {
    const __mmask16 mask = FloatTailMask(dim - i);
    const __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(mask, a + i),
                                   _mm512_maskz_loadu_ps(mask, b + i));
    acc1 = _mm512_fmadd_ps(d, d, acc1);
  }
  return _mm512_reduce_add_ps(
      _mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

float DotF32(const float* a, const float* b, size_t dim) {
  __m512 acc0 = _mm512_setzero_ps();
  __m512 acc1 = _mm512_setzero_ps();
  __m512 acc2 = _mm512_setzero_ps();
  __m512 acc3 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 64 <= dim; i += 64) {
    acc0 =
        _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16),
                           _mm512_loadu_ps(b + i + 16), acc1);
    acc2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32),
                           _mm512_loadu_ps(b + i + 32), acc2);
    acc3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48),
                           _mm512_loadu_ps(b + i + 48), acc3);
  }
  for (; i + 16 <= dim; i += 16) {
    acc0 =
        _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
  }
  if (i < dim) {
    const __mmask16 mask = FloatTailMask(dim - i);
    acc1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, a + i),
                           _mm512_maskz_loadu_ps(mask, b + i), acc1);
  }
  return _mm512_reduce_add_ps(
      _mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

// |a - b| per lane (clearing the sign bit is exact).
inline __m512 AbsDiff(__m512 a, __m512 b) { return _mm512_abs_ps(_mm512_sub_ps(a, b)); }

float L1F32(const float* a, const float* b, size_t dim) {
  __m512 acc0 = _mm512_setzero_ps();
  __m512 acc1 = _mm512_setzero_ps();
  __m512 acc2 = _mm512_setzero_ps();
  __m512 acc3 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 64 <= dim; i += 64) {
    acc0 = _mm512_add_ps(acc0, AbsDiff(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i)));
    acc1 = _mm512_add_ps(acc1, AbsDiff(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16)));
    acc2 = _mm512_add_ps(acc2, AbsDiff(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32)));
    acc3 = _mm512_add_ps(acc3, AbsDiff(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48)));
  }
  for (; i + 16 <= dim; i += 16) {
    acc0 = _mm512_add_ps(acc0, AbsDiff(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i)));
  }
  if (i < dim) {
    const __mmask16 mask = FloatTailMask(dim - i);
    acc1 = _mm512_add_ps(
        acc1, AbsDiff(_mm512_maskz_loadu_ps(mask, a + i), _mm512_maskz_loadu_ps(mask, b + i)));
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

// 16 bytes -> 16 floats, exactly.
inline __m512 U8ToF32(__m128i v) {
  return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(v));
}
inline __m512 I8ToF32(__m128i v) {
  return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(v));
}

// acc + one step's terms: (q - x)^2, resp. q * x.
inline __m512 L2Terms(__m512 q, __m512 x, __m512 acc) {
  const __m512 d = _mm512_sub_ps(q, x);
  return _mm512_fmadd_ps(d, d, acc);
}
inline __m512 DotTerms(__m512 q, __m512 x, __m512 acc) {
  return _mm512_fmadd_ps(q, x, acc);
}

// The u8 and i8 mixed kernels differ only in how bytes convert, so they share
// this driver on byte pointers.
template <__m512 (*ToF32)(__m128i), __m512 (*Terms)(__m512, __m512, __m512)>
float MixedKernel(const float* q, const uint8_t* x, size_t dim) {
  auto load_x = [](const uint8_t* p) {
    return ToF32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  };
  __m512 acc0 = _mm512_setzero_ps();
  __m512 acc1 = _mm512_setzero_ps();
  __m512 acc2 = _mm512_setzero_ps();
  __m512 acc3 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 64 <= dim; i += 64) {
    acc0 = Terms(_mm512_loadu_ps(q + i), load_x(x + i), acc0);
    acc1 = Terms(_mm512_loadu_ps(q + i + 16), load_x(x + i + 16), acc1);
    acc2 = Terms(_mm512_loadu_ps(q + i + 32), load_x(x + i + 32), acc2);
    acc3 = Terms(_mm512_loadu_ps(q + i + 48), load_x(x + i + 48), acc3);
  }
  for (; i + 16 <= dim; i += 16) {
    acc0 = Terms(_mm512_loadu_ps(q + i), load_x(x + i), acc0);
  }
  if (i < dim) {
    const __mmask16 mask = FloatTailMask(dim - i);
    acc1 = Terms(_mm512_maskz_loadu_ps(mask, q + i),
                 ToF32(_mm_maskz_loadu_epi8(mask, x + i)), acc1);
  }
  return _mm512_reduce_add_ps(
      _mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

// Sums 16 int32 lanes in int64 (the lane total may exceed int32).
inline int64_t HorizontalSumI32(__m512i v) {
  const __m512i lo = _mm512_cvtepi32_epi64(_mm512_castsi512_si256(v));
  const __m512i hi = _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(v, 1));
  return _mm512_reduce_add_epi64(_mm512_add_epi64(lo, hi));
}

// 32 bytes -> 32 x int16.
inline __m512i WidenU8(__m256i v) { return _mm512_cvtepu8_epi16(v); }
inline __m512i WidenI8(__m256i v) { return _mm512_cvtepi8_epi16(v); }

// 32 x int16 pairs -> 16 x int32 partial sums.
inline __m512i L2Pairs(__m512i a, __m512i b) {
  const __m512i d = _mm512_sub_epi16(a, b);
  return _mm512_madd_epi16(d, d);
}
inline __m512i DotPairs(__m512i a, __m512i b) {
  return _mm512_madd_epi16(a, b);
}

// The int8 and uint8 kernels differ only in how bytes widen, so they share
// this driver on byte pointers.
template <__m512i (*Widen)(__m256i), __m512i (*Pairs)(__m512i, __m512i)>
float IntKernel(const uint8_t* a, const uint8_t* b, size_t dim) {
  // One step: 32 elements of a and b -> 16 int32 partial sums.
  auto step = [](const uint8_t* pa, const uint8_t* pb) {
    return Pairs(
        Widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(pa))),
        Widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(pb))));
  };
  int64_t total = 0;
  size_t i = 0;
  const size_t simd_end = dim & ~size_t{31};
  while (i < simd_end) {
    const size_t block_end = simd_end - i > kBlock ? i + kBlock : simd_end;
    __m512i acc0 = _mm512_setzero_si512();
    __m512i acc1 = _mm512_setzero_si512();
    for (; i + 64 <= block_end; i += 64) {
      acc0 = _mm512_add_epi32(acc0, step(a + i, b + i));
      acc1 = _mm512_add_epi32(acc1, step(a + i + 32, b + i + 32));
    }
    if (i < block_end) {  // Exactly 32 left: block lengths are multiples of 32.
      acc0 = _mm512_add_epi32(acc0, step(a + i, b + i));
      i += 32;
    }
    total += HorizontalSumI32(_mm512_add_epi32(acc0, acc1));
  }
  if (i < dim) {
    const __mmask32 mask = ByteTailMask(dim - i);
    total +=
        HorizontalSumI32(Pairs(Widen(_mm256_maskz_loadu_epi8(mask, a + i)),
                               Widen(_mm256_maskz_loadu_epi8(mask, b + i))));
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

constexpr DistanceKernels kAvx512Kernels = {
    .level = SimdLevel::kAvx512,
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

const DistanceKernels* GetAvx512Kernels() { return &kAvx512Kernels; }

}  // namespace cairn::distance_internal
