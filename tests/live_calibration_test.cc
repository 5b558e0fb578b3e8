// The live index's posting budget (index/live/live_calibration.cc): an index
// that starts empty has none, refuses target_recall until it has, gets one
// from maintenance once it holds enough vectors, reaches its targets on
// held-out queries, refits after enough writes, keeps it across a reopen,
// and opens (serving fixed counts) when the budget file is damaged.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "common/status_macros.h"
#include "datasets/ground_truth.h"
#include "kernels/distance.h"
#include "index/live/live_index.h"
#include "index/spann/empty_index.h"
#include "tests/live_test_util.h"
#include "tests/test_util.h"

namespace cairn::testing {
namespace {

using ::testing::HasSubstr;

class LiveCalibrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(tmp_.ok());
    // 6,000 vectors of 20 clusters in 16-d (the rows this file inserts).
    ASSERT_TRUE(BuildSmallIndex(tmp_.path(), 6000, &base_).ok());
    dir_ = tmp_.path() + "/empty";
    ASSERT_TRUE(
        CreateEmptyIndex(Env::Default(), dir_, kLiveDim, StoredType::kFloat32, SpannBuildOptions())
            .ok());
  }

  absl::Status Insert(LiveIndex& index, uint64_t from, uint64_t to) {
    for (uint64_t id = from; id < to; id += 200) {
      std::vector<std::vector<float>> vs;
      std::vector<LiveIndex::Item> items;
      for (uint64_t j = id; j < std::min(to, id + 200); ++j) vs.push_back(base_row(j));
      for (uint64_t j = id; j < std::min(to, id + 200); ++j) {
        items.push_back({LiveId(j), vs[j - id].data()});
      }
      CAIRN_RETURN_IF_ERROR(index.Upsert(items));
    }
    return absl::OkStatus();
  }
  std::vector<float> base_row(uint64_t id) const {
    return std::vector<float>(base_.row(id), base_.row(id) + base_.dim);
  }

  // Recall@10 of `target` searches for 300 vectors near base rows (not
  // inserted ones: each query is a perturbed copy), against exact search
  // over the inserted rows [0, n).
  double Recall(LiveIndex& index, double target, uint64_t n, absl::Status* error) {
    auto ctx = index.NewContext();
    if (!ctx.ok()) {
      *error = ctx.status();
      return 0;
    }
    Rng rng(77);
    double hit = 0;
    for (int q = 0; q < 300; ++q) {
      std::vector<float> v = base_row(rng.Below(n));
      for (float& x : v) x += static_cast<float>(rng.Gaussian() * 0.3);
      std::vector<std::pair<float, uint64_t>> exact;
      for (uint64_t j = 0; j < n; ++j) {
        exact.push_back({Kernels().l2_f32(v.data(), base_.row(j), kLiveDim), j});
      }
      std::partial_sort(exact.begin(), exact.begin() + 10, exact.end());
      SpannSearchParams p;
      p.k = 10;
      p.target_recall = target;
      std::vector<LiveResult> out;
      *error = index.Search(v.data(), p, ctx->get(), &out, nullptr);
      if (!error->ok()) return 0;
      for (int i = 0; i < 10; ++i) {
        for (const LiveResult& r : out) hit += r.id == LiveId(exact[i].second);
      }
    }
    return hit / 3000;
  }

  DiskTempDir tmp_;
  FloatMatrix base_;
  std::string dir_;
};

TEST_F(LiveCalibrationTest, MaintenanceFitsABudgetOnceEnoughVectorsAreLive) {
  LiveOptions o;
  o.memtable_capacity = 256;
  o.recalibrate_min_vectors = 2000;
  o.calibration_queries = 500;
  auto index = LiveIndex::Open(dir_, o);
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ((*index)->posting_budget(), nullptr);
  ASSERT_TRUE(Insert(**index, 0, 1000).ok());
  absl::Status s;
  Recall(**index, 0.9, 1000, &s);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("2000 vectors"));

  ASSERT_TRUE(Insert(**index, 1000, 4000).ok());
  ASSERT_TRUE((*index)->Flush().ok());
  // The maintenance thread fits it; give it time (no timing is asserted
  // beyond "eventually": 60 s is far above the ~1 s this takes).
  for (int i = 0; i < 600 && (*index)->posting_budget() == nullptr; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_NE((*index)->posting_budget(), nullptr);
  const LiveStats st = (*index)->stats();
  EXPECT_GE(st.calibrations, 1u);
  EXPECT_GE(st.calibrated_vectors, 2000u);
  for (double target : {0.9, 0.97}) {
    const double r = Recall(**index, target, 4000, &s);
    ASSERT_TRUE(s.ok()) << s;
    std::printf("live target %.2f: recall@10 %.4f\n", target, r);
    EXPECT_GE(r, target - 0.05);
  }
}

TEST_F(LiveCalibrationTest, RefitsAfterWritesAndKeepsTheBudgetAcrossAReopen) {
  LiveOptions o;
  o.background = false;
  o.memtable_capacity = 256;
  o.calibration_queries = 300;
  uint64_t fitted_on = 0;
  {
    auto index = LiveIndex::Open(dir_, o);
    ASSERT_TRUE(index.ok()) << index.status();
    ASSERT_TRUE(Insert(**index, 0, 2500).ok());
    ASSERT_TRUE((*index)->Flush().ok());
    ASSERT_TRUE((*index)->Recalibrate().ok());
    auto first = (*index)->posting_budget();
    ASSERT_NE(first, nullptr);
    fitted_on = first->num_vectors();
    EXPECT_GT(fitted_on, 2000u);
    ASSERT_TRUE(Insert(**index, 2500, 5000).ok());
    ASSERT_TRUE((*index)->Flush().ok());
    ASSERT_TRUE((*index)->Recalibrate().ok());
    EXPECT_GT((*index)->posting_budget()->num_vectors(), fitted_on);
    fitted_on = (*index)->posting_budget()->num_vectors();
    // The calibration's scratch files are gone.
    EXPECT_FALSE(std::filesystem::exists(dir_ + "/calibration.fbin"));
    EXPECT_FALSE(std::filesystem::exists(dir_ + "/calibration-queries.fbin"));
    ASSERT_TRUE((*index)->Checkpoint().ok());
  }
  {
    auto index = LiveIndex::Open(dir_, o);
    ASSERT_TRUE(index.ok()) << index.status();
    ASSERT_NE((*index)->posting_budget(), nullptr);
    EXPECT_EQ((*index)->posting_budget()->num_vectors(), fitted_on);
    absl::Status s;
    EXPECT_GE(Recall(**index, 0.95, 5000, &s), 0.9);
    EXPECT_TRUE(s.ok()) << s;
  }
  // A damaged budget: the index opens, fixed counts work, targets wait.
  const std::string path = dir_ + "/" + kPostingBudgetFileName;
  std::vector<uint8_t> bytes = ReadBytes(path);
  bytes[bytes.size() - 5] ^= 0x21;
  WriteBytes(path, bytes.data(), bytes.size());
  auto index = LiveIndex::Open(dir_, o);
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ((*index)->posting_budget(), nullptr);
  auto ctx = (*index)->NewContext();
  ASSERT_TRUE(ctx.ok());
  auto hits = TopHits(**index, ctx->get(), base_row(7));
  ASSERT_TRUE(hits.ok()) << hits.status();
  ASSERT_FALSE(hits->empty());
  EXPECT_EQ((*hits)[0].id, LiveId(7));
  ASSERT_TRUE((*index)->Recalibrate().ok());  // and a refit replaces it
  EXPECT_NE((*index)->posting_budget(), nullptr);
}

TEST_F(LiveCalibrationTest, TooFewVectorsIsAnErrorNotACrash) {
  LiveOptions o;
  o.background = false;
  auto index = LiveIndex::Open(dir_, o);
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ((*index)->Recalibrate().code(), absl::StatusCode::kFailedPrecondition);
  o.recalibrate_fraction = -1;
  EXPECT_FALSE(o.Validate().ok());
  o.recalibrate_fraction = 0.25;
  o.calibration_queries = 0;
  EXPECT_FALSE(o.Validate().ok());
}

}  // namespace
}  // namespace cairn::testing
