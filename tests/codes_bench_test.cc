// `cairn bench codes` (bench/codes_bench.h) end to end on a tiny clustered
// set in a temporary directory, through the same function the command runs:
// the table and JSON are complete and every figure is in range, recall grows
// with the candidate count, and rabitq finds the true neighbours among a few
// hundred candidates.
#include "bench/codes_bench.h"

#include <sstream>
#include <string>
#include <vector>

#include "common/random.h"
#include "datasets/ground_truth.h"
#include "datasets/vector_file.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace cairn {
namespace {

// n points around 40 centres in `dim` dimensions, anisotropic noise.
FloatMatrix Clustered(uint64_t n, uint32_t dim, uint64_t seed) {
  Rng centres_rng(1), rng(seed);
  std::vector<float> centres(40 * dim);
  for (float& c : centres) c = static_cast<float>(3 * centres_rng.Gaussian());
  FloatMatrix m;
  m.rows = n;
  m.dim = dim;
  m.data.resize(n * dim);
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t c = rng.Below(40);
    for (uint32_t d = 0; d < dim; ++d) {
      m.row(i)[d] = centres[c * dim + d] + static_cast<float>(rng.Gaussian() / (1 + d % 4));
    }
  }
  return m;
}

void CheckReport(const nlohmann::json& json, const std::string& text, Metric metric) {
  ASSERT_TRUE(json.contains("results")) << json.dump(2);
  EXPECT_EQ(json["base_vectors"], 3000);
  EXPECT_EQ(json["num_queries"], 30);
  EXPECT_EQ(json["heads"], 3000 / 16);
  // lsh at 1 and 2 bits, itq, rabitq with both rotations.
  ASSERT_EQ(json["results"].size(), 5u) << text;
  for (const auto& r : json["results"]) {
    const std::string name = r["config"];
    EXPECT_NE(text.find(name), std::string::npos) << name;
    double previous = 0;
    for (const char* c : {"10", "50", "100", "500"}) {
      const double recall = r["candidate_recall"][c];
      EXPECT_GE(recall, 0.0) << name;
      EXPECT_LE(recall, 1.0) << name;
      EXPECT_GE(recall, previous) << name << " R@" << c;
      previous = recall;
    }
    for (const char* f : {"bound_coverage", "bound_coverage_top_k"}) {
      EXPECT_GE(r[f].get<double>(), 0.0) << name;
      EXPECT_LE(r[f].get<double>(), 1.0) << name;
    }
    EXPECT_GT(r["mean_relative_error"].get<double>(), 0.0) << name;
    EXPECT_GT(r["mean_bound_width"].get<double>(), 0.0) << name;
    EXPECT_EQ(r["entry_bytes"].get<uint32_t>() % 8, 0u) << name;
    EXPECT_GE(r["train_seconds"].get<double>(), 0.0);
    if (r["family"] == "rabitq") {
      EXPECT_GE(r["candidate_recall"]["500"].get<double>(), 0.95) << name;
      EXPECT_GE(r["candidate_recall"]["500"], r["candidate_recall"]["10"]) << name;
      EXPECT_GT(r["bound_coverage"].get<double>(), 0.85) << name;
      EXPECT_EQ(r["entry_bytes"], 8 + 16) << name;  // 48 dims -> 64 bits
      if (metric == Metric::kL2) {
        EXPECT_LT(r["mean_relative_error"].get<double>(), 0.5) << name;
      }
    }
  }
}

TEST(CodesBenchTest, TinySyntheticSet) {
  testing::TempDir dir;
  ASSERT_TRUE(dir.ok());
  ASSERT_TRUE(WriteFloatMatrix(dir.File("base.fbin"), Clustered(3000, 48, 2)).ok());
  ASSERT_TRUE(WriteFloatMatrix(dir.File("queries.fbin"), Clustered(50, 48, 3)).ok());
  for (Metric metric : {Metric::kL2, Metric::kInnerProduct}) {
    CodesBenchOptions o;
    o.base_path = dir.File("base.fbin");
    o.query_path = dir.File("queries.fbin");
    o.metric = metric;
    o.bits_per_dim = {1, 2};
    o.rotations = {"hadamard", "learned"};
    o.queries_limit = 30;
    o.itq_iterations = 10;
    o.progress = false;
    std::ostringstream out;
    nlohmann::json json;
    const absl::Status status = RunCodesBench(o, out, &json);
    ASSERT_TRUE(status.ok()) << status;
    CheckReport(json, out.str(), metric);
  }
}

// A ground-truth file gives the same recall as the exact top-k computed in
// the run (both are exact).
TEST(CodesBenchTest, GroundTruthFileAgrees) {
  testing::TempDir dir;
  ASSERT_TRUE(dir.ok());
  ASSERT_TRUE(WriteFloatMatrix(dir.File("base.fbin"), Clustered(3000, 48, 2)).ok());
  ASSERT_TRUE(WriteFloatMatrix(dir.File("queries.fbin"), Clustered(30, 48, 4)).ok());
  GroundTruthOptions gto;
  gto.k = 10;
  gto.progress = false;
  auto gt = ComputeGroundTruth(dir.File("base.fbin"), dir.File("queries.fbin"), gto);
  ASSERT_TRUE(gt.ok()) << gt.status();
  ASSERT_TRUE(WriteGroundTruth(dir.File("gt.ibin"), *gt).ok());
  CodesBenchOptions o;
  o.base_path = dir.File("base.fbin");
  o.query_path = dir.File("queries.fbin");
  o.families = {"rabitq"};
  o.progress = false;
  std::ostringstream out;
  nlohmann::json without, with;
  ASSERT_TRUE(RunCodesBench(o, out, &without).ok());
  o.gt_path = dir.File("gt.ibin");
  ASSERT_TRUE(RunCodesBench(o, out, &with).ok());
  EXPECT_EQ(with["results"][0]["candidate_recall"], without["results"][0]["candidate_recall"]);
  o.gt_path = dir.File("missing.ibin");
  EXPECT_FALSE(RunCodesBench(o, out, &with).ok());
  o.gt_path.clear();
  o.families = {"pq"};
  EXPECT_EQ(RunCodesBench(o, out, &with).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cairn
