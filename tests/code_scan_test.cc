// The code kernel (index/code_scan.h): every level this CPU has against the
// scalar reference and against the definition sum_j b_j u_j, exactly, for
// code sizes on and off word and 512-bit boundaries, every plane count the
// models use, strides with factor bytes between codes, and the dispatcher.
#include "index/codes/code_scan.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common/random.h"
#include "gtest/gtest.h"

namespace cairn {
namespace {

constexpr uint32_t kBits[] = {1,   2,   63,  64,  65,  100, 127, 128, 129,  383,  384,  448,
                              511, 512, 513, 575, 576, 640, 784, 832, 1000, 1024, 1500, 2000};
constexpr uint32_t kPlanes[] = {1, 4, 8, 16};
constexpr size_t kCounts[] = {0, 1, 3, 17, 130};

struct Case {
  uint32_t words;
  size_t stride;
  std::vector<uint32_t> u;  // per bit, < 2^planes
  std::vector<uint64_t> planes;
  std::vector<uint8_t> codes;  // n entries of `stride` bytes, one byte of offset first
};

Case MakeCase(uint32_t bits, uint32_t num_planes, size_t n, size_t extra, uint64_t seed) {
  Rng rng(seed);
  Case c;
  c.words = (bits + 63) / 64;
  c.stride = 8 * c.words + extra;
  c.u.resize(bits);
  c.planes.assign(static_cast<size_t>(num_planes) * c.words, 0);
  for (uint32_t j = 0; j < bits; ++j) {
    // Mostly random levels, some at the extremes.
    const uint32_t top = (1u << num_planes) - 1;
    c.u[j] = rng.Below(8) == 0 ? top : static_cast<uint32_t>(rng.Below(top + 1ull));
    for (uint32_t k = 0; k < num_planes; ++k) {
      if (c.u[j] >> k & 1) c.planes[k * c.words + j / 64] |= uint64_t{1} << (j % 64);
    }
  }
  // One leading byte so codes sit at odd addresses (the kernels must not
  // assume alignment); bytes between codes are random and must be ignored.
  c.codes.resize(1 + n * c.stride);
  for (auto& b : c.codes) b = static_cast<uint8_t>(rng.Next());
  for (size_t i = 0; i < n; ++i) {
    uint8_t* code = c.codes.data() + 1 + i * c.stride;
    std::memset(code, 0, 8 * c.words);
    const uint32_t density = static_cast<uint32_t>(rng.Below(5));  // 0: all zero, 4: all one
    for (uint32_t j = 0; j < bits; ++j) {
      if (rng.Below(4) < density) code[j / 8] |= static_cast<uint8_t>(1u << (j % 8));
    }
  }
  return c;
}

TEST(CodeScanTest, EveryLevelMatchesScalarAndTheDefinition) {
  const CodeScanKernels* scalar = CodeKernelsFor(SimdLevel::kScalar);
  ASSERT_NE(scalar, nullptr);
  std::vector<const CodeScanKernels*> levels;
  for (SimdLevel level : {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    if (const CodeScanKernels* k = CodeKernelsFor(level)) levels.push_back(k);
  }
  std::printf("code kernel levels on this CPU: %zu (cpu level %s)\n", levels.size(),
              SimdLevelName(CodeScanCpuLevel()).data());
  uint64_t seed = 1;
  for (uint32_t bits : kBits) {
    for (uint32_t planes : kPlanes) {
      for (size_t n : kCounts) {
        for (size_t extra : {size_t{0}, size_t{16}}) {
          const Case c = MakeCase(bits, planes, n, extra, seed++);
          std::vector<uint32_t> want_dot(n), want_pop(n);
          for (size_t i = 0; i < n; ++i) {
            const uint8_t* code = c.codes.data() + 1 + i * c.stride;
            uint64_t dot = 0, pop = 0;
            for (uint32_t j = 0; j < bits; ++j) {
              if (code[j / 8] >> (j % 8) & 1) {
                dot += c.u[j];
                ++pop;
              }
            }
            want_dot[i] = static_cast<uint32_t>(dot);
            want_pop[i] = static_cast<uint32_t>(pop);
          }
          for (const CodeScanKernels* k : levels) {
            std::vector<uint32_t> dot(n + 1, 0xdeadbeef), pop(n + 1, 0xdeadbeef);
            k->dot(c.planes.data(), planes, c.words, c.codes.data() + 1, c.stride, n, dot.data(),
                   pop.data());
            const std::string where = std::string(SimdLevelName(k->level)) +
                                      " bits=" + std::to_string(bits) +
                                      " planes=" + std::to_string(planes) +
                                      " n=" + std::to_string(n) + " extra=" + std::to_string(extra);
            for (size_t i = 0; i < n; ++i) {
              ASSERT_EQ(dot[i], want_dot[i]) << where << " entry " << i;
              ASSERT_EQ(pop[i], want_pop[i]) << where << " entry " << i;
            }
            EXPECT_EQ(dot[n], 0xdeadbeef) << where << ": wrote past n";
          }
        }
      }
    }
  }
}

// The largest sums the limits allow stay exact in uint32.
TEST(CodeScanTest, MaximalSumsAreExact) {
  const uint32_t words = 65536 / 64;
  std::vector<uint64_t> planes(16 * static_cast<size_t>(words), ~uint64_t{0});
  std::vector<uint8_t> codes(8 * static_cast<size_t>(words), 0xff);
  for (SimdLevel level : {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    const CodeScanKernels* k = CodeKernelsFor(level);
    if (k == nullptr) continue;
    uint32_t dot = 0, pop = 0;
    k->dot(planes.data(), 16, words, codes.data(), codes.size(), 1, &dot, &pop);
    EXPECT_EQ(dot, 65535u * 65536u) << SimdLevelName(level);
    EXPECT_EQ(pop, 65536u) << SimdLevelName(level);
  }
}

// The process's choice follows the distance kernels (CPU level lowered by
// CAIRN_SIMD); ctest also runs this test with CAIRN_SIMD=scalar.
TEST(CodeScanTest, DispatchFollowsCairnSimd) {
  const SimdLevel want =
      Kernels().level < CodeScanCpuLevel() ? Kernels().level : CodeScanCpuLevel();
  EXPECT_EQ(CodeKernels().level, want);
  EXPECT_LE(CodeScanCpuLevel(), CpuSimdLevel());
  const char* env = std::getenv("CAIRN_SIMD");
  if (env != nullptr && std::string(env) == "scalar") {
    EXPECT_EQ(CodeKernels().level, SimdLevel::kScalar);
  }
  for (SimdLevel level : {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    EXPECT_EQ(CodeKernelsFor(level) != nullptr, level <= CodeScanCpuLevel());
  }
}

}  // namespace
}  // namespace cairn
