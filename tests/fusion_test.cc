// Fusion of ranked lists (server/fusion.h) against values computed by hand
// from Qdrant's formulas.
#include "server/fusion.h"

#include <gtest/gtest.h>

namespace cairn {
namespace {

ScoredPoint P(uint64_t id, float score) {
  ScoredPoint p;
  p.id = ExternalId::Number(id);
  p.score = score;
  return p;
}

RankedList L(std::vector<ScoredPoint> points, bool lower = false) {
  return RankedList{std::move(points), lower};
}

std::vector<ExternalId> Ids(const std::vector<ScoredPoint>& v) {
  std::vector<ExternalId> out;
  for (const ScoredPoint& p : v) out.push_back(p.id);
  return out;
}

// A = [1, 2, 3] (scores 0.9, 0.8, 0.1), B = [3, 1] (5, 4).
std::vector<RankedList> TwoLists() {
  return {L({P(1, 0.9f), P(2, 0.8f), P(3, 0.1f)}), L({P(3, 5.0f), P(1, 4.0f)})};
}

TEST(FusionTest, RrfSumsReciprocalRanksWithKTwo) {
  const auto fused = FuseRrf(TwoLists());
  // 1: 1/(0+2) + 1/(1+2); 3: 1/(2+2) + 1/(0+2); 2: 1/(1+2).
  ASSERT_EQ(Ids(fused),
            (std::vector{ExternalId::Number(1), ExternalId::Number(3), ExternalId::Number(2)}));
  EXPECT_NEAR(fused[0].score, 1.0 / 2 + 1.0 / 3, 1e-6);
  EXPECT_NEAR(fused[1].score, 1.0 / 4 + 1.0 / 2, 1e-6);
  EXPECT_NEAR(fused[2].score, 1.0 / 3, 1e-6);
}

TEST(FusionTest, RrfTakesAnotherK) {
  const auto fused = FuseRrf(TwoLists(), 60);
  EXPECT_NEAR(fused[0].score, 1.0 / 60 + 1.0 / 61, 1e-6);
  EXPECT_NEAR(fused[1].score, 1.0 / 62 + 1.0 / 60, 1e-6);
  EXPECT_NEAR(fused[2].score, 1.0 / 61, 1e-6);
}

TEST(FusionTest, DbsfNormalisesByThreeSampleDeviations) {
  const auto fused = FuseDbsf(TwoLists());
  // A: mean 0.6, sample sd sqrt(0.38 / 2) = 0.43589, range [-0.70767, 1.90767]:
  //   1 -> 0.61471, 2 -> 0.57647, 3 -> 0.30882.
  // B: mean 4.5, sd sqrt(0.5) = 0.70711, range [2.37868, 6.62132]:
  //   3 -> 0.61785, 1 -> 0.38215.
  ASSERT_EQ(Ids(fused),
            (std::vector{ExternalId::Number(1), ExternalId::Number(3), ExternalId::Number(2)}));
  EXPECT_NEAR(fused[0].score, 0.61471 + 0.38215, 1e-4);
  EXPECT_NEAR(fused[1].score, 0.30882 + 0.61785, 1e-4);
  EXPECT_NEAR(fused[2].score, 0.57647, 1e-4);
}

TEST(FusionTest, DbsfFlipsDistancesAndHandlesDegenerateLists) {
  // Distances 0.1 (best) and 0.3: normalised 0.38215 and 0.61785, flipped.
  auto fused = FuseDbsf({L({P(5, 0.1f), P(6, 0.3f)}, /*lower=*/true)});
  ASSERT_EQ(fused.size(), 2u);
  EXPECT_EQ(fused[0].id, ExternalId::Number(5));
  EXPECT_NEAR(fused[0].score, 0.61785, 1e-4);
  EXPECT_NEAR(fused[1].score, 0.38215, 1e-4);
  // One point, and equal scores: 0.5 each.
  fused = FuseDbsf({L({P(7, 3.0f)}), L({P(8, 2.0f), P(9, 2.0f)}), L({})});
  ASSERT_EQ(fused.size(), 3u);
  for (const ScoredPoint& p : fused) EXPECT_FLOAT_EQ(p.score, 0.5f);
  // Ties keep the order of first appearance.
  EXPECT_EQ(Ids(fused),
            (std::vector{ExternalId::Number(7), ExternalId::Number(8), ExternalId::Number(9)}));
}

TEST(FusionTest, KeepsTheDataOfTheFirstAppearance) {
  ScoredPoint a = P(1, 1.0f);
  a.data.emplace();
  a.data->payload = {{"from", "first"}};
  ScoredPoint b = P(1, 2.0f);
  const auto fused = FuseRrf({L({a}), L({b})});
  ASSERT_EQ(fused.size(), 1u);
  ASSERT_TRUE(fused[0].data.has_value());
  EXPECT_EQ(fused[0].data->payload["from"], "first");
  EXPECT_TRUE(FuseRrf({}).empty());
}

}  // namespace
}  // namespace cairn
