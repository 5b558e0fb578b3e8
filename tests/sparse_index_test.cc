// The sparse vector grammar (server/sparse_vector.h), the point record
// layout with sparse vectors (server/point_vectors.h) and the inverted
// index (server/sparse_index.h) against a brute-force scan.
#include "server/sparse_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "common/random.h"
#include "server/point_vectors.h"
#include "server/sparse_vector.h"

namespace cairn {
namespace {

using nlohmann::json;

SparseVector Sv(std::vector<uint32_t> i, std::vector<float> v) {
  SparseVector s{std::move(i), std::move(v)};
  EXPECT_TRUE(Canonicalize(&s, "test").ok());
  return s;
}

SparseVector RandomSparse(Rng& rng, uint32_t dims, size_t nnz) {
  std::map<uint32_t, float> m;
  while (m.size() < nnz) m[rng.Below(dims)] = static_cast<float>(rng.Gaussian());
  SparseVector v;
  for (auto [i, x] : m) {
    v.indices.push_back(i);
    v.values.push_back(x);
  }
  return v;
}

TEST(SparseVectorTest, ParsesAndCanonicalises) {
  auto v =
      ParseSparseVector(json{{"indices", {9, 2, 4294967295u}}, {"values", {1.5, -2, 0.25}}}, "v");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->indices, (std::vector<uint32_t>{2, 9, 4294967295u}));
  EXPECT_EQ(v->values, (std::vector<float>{-2, 1.5, 0.25}));
  EXPECT_TRUE(
      ParseSparseVector(json{{"indices", json::array()}, {"values", json::array()}}, "v").ok());
}

TEST(SparseVectorTest, RefusesWhatQdrantRefuses) {
  auto bad = [](const json& j, const std::string& needle) {
    auto v = ParseSparseVector(j, "q");
    ASSERT_FALSE(v.ok()) << j.dump();
    EXPECT_TRUE(absl::IsInvalidArgument(v.status()));
    EXPECT_NE(v.status().message().find(needle), std::string::npos) << v.status();
  };
  bad(json{{"indices", {1, 2}}, {"values", {1.0}}}, "differ in length");
  bad(json{{"indices", {3, 1, 3}}, {"values", {1, 2, 3}}}, "index 3 appears twice");
  bad(json{{"indices", {-1}}, {"values", {1}}}, "q.indices[0]");
  bad(json{{"indices", {4294967296u}}, {"values", {1}}}, "q.indices[0]");
  bad(json{{"indices", {1.5}}, {"values", {1}}}, "q.indices[0]");
  bad(json{{"indices", {1}}, {"values", {"x"}}}, "q.values[0]");
  bad(json{{"indices", {1}}, {"values", {1e300}}}, "q.values[0]: not finite");
  bad(json{{"indices", {1}}}, "q.values");
  bad(json{{"indices", {1}}, {"values", {1}}, {"weights", {1}}}, "q.weights: unknown field");
  bad(json::array({1, 2}), "expected {");
  SparseVector nan{{1}, {std::nanf("")}};
  EXPECT_FALSE(Canonicalize(&nan, "q").ok());
}

TEST(SparseVectorTest, DotMergesIndices) {
  EXPECT_FLOAT_EQ(SparseDot(Sv({1, 5, 9}, {1, 2, 3}), Sv({0, 5, 9, 11}, {7, 10, 100, 4})),
                  2 * 10 + 3 * 100);
  EXPECT_FLOAT_EQ(SparseDot(Sv({}, {}), Sv({1}, {1})), 0);
}

TEST(PointVectorsTest, RoundTripsAndChecksLengths) {
  CollectionConfig c;
  c.size = 3;
  c.sparse_vectors = {{"a", SparseModifier::kNone}, {"b", SparseModifier::kIdf}};
  const std::vector<float> dense = {1, 2, 3};
  SparseMap sparse = {{"b", Sv({4, 1}, {0.5f, 2})}, {"a", Sv({}, {})}};
  const std::string bytes = EncodePointVectors(dense, sparse, c);
  std::vector<float> d;
  SparseMap s;
  ASSERT_TRUE(DecodePointVectors(bytes, c, &d, &s).ok());
  EXPECT_EQ(d, dense);
  EXPECT_EQ(s, sparse);
  // Sparse only; nothing at all.
  ASSERT_TRUE(DecodePointVectors(EncodePointVectors({}, {{"a", Sv({7}, {1})}}, c), c, &d, &s).ok());
  EXPECT_TRUE(d.empty());
  EXPECT_EQ(s.size(), 1u);
  EXPECT_TRUE(EncodePointVectors({}, {}, c).empty());
  // Every truncation, and a trailing byte, is DataLoss, never a crash.
  for (size_t n = 1; n < bytes.size(); ++n) {
    EXPECT_TRUE(absl::IsDataLoss(DecodePointVectors(bytes.substr(0, n), c, &d, &s))) << n;
  }
  EXPECT_TRUE(absl::IsDataLoss(DecodePointVectors(bytes + "x", c, &d, &s)));
  // Without sparse vectors the layout is the version-2 one: raw floats.
  CollectionConfig plain;
  plain.size = 3;
  EXPECT_EQ(EncodePointVectors(dense, {}, plain).size(), 12u);
  ASSERT_TRUE(DecodePointVectors(EncodePointVectors(dense, {}, plain), plain, &d, &s).ok());
  EXPECT_EQ(d, dense);
}

// Every live document's exact score against `q`, best first (ties: key).
std::vector<std::pair<std::string, float>> Scan(const std::map<std::string, SparseVector>& docs,
                                                const SparseVector& q) {
  std::vector<std::pair<std::string, float>> out;
  for (const auto& [key, v] : docs) {
    bool shares = false;
    for (uint32_t i : v.indices) {
      shares |= std::binary_search(q.indices.begin(), q.indices.end(), i);
    }
    if (shares) out.emplace_back(key, SparseDot(q, v));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  return out;
}

TEST(SparseIndexTest, SearchEqualsAScanThroughUpdatesAndCompactions) {
  Rng rng(17);
  SparseIndex index(/*idf=*/false);
  std::map<std::string, SparseVector> docs;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 1500; ++i) {
      const std::string key = "k" + std::to_string(rng.Below(1200));
      if (rng.Below(5) == 0) {
        index.Remove(key);
        docs.erase(key);
      } else {
        SparseVector v = RandomSparse(rng, 300, 1 + rng.Below(12));
        index.Put(key, v);
        docs[key] = v;
      }
    }
    const SparseIndexStats st = index.stats();
    EXPECT_EQ(st.points, docs.size());
    for (int t = 0; t < 20; ++t) {
      const SparseVector q = RandomSparse(rng, 300, 1 + rng.Below(6));
      const auto want = Scan(docs, q);
      const auto got = index.Search(q, 10, nullptr);
      ASSERT_EQ(got.size(), std::min<size_t>(10, want.size()));
      for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(got[i].first, want[i].first) << "round " << round << " rank " << i;
        EXPECT_NEAR(got[i].second, want[i].second, 1e-4);
      }
    }
  }
  // Enough turnover to have compacted at least once: dead entries are
  // bounded by the live ones (or the minimum).
  const SparseIndexStats st = index.stats();
  EXPECT_LE(st.dead_entries, std::max<uint64_t>(st.live_entries, 4096));
  EXPECT_GT(st.ram_bytes, st.live_entries * 8);
}

TEST(SparseIndexTest, AcceptFiltersBestFirstUntilTheLimit) {
  SparseIndex index(false);
  for (int i = 0; i < 10; ++i) index.Put("p" + std::to_string(i), Sv({1}, {float(i)}));
  index.Put("tie_b", Sv({1}, {5}));
  std::vector<std::string> asked;
  auto got = index.Search(Sv({1}, {1}), 3, [&](const std::string& key, float) {
    asked.push_back(key);
    return key != "p8";
  });
  // p9 (9), p8 refused, then 5: p5 before tie_b (ties by key), p7 (7), p6.
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].first, "p9");
  EXPECT_EQ(got[1].first, "p7");
  EXPECT_EQ(got[2].first, "p6");
  EXPECT_EQ(asked, (std::vector<std::string>{"p9", "p8", "p7", "p6"}));
  got = index.Search(Sv({1}, {1}), 20, nullptr);
  auto p5 = std::find_if(got.begin(), got.end(), [](auto& h) { return h.first == "p5"; });
  ASSERT_NE(p5, got.end());
  EXPECT_EQ((p5 + 1)->first, "tie_b");
  // A dimension nobody has, and limit 0.
  EXPECT_TRUE(index.Search(Sv({2}, {1}), 5, nullptr).empty());
  EXPECT_TRUE(index.Search(Sv({1}, {1}), 0, nullptr).empty());
}

TEST(SparseIndexTest, IdfComesFromLiveDocumentFrequencies) {
  SparseIndex index(/*idf=*/true);
  index.Put("a", Sv({1, 7}, {1, 2}));
  index.Put("b", Sv({1}, {1}));
  index.Put("c", Sv({1}, {1}));
  // N = 3; dimension 7 in 1 document: ln(1 + 2.5 / 1.5); dimension 1 in 3:
  // ln(1 + 0.5 / 3.5).
  const double idf7 = std::log(1 + 2.5 / 1.5), idf1 = std::log(1 + 0.5 / 3.5);
  SparseVector w = index.Weigh(Sv({1, 7}, {1, 1}));
  EXPECT_NEAR(w.values[0], idf1, 1e-6);
  EXPECT_NEAR(w.values[1], idf7, 1e-6);
  auto got = index.Search(Sv({1, 7}, {1, 1}), 3, nullptr);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].first, "a");
  EXPECT_NEAR(got[0].second, idf1 * 1 + idf7 * 2, 1e-5);
  EXPECT_NEAR(got[1].second, idf1, 1e-6);
  // Removing "a" and replacing "b" changes N and df: now N = 2, df(1) = 1.
  index.Remove("a");
  index.Put("b", Sv({9}, {1}));
  w = index.Weigh(Sv({1}, {1}));
  EXPECT_NEAR(w.values[0], std::log(1 + 1.5 / 1.5), 1e-6);
  got = index.Search(Sv({1}, {1}), 3, nullptr);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].first, "c");
  // Without the modifier a query is scored as given.
  SparseIndex plain(false);
  plain.Put("a", Sv({1}, {3}));
  EXPECT_EQ(plain.Weigh(Sv({1}, {2})).values[0], 2);
  EXPECT_FLOAT_EQ(plain.Search(Sv({1}, {2}), 1, nullptr)[0].second, 6);
}

}  // namespace
}  // namespace cairn
