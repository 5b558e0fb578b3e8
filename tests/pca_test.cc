#include "datasets/pca.h"

#include <gtest/gtest.h>

#include <cmath>

#include "common/random.h"

namespace cairn {
namespace {

// Data with a known principal axis: variance 25 along u = (1,1,1,0...)/sqrt(3),
// variance 4 along w = (1,-1,0,0...)/sqrt(2), and 0.01 elsewhere, plus an offset.
TEST(PcaTest, FindsKnownAxesInOrder) {
  const uint32_t dim = 8;
  const size_t n = 20000;
  std::vector<float> data(n * dim);
  std::vector<double> u(dim, 0), w(dim, 0);
  u[0] = u[1] = u[2] = 1 / std::sqrt(3.0);
  w[0] = 1 / std::sqrt(2.0);
  w[1] = -1 / std::sqrt(2.0);
  Rng rng(9);
  for (size_t i = 0; i < n; ++i) {
    double a = 5 * rng.Gaussian(), b = 2 * rng.Gaussian();
    for (uint32_t d = 0; d < dim; ++d) {
      data[i * dim + d] = static_cast<float>(3.0 + a * u[d] + b * w[d] + 0.1 * rng.Gaussian());
    }
  }
  auto pca = FitPca(data.data(), n, dim, 3);
  ASSERT_TRUE(pca.ok()) << pca.status();
  EXPECT_NEAR(pca->eigenvalues[0], 25.0, 1.5);
  EXPECT_NEAR(pca->eigenvalues[1], 4.0, 0.3);
  EXPECT_GE(pca->eigenvalues[1], pca->eigenvalues[2]);
  double cu = 0, cw = 0;
  for (uint32_t d = 0; d < dim; ++d) {
    cu += pca->components[d] * u[d];
    cw += pca->components[dim + d] * w[d];
  }
  EXPECT_GT(std::abs(cu), 0.99);
  EXPECT_GT(std::abs(cw), 0.99);
  // Components are orthonormal.
  for (int a = 0; a < 3; ++a) {
    for (int b = 0; b < 3; ++b) {
      double dot = 0;
      for (uint32_t d = 0; d < dim; ++d) dot += pca->components[a * dim + d] * pca->components[b * dim + d];
      EXPECT_NEAR(dot, a == b ? 1.0 : 0.0, 1e-4);
    }
  }
  // The mean projects to the origin.
  std::vector<float> mean_row(pca->mean.begin(), pca->mean.end()), out(3);
  pca->Project(mean_row.data(), 1, out.data());
  for (float v : out) EXPECT_NEAR(v, 0.0, 1e-4);
}

TEST(PcaTest, RejectsBadShapes) {
  std::vector<float> data(10, 1.0f);
  EXPECT_FALSE(FitPca(data.data(), 1, 10, 2).ok());
  EXPECT_FALSE(FitPca(data.data(), 2, 5, 6).ok());
  EXPECT_FALSE(FitPca(data.data(), 2, 5, 0).ok());
}

}  // namespace
}  // namespace cairn
