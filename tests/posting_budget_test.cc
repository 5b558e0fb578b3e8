// The shipped posting budget (index/routing/posting_budget.h): features,
// fitting on made-up calibration queries whose difficulty the features
// reveal, the safety margin, interpolation between targets, and the file.
#include "index/routing/posting_budget.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "common/random.h"
#include "storage/env.h"
#include "tests/test_util.h"

namespace cairn {
namespace {

using ::testing::HasSubstr;

// A query whose k neighbours first appear at the given ranks; its features
// are the d1/dk ratios of head distances 1, 1 + gap, 1 + 2 gap, ...: a small
// gap (nearly equidistant heads, a "hard" query) gives ratios near 1.
RouteObservation Query(std::vector<uint32_t> ranks, double gap, uint32_t prefix) {
  RouteObservation q;
  std::sort(ranks.begin(), ranks.end());
  q.first_rank = ranks;
  std::vector<float> dist;
  for (uint32_t i = 0; i < PostingBudget::kFeatureHeads; ++i) {
    dist.push_back(static_cast<float>(1.0 + gap * i));
  }
  q.features.resize(PostingBudget::kNumFeatures);
  PostingBudget::Features(dist.data(), dist.size(), q.features.data());
  q.cum_kib.resize(prefix + 1);
  for (uint32_t n = 0; n <= prefix; ++n) q.cum_kib[n] = 8.0f * n;
  return q;
}

// Half easy queries (neighbours in the first 2 postings, heads far apart)
// and half hard ones (neighbours spread over 20, heads close together), with
// some noise in both.
std::vector<RouteObservation> MixedQueries(uint64_t seed, size_t n, uint32_t prefix) {
  Rng rng(seed);
  std::vector<RouteObservation> out;
  for (size_t i = 0; i < n; ++i) {
    const bool hard = i % 2 == 1;
    std::vector<uint32_t> ranks;
    for (int j = 0; j < 10; ++j) {
      ranks.push_back(static_cast<uint32_t>(rng.Below(hard ? 20 : 2)));
    }
    const double gap = hard ? 0.01 + 0.01 * rng.Uniform() : 0.2 + 0.1 * rng.Uniform();
    out.push_back(Query(ranks, gap, prefix));
  }
  return out;
}

// A per-query hash for rounding fractional counts, as a searcher would
// take from the query vector.
uint64_t Hash(const RouteObservation& q) {
  return PostingBudget::QueryHash(reinterpret_cast<const float*>(q.first_rank.data()),
                                  static_cast<uint32_t>(q.first_rank.size())) ^
         static_cast<uint64_t>(q.features[0] * 1e15);
}

double MeanRecall(const PostingBudget& b, double target, const std::vector<RouteObservation>& qs,
                  double* mean_postings) {
  double recall = 0, postings = 0;
  for (const RouteObservation& q : qs) {
    const uint32_t n = b.Postings(target, q.features.data(), Hash(q));
    recall += RecallAt(q, n);
    postings += n;
  }
  *mean_postings = postings / qs.size();
  return recall / qs.size();
}

TEST(PostingBudgetTest, FeaturesAreNearestHeadDistanceRatios) {
  const std::vector<float> d{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  double f[PostingBudget::kNumFeatures];
  PostingBudget::Features(d.data(), d.size(), f);
  EXPECT_NEAR(f[0], 1.0 / 2, 1e-7);
  EXPECT_NEAR(f[1], 1.0 / 4, 1e-7);
  EXPECT_NEAR(f[2], 1.0 / 8, 1e-7);
  EXPECT_NEAR(f[3], 1.0 / 16, 1e-7);
  // Fewer heads than the features read: the last stands in.
  PostingBudget::Features(d.data(), 3, f);
  EXPECT_NEAR(f[0], 1.0 / 2, 1e-7);
  EXPECT_NEAR(f[3], 1.0 / 3, 1e-7);
  // No heads, or all at distance 0: ratio 1 (no information), never NaN.
  PostingBudget::Features(d.data(), 0, f);
  EXPECT_DOUBLE_EQ(f[2], 1.0);
  const std::vector<float> zeros(16, 0.0f);
  PostingBudget::Features(zeros.data(), zeros.size(), f);
  for (double v : f) EXPECT_DOUBLE_EQ(v, 1.0);
}

TEST(PostingBudgetTest, EasyQueriesGetFewerPostingsAndTargetsAreReachedOnFreshQueries) {
  const std::vector<RouteObservation> calib = MixedQueries(1, 2000, 64);
  const std::vector<RouteObservation> fresh = MixedQueries(2, 2000, 64);
  PostingBudgetOptions o;
  o.prefix = 64;
  auto b = PostingBudget::Fit(calib, o);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_TRUE(b->uses_features());
  EXPECT_GT(b->buckets(), 1u);
  const RouteObservation easy = Query({0, 1}, 0.25, 64), hard = Query({0, 19}, 0.015, 64);
  for (double target : {0.8, 0.9, 0.95, 0.99}) {
    SCOPED_TRACE(target);
    EXPECT_LT(b->Postings(target, easy.features.data(), Hash(easy)), b->Postings(target, hard.features.data(), Hash(hard)));
    double postings = 0;
    const double recall = MeanRecall(*b, target, fresh, &postings);
    EXPECT_GE(recall, target - 0.01);
    EXPECT_LE(recall, target + 0.03);
    // A fixed count reaching the same recall on the calibration queries
    // reads more: hard queries force it up for everyone.
    uint32_t fixed = 1;
    auto fixed_recall = [&](uint32_t n) {
      double r = 0;
      for (const auto& q : calib) r += RecallAt(q, n);
      return r / calib.size();
    };
    while (fixed_recall(fixed) < target) ++fixed;
    EXPECT_LT(postings, fixed);
  }
}

TEST(PostingBudgetTest, MarginAimsAboveTheTargetAndCostsPostings) {
  const std::vector<RouteObservation> calib = MixedQueries(3, 1000, 64);
  PostingBudgetOptions exact;
  exact.prefix = 64;
  exact.margin_z = 0;
  PostingBudgetOptions safe = exact;
  safe.margin_z = 2;
  auto a = PostingBudget::Fit(calib, exact);
  auto b = PostingBudget::Fit(calib, safe);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->tables().size(), b->tables().size());
  for (size_t i = 0; i < a->tables().size(); ++i) {
    const auto &ta = a->tables()[i], &tb = b->tables()[i];
    EXPECT_GE(ta.calib_recall, ta.target - 1e-9);
    EXPECT_GE(tb.calib_recall, ta.calib_recall - 1e-9);
    EXPECT_GE(tb.calib_postings, ta.calib_postings - 1e-9);
  }
  // Somewhere the margin must have bought something.
  EXPECT_GT(b->tables()[8].calib_postings, a->tables()[8].calib_postings);
}

TEST(PostingBudgetTest, TargetsBetweenTablesInterpolateAndUnreachableOnesAreDropped) {
  // Every query has one neighbour no posting of the prefix holds: recall
  // above 0.9 is out of reach.
  std::vector<RouteObservation> calib;
  Rng rng(5);
  for (int i = 0; i < 500; ++i) {
    std::vector<uint32_t> ranks;
    for (int j = 0; j < 9; ++j) ranks.push_back(static_cast<uint32_t>(rng.Below(8)));
    ranks.push_back(kUnreached);
    calib.push_back(Query(ranks, 0.05 + 0.2 * rng.Uniform(), 32));
  }
  PostingBudgetOptions o;
  o.prefix = 32;
  o.margin_z = 0;
  auto b = PostingBudget::Fit(calib, o);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_LE(b->max_target(), 0.9);
  for (const auto& t : b->tables()) EXPECT_LE(t.target, 0.9);
  // Above the highest table: that table's counts.
  const RouteObservation q = Query({0}, 0.1, 32);
  EXPECT_EQ(b->Postings(0.99, q.features.data(), Hash(q)), b->Postings(b->max_target(), q.features.data(), Hash(q)));
  // Between two tables: between their counts, per query.
  const double lo = 0.80, hi = 0.85;
  for (const RouteObservation& c : calib) {
    const uint32_t a = b->Postings(lo, c.features.data(), Hash(c)), z = b->Postings(hi, c.features.data(), Hash(c));
    const uint32_t mid = b->Postings(0.825, c.features.data(), Hash(c));
    EXPECT_GE(mid, std::min(a, z));
    EXPECT_LE(mid, std::max(a, z));
  }
  EXPECT_LE(b->MaxPostings(0.9), 32u);
  // Nothing reachable at all: an error, not an empty budget.
  o.targets = {0.95, 0.99};
  EXPECT_EQ(PostingBudget::Fit(calib, o).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(PostingBudget::Fit({}, PostingBudgetOptions()).ok());
}

TEST(PostingBudgetTest, WithoutFeaturesEveryQueryGetsTheSameCount) {
  const std::vector<RouteObservation> calib = MixedQueries(7, 600, 64);
  PostingBudgetOptions o;
  o.prefix = 64;
  o.use_features = false;
  auto b = PostingBudget::Fit(calib, o);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_FALSE(b->uses_features());
  EXPECT_EQ(b->buckets(), 1u);
  const RouteObservation easy = Query({0}, 0.3, 64), hard = Query({0}, 0.01, 64);
  EXPECT_EQ(b->Postings(0.9, easy.features.data(), Hash(easy)), b->Postings(0.9, hard.features.data(), Hash(hard)));
}

TEST(PostingBudgetTest, FileRoundTripsAndDamageIsRefused) {
  testing::TempDir tmp;
  const std::vector<RouteObservation> calib = MixedQueries(9, 800, 64);
  PostingBudgetOptions o;
  o.prefix = 64;
  o.head_ef = 96;
  o.num_vectors = 12345;
  auto b = PostingBudget::Fit(calib, o);
  ASSERT_TRUE(b.ok()) << b.status();
  const std::string path = tmp.File(kPostingBudgetFileName);
  ASSERT_TRUE(WritePostingBudget(Env::Default(), path, *b).ok());
  auto r = ReadPostingBudget(Env::Default(), path);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->head_ef(), 96u);
  EXPECT_EQ(r->num_vectors(), 12345u);
  EXPECT_EQ(r->calib_queries(), 800u);
  EXPECT_EQ(r->Serialize(), b->Serialize());
  for (const RouteObservation& q : calib) {
    ASSERT_EQ(r->Postings(0.93, q.features.data(), Hash(q)), b->Postings(0.93, q.features.data(), Hash(q)));
  }
  // A flipped byte fails the checksum; a missing file is NotFound.
  std::vector<uint8_t> bytes = testing::ReadBytes(path);
  bytes[bytes.size() / 2] ^= 0x40;
  testing::WriteBytes(path, bytes.data(), bytes.size());
  EXPECT_EQ(ReadPostingBudget(Env::Default(), path).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::IsNotFound(ReadPostingBudget(Env::Default(), tmp.File("none")).status()));
}

TEST(PostingBudgetTest, MalformedBodiesAreDataLossNeverACrash) {
  const std::vector<RouteObservation> calib = MixedQueries(11, 400, 32);
  PostingBudgetOptions o;
  o.prefix = 32;
  auto b = PostingBudget::Fit(calib, o);
  ASSERT_TRUE(b.ok());
  const std::string body = b->Serialize();
  // Every truncation, and trailing garbage.
  for (size_t n = 0; n < body.size(); n += 7) {
    EXPECT_EQ(PostingBudget::Deserialize(body.substr(0, n), "b").status().code(),
              absl::StatusCode::kDataLoss)
        << n;
  }
  EXPECT_FALSE(PostingBudget::Deserialize(body + "x", "b").ok());
  // A count of zero postings is refused with the file named, although the
  // body's length and every field's range are right.
  std::string zero = body;
  zero.replace(zero.size() - 4, 4, std::string(4, '\0'));
  auto s = PostingBudget::Deserialize(zero, "the-file");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("the-file"));
  // Huge bucket or table counts cannot make it allocate: header fields at
  // offsets 28 (buckets) and 32 (tables).
  for (size_t at : {28, 32}) {
    std::string big = body;
    big[at + 3] = '\x7f';
    EXPECT_FALSE(PostingBudget::Deserialize(big, "b").ok()) << at;
  }
}

}  // namespace
}  // namespace cairn
