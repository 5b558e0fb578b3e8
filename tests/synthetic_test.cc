#include "datasets/synthetic.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "datasets/dataset_manifest.h"
#include "datasets/ground_truth.h"
#include "datasets/vector_file.h"
#include "kernels/distance.h"
#include "tests/test_util.h"

namespace cairn {
namespace {

using ::cairn::testing::ReadBytes;
using ::cairn::testing::TempDir;

SyntheticOptions Small() {
  SyntheticOptions o;
  o.n = 40000;  // more than two generation chunks
  o.dim = 16;
  o.queries = 25;
  o.clusters = 10;
  o.seed = 42;
  o.gt_k = 10;
  o.progress = false;
  return o;
}

TEST(SyntheticTest, SameBytesWhateverTheThreadCount) {
  TempDir a, b;
  SyntheticOptions o = Small();
  o.threads = 1;
  ASSERT_TRUE(GenerateSynthetic(o, a.path()).ok());
  o.threads = 2;
  ASSERT_TRUE(GenerateSynthetic(o, b.path()).ok());
  for (const char* f : {"/base.fbin", "/query.fbin", "/gt.ibin"}) {
    EXPECT_EQ(ReadBytes(a.path() + f), ReadBytes(b.path() + f)) << f;
  }
  o.seed = 43;
  TempDir c;
  ASSERT_TRUE(GenerateSynthetic(o, c.path()).ok());
  EXPECT_NE(ReadBytes(a.path() + "/base.fbin"), ReadBytes(c.path() + "/base.fbin"));
}

TEST(SyntheticTest, FollowsTheMixtureAndHasExactGroundTruth) {
  TempDir dir;
  const SyntheticOptions o = Small();
  ASSERT_TRUE(GenerateSynthetic(o, dir.path()).ok());
  auto base = ReadFloatMatrix(dir.path() + "/base.fbin");
  ASSERT_TRUE(base.ok());
  EXPECT_EQ(base->rows, o.n);
  // Per coordinate: variance = centre variance (16) + mean noise variance
  // (E[s^2] for s ~ U(0.5, 2) = 1.75), so about 17.75 with 10 centres' spread.
  double sum = 0, sq = 0;
  for (float v : base->data) {
    sum += v;
    sq += double(v) * v;
  }
  const double n = base->data.size();
  const double var = sq / n - (sum / n) * (sum / n);
  EXPECT_GT(var, 4.0);
  EXPECT_LT(var, 60.0);

  auto gt = ReadGroundTruth(dir.path() + "/gt.ibin");
  ASSERT_TRUE(gt.ok());
  auto q = ReadFloatMatrix(dir.path() + "/query.fbin");
  ASSERT_TRUE(q.ok());
  // The first neighbour of each query is the true minimum over the base.
  for (uint32_t i = 0; i < 5; ++i) {
    float best = INFINITY;
    for (uint64_t j = 0; j < base->rows; ++j) {
      best = std::min(best, Kernels().l2_f32(q->row(i), base->row(j), o.dim));
    }
    EXPECT_FLOAT_EQ(gt->distances[i * gt->k], best);
  }
  auto manifest = ReadDatasetManifest(dir.path());
  ASSERT_TRUE(manifest.ok());
  EXPECT_EQ(manifest->num_base, o.n);
  EXPECT_TRUE(DatasetComplete(dir.path(), SyntheticParams(o)));
  SyntheticOptions other = o;
  other.seed = 7;
  EXPECT_FALSE(DatasetComplete(dir.path(), SyntheticParams(other)));
}

TEST(SyntheticTest, ValidateRejectsBadOptions) {
  SyntheticOptions o;
  o.n = 0;
  EXPECT_FALSE(o.Validate().ok());
  o = SyntheticOptions();
  o.noise_min = 3;
  o.noise_max = 1;
  EXPECT_FALSE(o.Validate().ok());
  o = SyntheticOptions();
  o.clusters = 0;
  EXPECT_FALSE(o.Validate().ok());
  EXPECT_TRUE(SyntheticOptions().Validate().ok());
}

}  // namespace
}  // namespace cairn
