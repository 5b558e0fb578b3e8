// Dispatcher: picks the kernel table once per process. Compiled for baseline
// x86-64, so everything here runs on any CPU; only the tables returned by
// distance_internal::GetAvx2Kernels() / GetAvx512Kernels() need more, and they
// are handed out only after CpuSimdLevel() says the CPU can run them.
#include "kernels/distance.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "kernels/distance_internal.h"

namespace cairn {
namespace {

// Parses CAIRN_SIMD; false for an unknown value.
bool ParseSimdLevel(std::string_view name, SimdLevel* level) {
  for (SimdLevel candidate :
       {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    if (name == SimdLevelName(candidate)) {
      *level = candidate;
      return true;
    }
  }
  return false;
}

// The CPU's level, lowered by CAIRN_SIMD. Runs once (from Kernels()), so each
// message below is printed at most once per process.
SimdLevel ChooseLevel() {
  const SimdLevel cpu = CpuSimdLevel();
  const char* env = std::getenv("CAIRN_SIMD");
  if (env == nullptr || *env == '\0') return cpu;
  SimdLevel requested;
  if (!ParseSimdLevel(env, &requested)) {
    std::fprintf(stderr,
                 "cairn: ignoring CAIRN_SIMD=%s (expected scalar, avx2 or "
                 "avx512); using %s\n",
                 env, SimdLevelName(cpu).data());
    return cpu;
  }
  if (requested > cpu) {
    // Raising would run instructions the CPU lacks (SIGILL), so clamp.
    std::fprintf(stderr, "cairn: CAIRN_SIMD=%s exceeds this CPU; using %s\n",
                 env, SimdLevelName(cpu).data());
    return cpu;
  }
  return requested;
}

}  // namespace

std::string_view SimdLevelName(SimdLevel level) {
  switch (level) {
    case SimdLevel::kScalar:
      return "scalar";
    case SimdLevel::kAvx2:
      return "avx2";
    case SimdLevel::kAvx512:
      return "avx512";
  }
  return "?";
}

SimdLevel CpuSimdLevel() {
  // libgcc's cpu model reports AVX/AVX-512 features only when the OS also
  // saves the YMM/ZMM state (XCR0), so "supported" here means "usable".
  // Only the AVX-512 subsets the avx512 kernels are compiled for are required.
  static const SimdLevel level = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq")) {
      return SimdLevel::kAvx512;
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
      return SimdLevel::kAvx2;
    }
    return SimdLevel::kScalar;
  }();
  return level;
}

const DistanceKernels* KernelsFor(SimdLevel level) {
  if (level > CpuSimdLevel()) return nullptr;
  switch (level) {
    case SimdLevel::kScalar:
      return distance_internal::GetScalarKernels();
    case SimdLevel::kAvx2:
      return distance_internal::GetAvx2Kernels();
    case SimdLevel::kAvx512:
      return distance_internal::GetAvx512Kernels();
  }
  return nullptr;
}

const DistanceKernels& Kernels() {
  // Thread-safe one-time choice (function-local static); later changes to
  // CAIRN_SIMD have no effect. Never null: ChooseLevel() <= CpuSimdLevel().
  static const DistanceKernels* const kernels = KernelsFor(ChooseLevel());
  return *kernels;
}

float Distance(Metric metric, const float* a, const float* b, size_t dim) {
  const DistanceKernels& k = Kernels();
  switch (metric) {
    case Metric::kL2:
      return k.l2_f32(a, b, dim);
    case Metric::kInnerProduct:
      return -k.dot_f32(a, b, dim);
    case Metric::kCosine: {
      const float norm_a = std::sqrt(k.dot_f32(a, a, dim));
      const float norm_b = std::sqrt(k.dot_f32(b, b, dim));
      // A zero vector has no direction; treat it as orthogonal to everything
      // (cos = 0) rather than returning NaN into a result heap.
      if (norm_a == 0.0f || norm_b == 0.0f) return 1.0f;
      return 1.0f - k.dot_f32(a, b, dim) / (norm_a * norm_b);
    }
  }
  return 0.0f;
}

float SquaredNorm(const float* a, size_t dim) {
  return Kernels().dot_f32(a, a, dim);
}

void Normalize(float* a, size_t dim) {
  const float squared_norm = SquaredNorm(a, dim);
  // Zero vectors are left as is (no direction); so are vectors whose squared
  // norm overflowed or is NaN, which scaling would turn into zeros or NaNs.
  if (squared_norm == 0.0f || !std::isfinite(squared_norm)) return;
  const float inv_norm = 1.0f / std::sqrt(squared_norm);
  for (size_t i = 0; i < dim; ++i) a[i] *= inv_norm;
}

}  // namespace cairn
