#include "index/routing/gmm.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "common/random.h"
#include "index/routing/gmm_file.h"
#include "storage/env.h"
#include "storage/record_file.h"
#include "tests/test_util.h"

namespace cairn {
namespace {

using ::cairn::testing::ReadBytes;
using ::cairn::testing::TempDir;
using ::cairn::testing::WriteBytes;
using ::testing::HasSubstr;

struct Truth {
  uint32_t dim;
  std::vector<float> weights, means, stddevs;
};

// n points drawn from the mixture `t` (component chosen by weight).
std::vector<float> Sample(const Truth& t, uint64_t n, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> x(n * t.dim);
  for (uint64_t i = 0; i < n; ++i) {
    double u = rng.Uniform();
    size_t c = 0;
    while (c + 1 < t.weights.size() && (u -= t.weights[c]) >= 0) ++c;
    for (uint32_t j = 0; j < t.dim; ++j) {
      x[i * t.dim + j] =
          static_cast<float>(t.means[c * t.dim + j] + t.stddevs[c * t.dim + j] * rng.Gaussian());
    }
  }
  return x;
}

// The fitted component whose mean is nearest `mean`.
uint32_t Nearest(const GaussianMixture& g, const float* mean) {
  uint32_t best = 0;
  double best_d = INFINITY;
  for (uint32_t c = 0; c < g.components(); ++c) {
    double d = 0;
    for (uint32_t j = 0; j < g.dim(); ++j) d += std::pow(g.mean(c)[j] - mean[j], 2);
    if (d < best_d) best_d = d, best = c;
  }
  return best;
}

Truth ThreeComponents() {
  return Truth{4,
               {0.2f, 0.3f, 0.5f},
               {0, 0, 0, 0, 20, 20, 0, 0, -20, 10, 5, -5},
               {1, 0.5f, 2, 1, 0.7f, 1.5f, 1, 0.3f, 2, 2, 1, 1}};
}

TEST(GmmTest, RecoversWellSeparatedMixture) {
  const Truth t = ThreeComponents();
  const uint64_t n = 20000;
  const std::vector<float> x = Sample(t, n, 5);
  GmmOptions o;
  o.components = 3;
  GmmFitReport report;
  auto g = GaussianMixture::Fit(x.data(), n, t.dim, {}, o, &report);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_TRUE(report.converged);
  ASSERT_EQ(g->components(), 3u);
  std::vector<bool> used(3, false);
  for (size_t c = 0; c < 3; ++c) {
    const uint32_t f = Nearest(*g, &t.means[c * t.dim]);
    EXPECT_FALSE(used[f]) << "two true components map to fitted " << f;
    used[f] = true;
    EXPECT_NEAR(g->weight(f), t.weights[c], 0.015);
    for (uint32_t j = 0; j < t.dim; ++j) {
      const float sd = t.stddevs[c * t.dim + j];
      EXPECT_NEAR(g->mean(f)[j], t.means[c * t.dim + j], 0.1 * sd) << c << "," << j;
      EXPECT_NEAR(g->variance(f)[j], sd * sd, 0.1 * sd * sd) << c << "," << j;
    }
  }
  // EM never lowers the likelihood (no component was re-seeded here).
  EXPECT_EQ(report.reseeded, 0u);
  for (size_t i = 1; i < report.history.size(); ++i) {
    EXPECT_GE(report.history[i], report.history[i - 1] - 1e-4);
  }
}

TEST(GmmTest, WeightedEmEqualsEmOnReplicatedPoints) {
  // Two overlapping components, so the weights move the answer.
  const Truth t{2, {0.5f, 0.5f}, {0, 0, 3, 1}, {1, 1, 1.5f, 1}};
  const uint64_t n = 600;
  const std::vector<float> x = Sample(t, n, 11);
  std::vector<float> weights(n), replicated;
  Rng rng(3);
  for (uint64_t i = 0; i < n; ++i) {
    weights[i] = static_cast<float>(rng.Below(4));  // 0..3, zero included
    for (int r = 0; r < weights[i]; ++r) {
      replicated.insert(replicated.end(), &x[i * 2], &x[i * 2 + 2]);
    }
  }
  GmmOptions o;
  o.components = 2;
  // Overlapping components converge slowly along a flat ridge: run EM to
  // (nearly) the fixed point so that both fits reach the same one.
  o.tolerance = 1e-10;
  o.max_iterations = 1000;
  GmmFitReport ra, rb;
  auto a = GaussianMixture::Fit(x.data(), n, 2, weights, o, &ra);
  auto b = GaussianMixture::Fit(replicated.data(), replicated.size() / 2, 2, {}, o, &rb);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_NEAR(ra.log_likelihood, rb.log_likelihood, 1e-5);
  for (uint32_t c = 0; c < 2; ++c) {
    const uint32_t f = Nearest(*b, a->mean(c));
    EXPECT_NEAR(a->weight(c), b->weight(f), 1e-3);
    for (uint32_t j = 0; j < 2; ++j) {
      EXPECT_NEAR(a->mean(c)[j], b->mean(f)[j], 1e-3);
      EXPECT_NEAR(a->variance(c)[j], b->variance(f)[j], 1e-3);
    }
  }
  // And the weights matter: the unweighted fit differs.
  auto u = GaussianMixture::Fit(x.data(), n, 2, {}, o);
  ASSERT_TRUE(u.ok());
  double diff = 0;
  for (uint32_t c = 0; c < 2; ++c)
    diff += std::abs(u->weight(c) - a->weight(Nearest(*a, u->mean(c))));
  EXPECT_GT(diff, 1e-3);
}

TEST(GmmTest, PosteriorsSumToOneAndEntropyIsBounded) {
  const Truth t = ThreeComponents();
  const std::vector<float> x = Sample(t, 3000, 7);
  GmmOptions o;
  o.components = 6;
  auto g = GaussianMixture::Fit(x.data(), 3000, t.dim, {}, o);
  ASSERT_TRUE(g.ok()) << g.status();
  const std::vector<float> queries = Sample(t, 200, 8);
  std::vector<float> batch(200 * 6);
  std::vector<double> log_px;
  g->LogPosteriorsBatch(queries.data(), 200, batch.data(), &log_px);
  std::vector<float> p, logp(6);
  for (int i = 0; i < 200; ++i) {
    g->Posteriors(&queries[i * 4], &p);
    double sum = 0;
    for (float v : p) sum += v;
    EXPECT_NEAR(sum, 1.0, 1e-5);
    const double h = GaussianMixture::Entropy(p);
    EXPECT_GE(h, 0.0);
    EXPECT_LE(h, std::log(6.0) + 1e-6);
    const double lpx = g->LogPosteriors(&queries[i * 4], logp.data());
    EXPECT_NEAR(lpx, log_px[i], 1e-3 * std::abs(lpx) + 1e-3);
    for (int c = 0; c < 6; ++c) EXPECT_NEAR(std::exp(batch[i * 6 + c]), p[c], 1e-3);
  }
  // A query at a component of a well-separated mixture is unambiguous;
  // identical components are maximally ambiguous.
  auto sep = GaussianMixture::FromParameters(1, {0.5f, 0.5f}, {0, 100}, {1, 1});
  ASSERT_TRUE(sep.ok());
  const float at_zero = 0;
  sep->Posteriors(&at_zero, &p);
  EXPECT_LT(GaussianMixture::Entropy(p), 1e-6);
  auto same =
      GaussianMixture::FromParameters(1, {0.25f, 0.25f, 0.25f, 0.25f}, {1, 1, 1, 1}, {2, 2, 2, 2});
  ASSERT_TRUE(same.ok());
  same->Posteriors(&at_zero, &p);
  EXPECT_NEAR(GaussianMixture::Entropy(p), std::log(4.0), 1e-6);
}

TEST(GmmTest, RejectsBadInputs) {
  std::vector<float> x = {0, 1, 2, 3, 4, 5};  // three points of dim 2
  GmmOptions o;
  o.components = 4;
  auto too_many = GaussianMixture::Fit(x.data(), 3, 2, {}, o);
  EXPECT_EQ(too_many.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(too_many.status().message(), HasSubstr("4 components for 3 points"));
  o.components = 2;
  std::vector<float> zero_weight = {1, 0, 0};  // one point of positive weight
  EXPECT_EQ(GaussianMixture::Fit(x.data(), 3, 2, zero_weight, o).status().code(),
            absl::StatusCode::kInvalidArgument);
  x[3] = NAN;
  EXPECT_EQ(GaussianMixture::Fit(x.data(), 3, 2, {}, o).status().code(),
            absl::StatusCode::kInvalidArgument);
  x[3] = 3;
  for (float bad : {-1.0f, NAN, INFINITY}) {
    std::vector<float> w = {1, bad, 1};
    EXPECT_EQ(GaussianMixture::Fit(x.data(), 3, 2, w, o).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  std::vector<float> short_weights = {1, 1};
  EXPECT_FALSE(GaussianMixture::Fit(x.data(), 3, 2, short_weights, o).ok());
  o.variance_floor = 0;
  EXPECT_FALSE(o.Validate().ok());
  EXPECT_FALSE(GaussianMixture::FromParameters(1, {1.0f}, {0}, {0}).ok());
  EXPECT_FALSE(GaussianMixture::FromParameters(1, {0.4f, 0.4f}, {0, 1}, {1, 1}).ok());
}

TEST(GmmTest, ConstantDimensionsAndDuplicatePointsGiveAValidModel) {
  // Dimension 1 is constant everywhere; only two distinct points for K = 3.
  std::vector<float> x;
  for (int i = 0; i < 10; ++i) {
    x.push_back(i % 2 == 0 ? 0.0f : 5.0f);
    x.push_back(7.0f);
  }
  GmmOptions o;
  o.components = 3;
  GmmFitReport report;
  auto g = GaussianMixture::Fit(x.data(), 10, 2, {}, o, &report);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_GT(report.reseeded, 0u);
  for (uint32_t c = 0; c < 3; ++c) {
    EXPECT_GT(g->weight(c), 0.0f);
    EXPECT_GT(g->variance(c)[1], 0.0f);
    EXPECT_TRUE(std::isfinite(g->variance(c)[1]));
  }
  std::vector<float> p;
  const float q[2] = {2.5f, 7.5f};
  g->Posteriors(q, &p);
  for (float v : p) EXPECT_TRUE(std::isfinite(v));
  // All points identical: the floor alone keeps the variance positive.
  std::vector<float> same(8, 3.0f);
  o.components = 1;
  auto one = GaussianMixture::Fit(same.data(), 4, 2, {}, o);
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_GT(one->variance(0)[0], 0.0f);
}

TEST(GmmTest, FileRoundTripAndCorruption) {
  TempDir dir;
  Env* env = Env::Default();
  const Truth t = ThreeComponents();
  const std::vector<float> x = Sample(t, 2000, 9);
  GmmOptions o;
  o.components = 3;
  auto g = GaussianMixture::Fit(x.data(), 2000, t.dim, {}, o);
  ASSERT_TRUE(g.ok());
  const std::string path = dir.File("routing.gmm");
  ASSERT_TRUE(WriteGmmFile(env, path, *g).ok());
  auto back = ReadGmmFile(env, path);
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->components(), 3u);
  ASSERT_EQ(back->dim(), t.dim);
  for (uint32_t c = 0; c < 3; ++c) {
    EXPECT_EQ(back->weight(c), g->weight(c));
    for (uint32_t j = 0; j < t.dim; ++j) {
      EXPECT_EQ(back->mean(c)[j], g->mean(c)[j]);
      EXPECT_EQ(back->variance(c)[j], g->variance(c)[j]);
    }
  }
  std::vector<float> p1, p2;
  g->Posteriors(&x[0], &p1);
  back->Posteriors(&x[0], &p2);
  EXPECT_EQ(p1, p2);

  const std::vector<uint8_t> good = ReadBytes(path);
  std::vector<uint8_t> bad = good;
  bad[kRecordFileHeaderBytes + 20] ^= 0x40;  // a weight's byte
  WriteBytes(path, bad.data(), bad.size());
  EXPECT_EQ(ReadGmmFile(env, path).status().code(), absl::StatusCode::kDataLoss);
  WriteBytes(path, good.data(), good.size() - 4);
  EXPECT_EQ(ReadGmmFile(env, path).status().code(), absl::StatusCode::kDataLoss);
  bad = good;
  bad[0] = 'X';
  WriteBytes(path, bad.data(), bad.size());
  EXPECT_EQ(ReadGmmFile(env, path).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ReadGmmFile(env, dir.File("missing")).status().code(), absl::StatusCode::kNotFound);

  // A body with a valid checksum but wrong contents is caught by the parser.
  std::string body = g->Serialize();
  auto ok = GaussianMixture::Deserialize(body, "b");
  ASSERT_TRUE(ok.ok());
  const float negative = -1.0f;
  std::memcpy(body.data() + body.size() - 4, &negative, 4);  // the last variance
  ASSERT_TRUE(WriteRecordFile(env, path, kGmmFileMagic, kGmmFileVersion, body).ok());
  auto neg = ReadGmmFile(env, path);
  EXPECT_EQ(neg.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(neg.status().message(), HasSubstr("variances"));
  EXPECT_EQ(GaussianMixture::Deserialize(body.substr(0, 12), "b").status().code(),
            absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace cairn
