// The integer kernel behind CodeModel::EstimatePosting: for many stored sign
// codes b (bit j = 1 for s_j = +1) against one query whose transformed values
// were quantised to unsigned num_planes-bit integers u_j and split into bit
// planes (plane k holds bit k of every u_j):
//
//   dot[i]      = sum_j b_ij u_j = sum_k 2^k popcount(b_i & plane_k)
//   popcount[i] = sum_j b_ij
//
// from which the caller undoes the affine quantisation (code_model.cc).
//
// Layout: `planes` is plane-major, plane k at planes[k * words .. + words).
// Entry i's code is the first `words` 64-bit words at codes + i * stride
// (stride a multiple of 8; no alignment required). Limits that keep every sum
// exact in uint32: num_planes in [1, 16] and words * 64 <= 65536 bits.
//
// Dispatch follows index/distance.h: a scalar reference (code_scan_scalar.cc),
// an AVX2 level (hardware POPCNT per 64-bit word, code_scan_avx2.cc) and an
// AVX-512 level (VPOPCNTDQ on 512-bit chunks, code_scan_avx512.cc), each ISA
// level in its own translation unit with per-file flags and handed out only
// when CPUID reports every feature it was compiled for. The level is the one
// Kernels() chose (so CAIRN_SIMD=scalar selects the scalar kernel), lowered
// further when this CPU lacks POPCNT or AVX512_VPOPCNTDQ. All levels return
// identical integers (tests/code_scan_test.cc). Pure functions; thread-safe.
#ifndef CAIRN_INDEX_CODES_CODE_SCAN_H_
#define CAIRN_INDEX_CODES_CODE_SCAN_H_

#include <cstddef>
#include <cstdint>

#include "kernels/distance.h"

namespace cairn {

using CodeDotKernel = void (*)(const uint64_t* planes, uint32_t num_planes, uint32_t words,
                               const uint8_t* codes, size_t stride, size_t n, uint32_t* dot,
                               uint32_t* popcount);

struct CodeScanKernels {
  SimdLevel level;
  CodeDotKernel dot;
};

constexpr uint32_t kMaxCodePlanes = 16;
constexpr uint32_t kMaxCodeBits = 65536;

// The highest level whose code kernel this CPU can run (ignores CAIRN_SIMD).
SimdLevel CodeScanCpuLevel();
// The kernel chosen for this process: min(Kernels().level, CodeScanCpuLevel()).
const CodeScanKernels& CodeKernels();
// The kernel of one level; nullptr if this CPU cannot run it.
const CodeScanKernels* CodeKernelsFor(SimdLevel level);

namespace code_scan_internal {
// See index/distance_internal.h for the rule the ISA translation units obey.
const CodeScanKernels* GetScalarCodeKernels();
const CodeScanKernels* GetAvx2CodeKernels();
const CodeScanKernels* GetAvx512CodeKernels();
}  // namespace code_scan_internal

}  // namespace cairn

#endif  // CAIRN_INDEX_CODES_CODE_SCAN_H_
