#include "datasets/ground_truth.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/random.h"
#include "datasets/vector_file.h"
#include "tests/test_util.h"

namespace cairn {
namespace {

using ::cairn::testing::TempDir;
using ::testing::HasSubstr;

FloatMatrix Random(uint64_t rows, uint32_t dim, uint64_t seed) {
  FloatMatrix m;
  m.rows = rows;
  m.dim = dim;
  m.data.resize(rows * dim);
  Rng rng(seed);
  // Clustered values with an offset so L2's |q|^2 + |x|^2 - 2qx expansion
  // actually cancels (the case a naive GEMM ground truth gets wrong).
  for (auto& v : m.data) v = static_cast<float>(10.0 + rng.Gaussian());
  return m;
}

// Reference: double precision, every pair, sorted by (distance, id).
std::vector<std::pair<double, int32_t>> NaiveTopK(const FloatMatrix& base, const float* q, Metric metric,
                                                  uint32_t k) {
  std::vector<std::pair<double, int32_t>> all;
  double qn = 0;
  for (uint32_t d = 0; d < base.dim; ++d) qn += double(q[d]) * q[d];
  for (uint64_t i = 0; i < base.rows; ++i) {
    const float* x = base.row(i);
    double l2 = 0, dot = 0, xn = 0;
    for (uint32_t d = 0; d < base.dim; ++d) {
      l2 += (double(q[d]) - x[d]) * (double(q[d]) - x[d]);
      dot += double(q[d]) * x[d];
      xn += double(x[d]) * x[d];
    }
    double dist = metric == Metric::kL2 ? l2
                  : metric == Metric::kInnerProduct ? -dot
                                                    : 1.0 - dot / std::sqrt(qn * xn);
    all.push_back({dist, static_cast<int32_t>(i)});
  }
  std::sort(all.begin(), all.end());
  all.resize(std::min<size_t>(k, all.size()));
  return all;
}

class GroundTruthMetricTest : public ::testing::TestWithParam<Metric> {};

TEST_P(GroundTruthMetricTest, EqualsNaiveBruteForceAcrossManyBlocks) {
  TempDir dir;
  const FloatMatrix base = Random(3001, 24, 1);
  const FloatMatrix queries = Random(37, 24, 2);
  ASSERT_TRUE(WriteFloatMatrix(dir.File("base.fbin"), base).ok());
  ASSERT_TRUE(WriteFloatMatrix(dir.File("q.fbin"), queries).ok());
  GroundTruthOptions o;
  o.k = 10;
  o.metric = GetParam();
  o.threads = 2;
  o.memory_budget_bytes = 200 * 1024;  // forces blocks of a few hundred rows
  o.progress = false;
  auto gt = ComputeGroundTruth(dir.File("base.fbin"), dir.File("q.fbin"), o);
  ASSERT_TRUE(gt.ok()) << gt.status();
  ASSERT_EQ(gt->num_queries, 37u);
  ASSERT_EQ(gt->k, 10u);
  int mismatched_ids = 0;
  for (uint32_t q = 0; q < 37; ++q) {
    auto truth = NaiveTopK(base, queries.row(q), GetParam(), 10);
    for (uint32_t i = 0; i < 10; ++i) {
      const double scale = std::max(1.0, std::abs(truth[i].first));
      EXPECT_NEAR(gt->distances[q * 10 + i], truth[i].first, 1e-4 * scale) << q << " " << i;
      if (gt->ids[q * 10 + i] != truth[i].second) {
        // Only a near-tie (within float rounding) may swap two ids.
        const double next = i + 1 < truth.size() ? truth[i + 1].first : truth[i].first;
        const double prev = i > 0 ? truth[i - 1].first : truth[i].first;
        EXPECT_TRUE(std::abs(next - truth[i].first) < 1e-4 * scale ||
                    std::abs(prev - truth[i].first) < 1e-4 * scale)
            << "query " << q << " rank " << i;
        ++mismatched_ids;
      }
    }
  }
  EXPECT_LE(mismatched_ids, 2);
}

INSTANTIATE_TEST_SUITE_P(Metrics, GroundTruthMetricTest,
                         ::testing::Values(Metric::kL2, Metric::kInnerProduct, Metric::kCosine));

TEST(GroundTruthTest, TiesKeepTheSmallerId) {
  TempDir dir;
  FloatMatrix base;
  base.rows = 6;
  base.dim = 2;
  base.data = {5, 5, 1, 1, 1, 1, 9, 9, 1, 1, 0, 0};
  FloatMatrix q;
  q.rows = 1;
  q.dim = 2;
  q.data = {1, 1};
  ASSERT_TRUE(WriteFloatMatrix(dir.File("b.fbin"), base).ok());
  ASSERT_TRUE(WriteFloatMatrix(dir.File("q.fbin"), q).ok());
  GroundTruthOptions o;
  o.k = 4;
  o.progress = false;
  auto gt = ComputeGroundTruth(dir.File("b.fbin"), dir.File("q.fbin"), o);
  ASSERT_TRUE(gt.ok());
  EXPECT_THAT(gt->ids, ::testing::ElementsAre(1, 2, 4, 5));
}

TEST(GroundTruthTest, FewerBaseVectorsThanKArePadded) {
  TempDir dir;
  const FloatMatrix base = Random(3, 4, 5);
  const FloatMatrix q = Random(2, 4, 6);
  ASSERT_TRUE(WriteFloatMatrix(dir.File("b.fbin"), base).ok());
  ASSERT_TRUE(WriteFloatMatrix(dir.File("q.fbin"), q).ok());
  GroundTruthOptions o;
  o.k = 5;
  o.progress = false;
  auto gt = ComputeGroundTruth(dir.File("b.fbin"), dir.File("q.fbin"), o);
  ASSERT_TRUE(gt.ok());
  EXPECT_EQ(gt->ids[3], -1);
  EXPECT_EQ(gt->ids[4], -1);
  EXPECT_TRUE(std::isinf(gt->distances[4]));
  EXPECT_GE(gt->ids[2], 0);
}

TEST(GroundTruthTest, DimensionMismatchIsAnError) {
  TempDir dir;
  ASSERT_TRUE(WriteFloatMatrix(dir.File("b.fbin"), Random(10, 4, 1)).ok());
  ASSERT_TRUE(WriteFloatMatrix(dir.File("q.fbin"), Random(2, 5, 1)).ok());
  GroundTruthOptions o;
  o.progress = false;
  auto gt = ComputeGroundTruth(dir.File("b.fbin"), dir.File("q.fbin"), o);
  EXPECT_EQ(gt.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(gt.status().message(), HasSubstr("dimension 5"));
}

TEST(GroundTruthFileTest, RoundTripAndTruncation) {
  TempDir dir;
  GroundTruth gt;
  gt.num_queries = 3;
  gt.k = 2;
  gt.ids = {1, 2, 3, 4, 5, 6};
  gt.distances = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f};
  const std::string path = dir.File("gt.ibin");
  ASSERT_TRUE(WriteGroundTruth(path, gt).ok());
  auto back = ReadGroundTruth(path);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->ids, gt.ids);
  EXPECT_EQ(back->distances, gt.distances);

  auto bytes = cairn::testing::ReadBytes(path);
  cairn::testing::WriteBytes(path, bytes.data(), bytes.size() - 3);
  auto bad = ReadGroundTruth(path);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr(path));
  EXPECT_THAT(bad.status().message(), HasSubstr("truncated"));

  cairn::testing::WriteBytes(path, bytes.data(), 5);
  EXPECT_FALSE(ReadGroundTruth(path).ok());
}

TEST(GroundTruthFileTest, ReadsIvecsIds) {
  TempDir dir;
  FloatMatrix ids;
  ids.rows = 2;
  ids.dim = 3;
  ids.data = {0, 1, 2, 7, 8, 9};
  ASSERT_TRUE(WriteFloatMatrix(dir.File("gt.ivecs"), ids).ok());
  auto gt = ReadGroundTruth(dir.File("gt.ivecs"));
  ASSERT_TRUE(gt.ok()) << gt.status();
  EXPECT_EQ(gt->k, 3u);
  EXPECT_THAT(gt->ids, ::testing::ElementsAre(0, 1, 2, 7, 8, 9));
  EXPECT_TRUE(gt->distances.empty());
}

TEST(RecallTest, CountsIntersectionOfTopK) {
  GroundTruth gt;
  gt.num_queries = 2;
  gt.k = 3;
  gt.ids = {1, 2, 3, 4, 5, 6};
  std::vector<int64_t> result = {3, 9, 1, 4, 5, 6};
  EXPECT_NEAR(RecallAtK(gt, result, 3, 3), (2.0 / 3 + 1.0) / 2, 1e-12);
  EXPECT_NEAR(RecallAtK(gt, result, 3, 1), 0.5, 1e-12);  // top-1: 3 vs 1 miss, 4 vs 4 hit
}

}  // namespace
}  // namespace cairn
