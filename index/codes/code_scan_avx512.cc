// The code kernel on 512-bit chunks (8 words) with AVX512_VPOPCNTDQ; compiled
// with AVX-512 F/BW/VL/DQ/VPOPCNTDQ flags and handed out only when CPUID
// reports all of them (code_scan_scalar.cc). Obeys the ISA translation-unit
// rule of index/distance_internal.h: only intrinsics and functions with
// internal linkage (no std::, no absl).
//
// Per entry, each chunk of the code is ANDed with the same chunk of every
// plane; per 64-bit lane the popcounts are combined by Horner's rule from the
// top plane (acc = 2 * acc + popcount), so a lane holds at most
// 64 * (2^16 - 1) and the 8-lane total fits uint32 under the limits of
// code_scan.h. The last chunk (< 8 words) uses zero-masked loads, which never
// touch the masked-off memory, and zero words add nothing.
#include <immintrin.h>

// GCC 12 false positives on _mm512_undefined_* inside reductions (see
// distance_avx512.cc).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <cstddef>
#include <cstdint>

#include "index/codes/code_scan.h"

namespace cairn::code_scan_internal {
namespace {

inline __m512i ChunkSum(__m512i c, const uint64_t* planes, uint32_t num_planes, uint32_t words,
                        uint32_t w, __mmask8 mask) {
  __m512i acc = _mm512_setzero_si512();
  for (uint32_t k = num_planes; k-- > 0;) {
    const __m512i p = _mm512_maskz_loadu_epi64(mask, planes + k * words + w);
    acc = _mm512_add_epi64(_mm512_slli_epi64(acc, 1), _mm512_popcnt_epi64(_mm512_and_si512(c, p)));
  }
  return acc;
}

void DotAvx512(const uint64_t* planes, uint32_t num_planes, uint32_t words, const uint8_t* codes,
               size_t stride, size_t n, uint32_t* dot, uint32_t* popcount) {
  const uint32_t full = words & ~7u;
  const __mmask8 tail = static_cast<__mmask8>((1u << (words - full)) - 1u);
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* code = codes + i * stride;
    __m512i sum = _mm512_setzero_si512();
    __m512i ones = _mm512_setzero_si512();
    for (uint32_t w = 0; w < full; w += 8) {
      const __m512i c = _mm512_loadu_si512(code + 8 * w);
      ones = _mm512_add_epi64(ones, _mm512_popcnt_epi64(c));
      sum = _mm512_add_epi64(sum, ChunkSum(c, planes, num_planes, words, w, 0xFF));
    }
    if (tail != 0) {
      const __m512i c = _mm512_maskz_loadu_epi64(tail, code + 8 * full);
      ones = _mm512_add_epi64(ones, _mm512_popcnt_epi64(c));
      sum = _mm512_add_epi64(sum, ChunkSum(c, planes, num_planes, words, full, tail));
    }
    dot[i] = static_cast<uint32_t>(_mm512_reduce_add_epi64(sum));
    popcount[i] = static_cast<uint32_t>(_mm512_reduce_add_epi64(ones));
  }
}

const CodeScanKernels kAvx512 = {SimdLevel::kAvx512, DotAvx512};

}  // namespace

const CodeScanKernels* GetAvx512CodeKernels() { return &kAvx512; }

}  // namespace cairn::code_scan_internal
