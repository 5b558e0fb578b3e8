// The scalar reference code kernel and the dispatcher, both compiled for
// baseline x86-64 (no POPCNT instruction: __builtin_popcountll becomes a
// libgcc call here, slow but exact, which is all a reference needs).
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "index/codes/code_scan.h"

namespace cairn {
namespace code_scan_internal {
namespace {

void DotScalar(const uint64_t* planes, uint32_t num_planes, uint32_t words, const uint8_t* codes,
               size_t stride, size_t n, uint32_t* dot, uint32_t* popcount) {
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* code = codes + i * stride;
    uint32_t sum = 0, ones = 0;
    for (uint32_t w = 0; w < words; ++w) {
      uint64_t c;
      std::memcpy(&c, code + 8 * w, 8);  // entries need not be 8-aligned
      ones += static_cast<uint32_t>(__builtin_popcountll(c));
      for (uint32_t k = 0; k < num_planes; ++k) {
        sum += static_cast<uint32_t>(__builtin_popcountll(c & planes[k * words + w])) << k;
      }
    }
    dot[i] = sum;
    popcount[i] = ones;
  }
}

const CodeScanKernels kScalar = {SimdLevel::kScalar, DotScalar};

}  // namespace

const CodeScanKernels* GetScalarCodeKernels() { return &kScalar; }

}  // namespace code_scan_internal

SimdLevel CodeScanCpuLevel() {
  // The distance level already requires the OS to save YMM/ZMM state; the
  // code kernels additionally need POPCNT (avx2 TU) and VPOPCNTDQ (avx512).
  static const SimdLevel level = [] {
    __builtin_cpu_init();
    const SimdLevel cpu = CpuSimdLevel();
    if (cpu >= SimdLevel::kAvx512 && __builtin_cpu_supports("avx512vpopcntdq") &&
        __builtin_cpu_supports("popcnt")) {
      return SimdLevel::kAvx512;
    }
    if (cpu >= SimdLevel::kAvx2 && __builtin_cpu_supports("popcnt")) return SimdLevel::kAvx2;
    return SimdLevel::kScalar;
  }();
  return level;
}

const CodeScanKernels* CodeKernelsFor(SimdLevel level) {
  if (level > CodeScanCpuLevel()) return nullptr;
  switch (level) {
    case SimdLevel::kScalar:
      return code_scan_internal::GetScalarCodeKernels();
    case SimdLevel::kAvx2:
      return code_scan_internal::GetAvx2CodeKernels();
    case SimdLevel::kAvx512:
      return code_scan_internal::GetAvx512CodeKernels();
  }
  return nullptr;
}

const CodeScanKernels& CodeKernels() {
  // Follows the distance kernels' choice (CPU level lowered by CAIRN_SIMD),
  // lowered again if this CPU lacks the code kernels' extra features.
  static const CodeScanKernels* const kernels = [] {
    SimdLevel level = Kernels().level;
    if (level > CodeScanCpuLevel()) level = CodeScanCpuLevel();
    return CodeKernelsFor(level);
  }();
  return *kernels;
}

}  // namespace cairn
