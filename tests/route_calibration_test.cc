// Calibrating an index's posting budget (index/spann/route_calibration.h)
// and searching it by target recall (SpannSearchParams::target_recall): the
// build writes routing.budget, held-out queries reach each target, an index
// without (or with a damaged, or stale) calibration still opens and serves
// fixed counts and says why it cannot serve targets, and the pieces:
// leave-one-out truth, sampled queries that are not heads, ranks in order.
#include "index/spann/route_calibration.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "datasets/ground_truth.h"
#include "datasets/synthetic.h"
#include "index/spann/spann_builder.h"
#include "index/spann/spann_index.h"
#include "tests/test_util.h"

namespace cairn {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

constexpr uint64_t kN = 20000;
constexpr uint32_t kDim = 32;
constexpr uint32_t kQueries = 1000;

// One data set and one default build for the whole suite.
class RouteCalibrationTest : public ::testing::Test {
 protected:
  struct Shared {
    testing::DiskTempDir tmp;
    std::string base_path, index_dir, error;
    FloatMatrix queries;
    GroundTruth gt;
  };

  static void SetUpTestSuite() {
    shared_ = std::make_unique<Shared>();
    Shared& s = *shared_;
    SyntheticOptions so;
    so.n = kN;
    so.dim = kDim;
    so.queries = kQueries;
    so.clusters = 200;
    so.gt_k = 10;
    so.progress = false;
    so.seed = 21;
    const std::string data = s.tmp.File("data");
    absl::Status st = GenerateSynthetic(so, data);
    s.base_path = data + "/base.fbin";
    if (st.ok()) {
      SpannBuildOptions bo;  // defaults: calibration is the build's last stage
      bo.progress = false;
      s.index_dir = s.tmp.File("index");
      st = BuildSpannIndex(s.base_path, s.index_dir, bo).status();
    }
    if (st.ok()) {
      auto q = ReadFloatMatrix(data + "/query.fbin");
      auto gt = ReadGroundTruth(data + "/gt.ibin");
      st = q.ok() ? gt.status() : q.status();
      if (st.ok()) {
        s.queries = std::move(*q);
        s.gt = std::move(*gt);
      }
    }
    if (!st.ok()) s.error = st.ToString();
  }
  static void TearDownTestSuite() { shared_.reset(); }

  void SetUp() override { ASSERT_TRUE(S().error.empty()) << S().error; }
  const Shared& S() const { return *shared_; }

  std::string CopyIndex(const std::string& name) {
    const std::string to = tmp_.File(name);
    fs::copy(S().index_dir, to, fs::copy_options::recursive);
    return to;
  }

  // Mean recall@10 and postings per query of every query at `params`.
  static absl::Status Run(const SpannIndex& index, const SpannSearchParams& params,
                          double* recall, double* postings) {
    auto ctx = index.NewContext();
    if (!ctx.ok()) return ctx.status();
    std::vector<int64_t> ids(S_().queries.rows * 10, -1);
    std::vector<Neighbor> out;
    SearchStats stats;
    for (uint64_t q = 0; q < S_().queries.rows; ++q) {
      absl::Status s = index.Search(S_().queries.row(q), params, ctx->get(), &out, &stats);
      if (!s.ok()) return s;
      for (size_t i = 0; i < out.size() && i < 10; ++i) ids[q * 10 + i] = out[i].id;
    }
    *recall = RecallAtK(S_().gt, ids, 10, 10);
    *postings = static_cast<double>(stats.postings_read) / S_().queries.rows;
    return absl::OkStatus();
  }
  static const Shared& S_() { return *shared_; }

  static inline std::unique_ptr<Shared> shared_;
  testing::DiskTempDir tmp_;
};

TEST_F(RouteCalibrationTest, HeldOutQueriesReachEachTargetAndReadMoreForHigherOnes) {
  auto index = SpannIndex::Open(S().index_dir);
  ASSERT_TRUE(index.ok()) << index.status();
  const PostingBudget* budget = (*index)->posting_budget();
  ASSERT_NE(budget, nullptr) << (*index)->budget_status();
  EXPECT_EQ(budget->num_vectors(), kN);
  EXPECT_GE(budget->max_target(), 0.99);
  double last_postings = 0;
  for (double target : {0.80, 0.90, 0.95, 0.99}) {
    SCOPED_TRACE(target);
    SpannSearchParams p;
    p.target_recall = target;
    double recall = 0, postings = 0;
    ASSERT_TRUE(Run(**index, p, &recall, &postings).ok());
    std::printf("target %.2f: recall@10 %.4f, %.2f postings per query\n", target, recall,
                postings);
    // Calibrated on base vectors, checked on the generator's own queries.
    EXPECT_GE(recall, target - 0.02);
    EXPECT_LE(recall, target + 0.04);
    EXPECT_GT(postings, last_postings);
    last_postings = postings;
  }
  // Any value in (0, 1] is served; out of range is refused.
  SpannSearchParams p;
  double recall = 0, postings = 0;
  for (double target : {0.01, 0.9999, 1.0}) {
    p.target_recall = target;
    EXPECT_TRUE(Run(**index, p, &recall, &postings).ok()) << target;
  }
  for (double bad : {-0.5, 1.5, std::nan("")}) {
    p.target_recall = bad;
    EXPECT_EQ(p.Validate().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST_F(RouteCalibrationTest, AnUncalibratedIndexServesFixedCountsAndSaysHowToCalibrate) {
  SpannBuildOptions bo;
  bo.progress = false;
  bo.calibration_queries = 0;
  const std::string dir = tmp_.File("plain");
  ASSERT_TRUE(BuildSpannIndex(S().base_path, dir, bo).ok());
  EXPECT_FALSE(fs::exists(dir + "/" + kPostingBudgetFileName));
  auto index = SpannIndex::Open(dir);
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ((*index)->posting_budget(), nullptr);
  double recall = 0, postings = 0;
  SpannSearchParams p;
  EXPECT_TRUE(Run(**index, p, &recall, &postings).ok());
  p.target_recall = 0.9;
  absl::Status s = Run(**index, p, &recall, &postings);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("cairn calibrate"));

  // Calibrating afterwards: the same result as at build time (same seed).
  CalibrationOptions co;
  auto report = CalibrateIndex(dir, S().base_path, co);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_GT(report->queries, 0u);
  EXPECT_FALSE(report->beams.empty());
  auto reopened = SpannIndex::Open(dir);
  ASSERT_TRUE(reopened.ok());
  ASSERT_NE((*reopened)->posting_budget(), nullptr);
  EXPECT_TRUE(Run(**reopened, p, &recall, &postings).ok());
  EXPECT_GE(recall, 0.88);
}

TEST_F(RouteCalibrationTest, DamagedOrStaleCalibrationNeverStopsTheIndexOpening) {
  const std::string dir = CopyIndex("damaged");
  const std::string path = dir + "/" + kPostingBudgetFileName;
  std::vector<uint8_t> bytes = testing::ReadBytes(path);
  ASSERT_GT(bytes.size(), 40u);
  bytes[bytes.size() - 3] ^= 0x11;
  testing::WriteBytes(path, bytes.data(), bytes.size());
  auto index = SpannIndex::Open(dir);
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ((*index)->posting_budget(), nullptr);
  EXPECT_THAT(std::string((*index)->budget_status().message()), HasSubstr(path));
  SpannSearchParams p;
  double recall = 0, postings = 0;
  EXPECT_TRUE(Run(**index, p, &recall, &postings).ok());
  EXPECT_GE(recall, 0.5);
  p.target_recall = 0.9;
  EXPECT_EQ(Run(**index, p, &recall, &postings).code(), absl::StatusCode::kFailedPrecondition);

  // A budget calibrated for another index (another vector count) is stale.
  PostingBudgetOptions bo;
  bo.num_vectors = kN + 1;
  bo.prefix = 8;
  RouteObservation q;
  q.first_rank = {0, 1};
  q.features.assign(PostingBudget::kNumFeatures, 0.5);
  q.cum_kib.assign(9, 0.0f);
  auto other = PostingBudget::Fit({q, q}, bo);
  ASSERT_TRUE(other.ok()) << other.status();
  ASSERT_TRUE(WritePostingBudget(Env::Default(), path, *other).ok());
  auto stale = SpannIndex::Open(dir);
  ASSERT_TRUE(stale.ok());
  EXPECT_EQ((*stale)->posting_budget(), nullptr);
  EXPECT_THAT(std::string((*stale)->budget_status().message()), HasSubstr("calibrated for"));
}

TEST_F(RouteCalibrationTest, CalibrationRefusesAnotherBase) {
  testing::DiskTempDir tmp;
  SyntheticOptions so;
  so.n = 500;
  so.dim = kDim;
  so.queries = 10;
  so.clusters = 5;
  so.progress = false;
  ASSERT_TRUE(GenerateSynthetic(so, tmp.File("small")).ok());
  const std::string dir = CopyIndex("other-base");
  auto r = CalibrateIndex(dir, tmp.File("small") + "/base.fbin", CalibrationOptions());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("not the index's input"));
}

TEST_F(RouteCalibrationTest, SampledQueriesAreNotHeadsAndTheirTruthLeavesThemOut) {
  auto parts = OpenIndexParts(S().index_dir);
  ASSERT_TRUE(parts.ok()) << parts.status();
  std::vector<uint32_t> ids;
  uint32_t skipped = 0;
  CalibrationSource src;
  src.vectors = S().base_path;
  src.num_vectors = parts->manifest.num_vectors;
  src.dim = parts->manifest.dim;
  src.metric = parts->manifest.metric;
  src.heads = parts->heads.get();
  auto q = SampleBaseQueries(src, 300, 9, &ids, &skipped);
  ASSERT_TRUE(q.ok()) << q.status();
  ASSERT_EQ(q->rows, 300u);
  ASSERT_EQ(ids.size(), 300u);
  // Member heads are base vectors: about head_ratio of a sample are heads.
  EXPECT_GT(skipped, 0u);
  std::vector<HeadHit> hits;
  for (uint64_t i = 0; i < q->rows; ++i) {
    parts->heads->Search(q->row(i), 1, 64, &hits);
    ASSERT_FALSE(hits.empty());
    EXPECT_GT(hits[0].distance, 0.0f) << "query " << i << " is a head";
  }
  testing::TempDir scratch;
  auto gt = LeaveOneOutTruth(S().base_path, *q, ids, 10, Metric::kL2, scratch.path());
  ASSERT_TRUE(gt.ok()) << gt.status();
  ASSERT_EQ(gt->num_queries, 300u);
  ASSERT_EQ(gt->k, 10u);
  for (uint32_t i = 0; i < gt->num_queries; ++i) {
    for (uint32_t j = 0; j < 10; ++j) {
      ASSERT_NE(gt->row(i)[j], static_cast<int32_t>(ids[i])) << "query " << i;
      ASSERT_GE(gt->row(i)[j], 0);
    }
  }
  EXPECT_TRUE(fs::is_empty(scratch.path()));  // the query file is removed
}

TEST(RankInOrderTest, FirstPositionOfEachNeighbourInTheHeadOrder) {
  // Vectors 0..3; heads 0..3 hold: h0 {0}, h1 {1, 2}, h2 {2}, h3 {0, 3}.
  Membership mem;
  mem.start = {0, 2, 3, 5, 6};
  mem.heads = {0, 3, 1, 1, 2, 3};
  std::vector<DirectoryEntry> dir(4);
  for (auto& e : dir) e.bytes = 4096;
  OrderScratch s;
  s.position.assign(4, kUnreached);
  RouteObservation q;
  const int32_t gt[4] = {3, 2, 0, -1};
  RankInOrder({3, 2, 0}, gt, 4, mem, dir, &s, &q);
  // 3 in h3 (position 0), 2 in h2 (1), 0 in h3 (0); -1 skipped.
  EXPECT_EQ(q.first_rank, (std::vector<uint32_t>{0, 0, 1}));
  EXPECT_EQ(q.cum_kib, (std::vector<float>{0, 4, 8, 12}));
  for (uint32_t p : s.position) EXPECT_EQ(p, kUnreached);  // scratch restored
  RankInOrder({1}, gt, 3, mem, dir, &s, &q);
  EXPECT_EQ(q.first_rank, (std::vector<uint32_t>{0, kUnreached, kUnreached}));
}

TEST(RoutingDistanceTest, TrueDistancesPerMetric) {
  EXPECT_FLOAT_EQ(RoutingDistance(Metric::kL2, 9.0f), 3.0f);
  EXPECT_FLOAT_EQ(RoutingDistance(Metric::kL2, -1e-7f), 0.0f);  // rounding below zero
  // Cosine heads score -cos: unit vectors at cos 0.5 are 1 apart.
  EXPECT_FLOAT_EQ(RoutingDistance(Metric::kCosine, -0.5f), 1.0f);
  EXPECT_FLOAT_EQ(RoutingDistance(Metric::kInnerProduct, -7.0f), 0.0f);
}

}  // namespace
}  // namespace cairn
