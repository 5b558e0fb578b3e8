// The code kernel with hardware POPCNT on 64-bit words; compiled with -mavx2
// -mpopcnt and handed out only when CPUID reports both (code_scan_scalar.cc).
// Obeys the ISA translation-unit rule of index/distance_internal.h: only
// intrinsics and functions with internal linkage (no std::, no absl).
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "index/codes/code_scan.h"

namespace cairn::code_scan_internal {
namespace {

void DotAvx2(const uint64_t* planes, uint32_t num_planes, uint32_t words, const uint8_t* codes,
             size_t stride, size_t n, uint32_t* dot, uint32_t* popcount) {
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* code = codes + i * stride;
    uint64_t sum = 0, ones = 0;
    for (uint32_t w = 0; w < words; ++w) {
      uint64_t c;
      __builtin_memcpy(&c, code + 8 * w, 8);
      ones += _mm_popcnt_u64(c);
      // Horner from the top plane: one shift per plane instead of one
      // variable shift per plane.
      uint64_t word_sum = 0;
      for (uint32_t k = num_planes; k-- > 0;) {
        word_sum = (word_sum << 1) + _mm_popcnt_u64(c & planes[k * words + w]);
      }
      sum += word_sum;
    }
    dot[i] = static_cast<uint32_t>(sum);
    popcount[i] = static_cast<uint32_t>(ones);
  }
}

const CodeScanKernels kAvx2 = {SimdLevel::kAvx2, DotAvx2};

}  // namespace

const CodeScanKernels* GetAvx2CodeKernels() { return &kAvx2; }

}  // namespace cairn::code_scan_internal
