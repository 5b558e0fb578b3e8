// Scalar reference kernels: the definition every SIMD level is tested against
// and the fallback on CPUs without AVX2.
//
// Float kernels sum left to right in one float accumulator. Without
// -ffast-math (never used in this project) the compiler may not reassociate
// that sum, so auto-vectorisation cannot change the result (GCC -O3 does
// vectorise the differences and products here but keeps the additions in
// order, bit-identical to the plain loop). This file is compiled for baseline
// x86-64, which has no FMA, so a*b+c is not contracted either.
// The SIMD kernels sum in a different order (many lanes, FMA), so float
// results differ from these in the last bits; tests/distance_test.cc explains
// the tolerance used.
//
// Mixed kernels (float query, u8/i8 stored vector) convert each byte exactly
// to float and then follow the float kernels: one float accumulator, left to
// right, no FMA.
//
// Integer kernels are exact: every product fits in int32 and the sum is kept
// in int64, so any dim is exact before the final conversion to float (which
// rounds the same way in every level, hence tests compare them for equality).
// The compiler is free to vectorise these loops: integer sums are
// associative, so it cannot change the result.
#include <cstddef>
#include <cstdint>

#include "kernels/distance.h"
#include "kernels/distance_internal.h"

namespace cairn::distance_internal {
namespace {

float L2F32(const float* a, const float* b, size_t dim) {
  float sum = 0.0f;
  for (size_t i = 0; i < dim; ++i) {
    const float d = a[i] - b[i];
    sum += d * d;
  }
  return sum;
}

float DotF32(const float* a, const float* b, size_t dim) {
  float sum = 0.0f;
  for (size_t i = 0; i < dim; ++i) sum += a[i] * b[i];
  return sum;
}

float L1F32(const float* a, const float* b, size_t dim) {
  float sum = 0.0f;
  for (size_t i = 0; i < dim; ++i) {
    const float d = a[i] - b[i];
    sum += d < 0.0f ? -d : d;
  }
  return sum;
}

float L2U8(const uint8_t* a, const uint8_t* b, size_t dim) {
  int64_t sum = 0;
  for (size_t i = 0; i < dim; ++i) {
    const int32_t d = static_cast<int32_t>(a[i]) - static_cast<int32_t>(b[i]);
    sum += d * d;
  }
  return static_cast<float>(sum);
}

float DotU8(const uint8_t* a, const uint8_t* b, size_t dim) {
  int64_t sum = 0;
  for (size_t i = 0; i < dim; ++i) {
    sum += static_cast<int32_t>(a[i]) * static_cast<int32_t>(b[i]);
  }
  return static_cast<float>(sum);
}

float L2I8(const int8_t* a, const int8_t* b, size_t dim) {
  int64_t sum = 0;
  for (size_t i = 0; i < dim; ++i) {
    const int32_t d = static_cast<int32_t>(a[i]) - static_cast<int32_t>(b[i]);
    sum += d * d;
  }
  return static_cast<float>(sum);
}

float DotI8(const int8_t* a, const int8_t* b, size_t dim) {
  int64_t sum = 0;
  for (size_t i = 0; i < dim; ++i) {
    sum += static_cast<int32_t>(a[i]) * static_cast<int32_t>(b[i]);
  }
  return static_cast<float>(sum);
}

// Shared by the u8 and i8 variants (T = uint8_t or int8_t); every value of
// either type is a float exactly.
template <typename T>
float L2F32Mixed(const float* q, const T* x, size_t dim) {
  float sum = 0.0f;
  for (size_t i = 0; i < dim; ++i) {
    const float d = q[i] - static_cast<float>(x[i]);
    sum += d * d;
  }
  return sum;
}

template <typename T>
float DotF32Mixed(const float* q, const T* x, size_t dim) {
  float sum = 0.0f;
  for (size_t i = 0; i < dim; ++i) sum += q[i] * static_cast<float>(x[i]);
  return sum;
}

constexpr DistanceKernels kScalarKernels = {
    .level = SimdLevel::kScalar,
    .l2_f32 = L2F32,
    .dot_f32 = DotF32,
    .l1_f32 = L1F32,
    .l2_u8 = L2U8,
    .dot_u8 = DotU8,
    .l2_i8 = L2I8,
    .dot_i8 = DotI8,
    .l2_f32_u8 = L2F32Mixed<uint8_t>,
    .dot_f32_u8 = DotF32Mixed<uint8_t>,
    .l2_f32_i8 = L2F32Mixed<int8_t>,
    .dot_f32_i8 = DotF32Mixed<int8_t>,
};

}  // namespace

const DistanceKernels* GetScalarKernels() { return &kScalarKernels; }

}  // namespace cairn::distance_internal
