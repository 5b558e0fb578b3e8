// The structured rotation (index/rotation.h): orthogonal (norms and inner
// products kept, the transpose inverts it) for power-of-two and other dims,
// mixing (a basis vector ends up spread over every coordinate), and
// reproducible from its seed alone.
#include "index/codes/rotation.h"

#include <cmath>
#include <vector>

#include "common/random.h"
#include "gtest/gtest.h"

namespace cairn {
namespace {

constexpr uint32_t kDims[] = {1, 2, 63, 64, 65, 100, 128, 384, 784, 960, 1000};

std::vector<float> Gaussian(uint32_t n, uint64_t seed, float offset = 0) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (float& x : v) x = offset + static_cast<float>(rng.Gaussian());
  return v;
}

double Dot(const float* a, const float* b, uint32_t n) {
  double s = 0;
  for (uint32_t i = 0; i < n; ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

TEST(RotationTest, HadamardKeepsNormsAndInnerProducts) {
  for (uint32_t dim : kDims) {
    HadamardRotation rot(dim, 42 + dim);
    const uint32_t d = rot.padded_dim();
    ASSERT_EQ(d % 64, 0u);
    ASSERT_GE(d, dim);
    ASSERT_LT(d, dim + 64);
    std::vector<float> tx(d), ty(d), scratch(d);
    for (uint64_t trial = 0; trial < 20; ++trial) {
      // Offsets too: real vectors are far from centred.
      const auto x = Gaussian(dim, trial, trial % 2 ? 3.0f : 0.0f);
      const auto y = Gaussian(dim, 1000 + trial);
      rot.Apply(x.data(), tx.data(), scratch.data());
      rot.Apply(y.data(), ty.data(), scratch.data());
      const double nx = Dot(x.data(), x.data(), dim), ntx = Dot(tx.data(), tx.data(), d);
      EXPECT_NEAR(std::sqrt(ntx), std::sqrt(nx), 1e-4 * std::sqrt(nx)) << "dim " << dim;
      const double scale = std::sqrt(nx * Dot(y.data(), y.data(), dim));
      EXPECT_NEAR(Dot(tx.data(), ty.data(), d), Dot(x.data(), y.data(), dim), 1e-4 * scale)
          << "dim " << dim;
    }
  }
}

TEST(RotationTest, TransposeInverts) {
  for (uint32_t dim : kDims) {
    HadamardRotation rot(dim, 7);
    const uint32_t d = rot.padded_dim();
    const auto x = Gaussian(dim, dim);
    std::vector<float> tx(d), back(d), scratch(d);
    rot.Apply(x.data(), tx.data(), scratch.data());
    rot.ApplyTranspose(tx.data(), back.data(), scratch.data());
    for (uint32_t i = 0; i < d; ++i) {
      EXPECT_NEAR(back[i], i < dim ? x[i] : 0.0f, 1e-4) << "dim " << dim << " coordinate " << i;
    }
  }
}

// A Haar rotation sends e_0 to a uniform unit vector (max |coordinate| about
// sqrt(2 ln(2d) / d)); block transforms without cross-block mixing would
// leave most coordinates at exactly 0. (A few exact zeros are legitimate:
// products of +-1 Hadamard entries can cancel exactly.)
TEST(RotationTest, HadamardSpreadsABasisVectorEverywhere) {
  for (uint32_t dim : {100u, 784u, 1000u}) {
    HadamardRotation rot(dim, 3);
    const uint32_t d = rot.padded_dim();
    for (uint32_t axis : {0u, dim / 2, dim - 1}) {
      std::vector<float> e(dim, 0.0f), te(d), scratch(d);
      e[axis] = 1;
      rot.Apply(e.data(), te.data(), scratch.data());
      uint32_t zeros = 0;
      float max_abs = 0;
      for (float v : te) {
        zeros += std::fabs(v) < 1e-7f;
        max_abs = std::max(max_abs, std::fabs(v));
      }
      EXPECT_LE(zeros, d / 100) << "dim " << dim << " axis " << axis;
      EXPECT_LT(max_abs, 3 * std::sqrt(2 * std::log(2.0 * d) / d)) << "dim " << dim;
    }
  }
}

TEST(RotationTest, SeedReproducesAndDistinguishes) {
  const uint32_t dim = 384;
  HadamardRotation a(dim, 11), b(dim, 11), c(dim, 12);
  const auto x = Gaussian(dim, 5);
  std::vector<float> ta(dim), tb(dim), tc(dim), scratch(dim);
  a.Apply(x.data(), ta.data(), scratch.data());
  b.Apply(x.data(), tb.data(), scratch.data());
  c.Apply(x.data(), tc.data(), scratch.data());
  EXPECT_EQ(ta, tb);
  EXPECT_NE(ta, tc);
}

TEST(RotationTest, DenseTransformIsAMatrixProduct) {
  DenseTransform t;
  t.rows = 3;
  t.cols = 2;
  t.m = {1, 2, 3, 4, 5, 6};
  const float x[2] = {1, -1};
  float out[3];
  t.Apply(x, out);
  EXPECT_FLOAT_EQ(out[0], -1);
  EXPECT_FLOAT_EQ(out[1], -1);
  EXPECT_FLOAT_EQ(out[2], -1);
}

}  // namespace
}  // namespace cairn
