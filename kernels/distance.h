// Distance kernels with runtime SIMD dispatch.
//
// Every kernel exists as a scalar reference and, where the CPU has them, AVX2
// (+FMA) and AVX-512 versions compiled in their own translation units with
// per-file ISA flags (never -march=native). The level is picked once from
// CPUID at first use; CAIRN_SIMD=scalar|avx2|avx512 lowers it (never raises it
// above what the CPU has), for tests and benchmarks.
//
// Conventions (see index/metric.h): L2 kernels return the squared distance;
// Dot kernels return the plain dot product <a, b> (callers negate for the
// inner-product distance); the L1 kernel returns sum |a_i - b_i| (Qdrant's
// Manhattan distance, scored by the server, not by the index). Integer
// kernels accumulate exactly (int32 lanes flushed into int64) for any dim and
// return float. Mixed kernels (float query q, stored vector x of uint8 or
// int8, for postings kept in their narrowest lossless type) convert every
// x[i] exactly to float and accumulate in float like the f32 kernels, so,
// like them, SIMD levels may differ from scalar in the last bits. All kernels
// accept any dim >= 0 (no padding or alignment required) and are thread-safe
// (pure functions).
#ifndef CAIRN_KERNELS_DISTANCE_H_
#define CAIRN_KERNELS_DISTANCE_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "kernels/metric.h"

namespace cairn {

enum class SimdLevel { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };
std::string_view SimdLevelName(SimdLevel level);

using F32Kernel = float (*)(const float* a, const float* b, size_t dim);
using U8Kernel = float (*)(const uint8_t* a, const uint8_t* b, size_t dim);
using I8Kernel = float (*)(const int8_t* a, const int8_t* b, size_t dim);
using F32U8Kernel = float (*)(const float* q, const uint8_t* x, size_t dim);
using F32I8Kernel = float (*)(const float* q, const int8_t* x, size_t dim);

struct DistanceKernels {
  SimdLevel level;
  F32Kernel l2_f32;
  F32Kernel dot_f32;
  F32Kernel l1_f32;
  U8Kernel l2_u8;
  U8Kernel dot_u8;
  I8Kernel l2_i8;
  I8Kernel dot_i8;
  // Float query against a stored uint8 / int8 vector.
  F32U8Kernel l2_f32_u8;
  F32U8Kernel dot_f32_u8;
  F32I8Kernel l2_f32_i8;
  F32I8Kernel dot_f32_i8;
};

// The highest level this CPU supports (ignores CAIRN_SIMD).
SimdLevel CpuSimdLevel();
// The kernels chosen for this process (CPU level, lowered by CAIRN_SIMD).
const DistanceKernels& Kernels();
// The kernels of one level; nullptr if the CPU cannot run that level. Tests
// compare every level against kScalar.
const DistanceKernels* KernelsFor(SimdLevel level);

// Distance of two float vectors under a metric, smaller = closer:
// L2 -> squared L2; IP -> -dot; Cosine -> 1 - cos (computes norms; use the
// normalised-vector path in hot loops).
float Distance(Metric metric, const float* a, const float* b, size_t dim);

// Squared L2 norm and in-place normalisation (zero vectors are left as is).
float SquaredNorm(const float* a, size_t dim);
void Normalize(float* a, size_t dim);

}  // namespace cairn

#endif  // CAIRN_KERNELS_DISTANCE_H_
