// `cairn bench interleave` (bench/interleave_bench.h) on a small coded index:
// every arm's figures are reported and in range, the same setting in two arms
// finds the same neighbours, the two-step arm reads fewer pages than the
// whole-posting arm, and malformed arm specs are refused.
#include "bench/interleave_bench.h"

#include <fstream>
#include <string>

#include "datasets/synthetic.h"
#include "gtest/gtest.h"
#include "index/spann/spann_builder.h"
#include "nlohmann/json.hpp"
#include "tests/test_util.h"

namespace cairn {
namespace {

using ::cairn::testing::DiskTempDir;

TEST(InterleaveBenchTest, ReportsEveryArmAndComparesPlansOnOneIndex) {
  DiskTempDir tmp;
  ASSERT_TRUE(tmp.ok());
  SyntheticOptions so;
  so.n = 4000;
  so.dim = 64;
  so.queries = 40;
  so.clusters = 20;
  so.gt_k = 10;
  so.progress = false;
  ASSERT_TRUE(GenerateSynthetic(so, tmp.File("data")).ok());
  SpannBuildOptions bo;
  bo.progress = false;
  bo.codes = CodeFamily::kRabitq;
  const std::string index = tmp.File("index");
  ASSERT_TRUE(BuildSpannIndex(tmp.File("data") + "/base.fbin", index, bo).ok());

  InterleaveBenchOptions a;
  a.arms = {index + ":max_postings=8,plan=whole", index + ":max_postings=8,plan=two-step",
            index + ":max_postings=8,plan=two-step,rerank_top=100000"};
  a.queries = tmp.File("data") + "/query.fbin";
  a.gt = tmp.File("data") + "/gt.ibin";
  a.json = tmp.File("report.json");
  ASSERT_TRUE(RunInterleaveBench(a).ok());
  std::ifstream in(a.json);
  nlohmann::json j = nlohmann::json::parse(in);
  ASSERT_EQ(j.size(), 3u);
  for (const auto& arm : j) {
    EXPECT_GT(arm["mean_latency_ms"].get<double>(), 0.0) << arm.dump();
    EXPECT_GE(arm["recall_at_10"].get<double>(), 0.9) << arm.dump();
    EXPECT_LE(arm["recall_at_10"].get<double>(), 1.0) << arm.dump();
  }
  EXPECT_EQ(j[0]["latency_ratio_to_first"].get<double>(), 1.0);
  EXPECT_EQ(j[0]["two_step_percent"].get<double>(), 0.0);
  EXPECT_EQ(j[1]["two_step_percent"].get<double>(), 100.0);
  EXPECT_LT(j[1]["pages_read_per_query"].get<double>(), j[0]["pages_read_per_query"].get<double>());
  // A whole read is one request per posting; two-step adds candidate runs.
  EXPECT_EQ(j[0]["reads_per_query"].get<double>(), 8.0);
  EXPECT_GT(j[1]["reads_per_query"].get<double>(), 8.0);
  // Reranking every entry is exact search over the same postings.
  EXPECT_EQ(j[2]["recall_at_10"], j[0]["recall_at_10"]);
}

TEST(InterleaveBenchTest, MalformedArmsAreRefused) {
  InterleaveBenchOptions a;
  a.queries = "/nonexistent/query.fbin";
  a.arms = {"/nonexistent"};
  EXPECT_EQ(RunInterleaveBench(a).code(), absl::StatusCode::kInvalidArgument);  // one arm
  a.arms = {"/nonexistent", "/nonexistent"};
  a.rounds = 1;
  EXPECT_EQ(RunInterleaveBench(a).code(), absl::StatusCode::kInvalidArgument);
  a.rounds = 2;
  EXPECT_FALSE(RunInterleaveBench(a).ok());  // missing files: an error, not a crash
}

}  // namespace
}  // namespace cairn
