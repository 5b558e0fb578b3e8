// PageLocalityOrder (index/page_order.h): a permutation, deterministic, and
// it groups neighbours onto the same page: on shuffled tight clusters of one
// page each, pages come out far more coherent than in input order.
#include "index/spann/page_order.h"

#include <algorithm>
#include <numeric>
#include <vector>

#include "common/random.h"
#include "gtest/gtest.h"

namespace cairn {
namespace {

// `clusters` tight Gaussian blobs of `per` points each, rows shuffled.
// cluster_of[i] names the blob of row i.
std::vector<float> ShuffledBlobs(uint32_t clusters, uint32_t per, uint32_t dim, uint64_t seed,
                                 std::vector<uint32_t>* cluster_of) {
  Rng rng(seed);
  std::vector<float> centres(uint64_t{clusters} * dim);
  for (float& c : centres) c = static_cast<float>(rng.Gaussian() * 10.0);
  const uint32_t n = clusters * per;
  std::vector<uint32_t> rows(n);
  std::iota(rows.begin(), rows.end(), 0u);
  for (uint32_t i = n; i > 1; --i) std::swap(rows[i - 1], rows[rng.Below(i)]);
  std::vector<float> v(uint64_t{n} * dim);
  cluster_of->assign(n, 0);
  for (uint32_t j = 0; j < n; ++j) {
    const uint32_t c = j / per, r = rows[j];
    (*cluster_of)[r] = c;
    for (uint32_t d = 0; d < dim; ++d) {
      v[uint64_t{r} * dim + d] = centres[uint64_t{c} * dim + d] + static_cast<float>(rng.Gaussian());
    }
  }
  return v;
}

// Fraction of same-page pairs that come from the same blob.
double PagePurity(const std::vector<uint32_t>& order, const std::vector<uint32_t>& cluster_of,
                  uint32_t group) {
  uint64_t same = 0, pairs = 0;
  for (size_t p0 = 0; p0 < order.size(); p0 += group) {
    const size_t p1 = std::min(order.size(), p0 + group);
    for (size_t a = p0; a < p1; ++a) {
      for (size_t b = a + 1; b < p1; ++b) {
        same += cluster_of[order[a]] == cluster_of[order[b]];
        ++pairs;
      }
    }
  }
  return pairs == 0 ? 1.0 : static_cast<double>(same) / static_cast<double>(pairs);
}

TEST(PageOrderTest, IsAPermutationForEveryShape) {
  for (uint32_t n : {0u, 1u, 2u, 3u, 5u, 17u, 64u, 257u}) {
    for (uint32_t group : {0u, 1u, 2u, 5u, 16u, 300u}) {
      std::vector<uint32_t> cluster_of;
      const std::vector<float> v = ShuffledBlobs(1, n, 7, n + group, &cluster_of);
      std::vector<uint32_t> order = PageLocalityOrder(v.data(), n, 7, group);
      ASSERT_EQ(order.size(), n);
      std::sort(order.begin(), order.end());
      for (uint32_t i = 0; i < n; ++i) ASSERT_EQ(order[i], i) << "n=" << n << " group=" << group;
    }
  }
}

TEST(PageOrderTest, IdenticalVectorsDoNotBreakIt) {
  const std::vector<float> v(40 * 8, 3.0f);
  std::vector<uint32_t> order = PageLocalityOrder(v.data(), 40, 8, 5);
  std::sort(order.begin(), order.end());
  for (uint32_t i = 0; i < 40; ++i) EXPECT_EQ(order[i], i);
}

TEST(PageOrderTest, Deterministic) {
  std::vector<uint32_t> cluster_of;
  const std::vector<float> v = ShuffledBlobs(9, 5, 32, 3, &cluster_of);
  EXPECT_EQ(PageLocalityOrder(v.data(), 45, 32, 5), PageLocalityOrder(v.data(), 45, 32, 5));
}

TEST(PageOrderTest, GroupsBlobsOntoPages) {
  // 8 blobs of 5 (one page each at group 5), 10 shuffles. In input order
  // about 1 pair in 8 shares a blob; ordered pages should be nearly pure.
  double ordered = 0, shuffled = 0;
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    std::vector<uint32_t> cluster_of;
    const std::vector<float> v = ShuffledBlobs(8, 5, 64, seed, &cluster_of);
    std::vector<uint32_t> identity(40);
    std::iota(identity.begin(), identity.end(), 0u);
    ordered += PagePurity(PageLocalityOrder(v.data(), 40, 64, 5), cluster_of, 5);
    shuffled += PagePurity(identity, cluster_of, 5);
  }
  ordered /= 10, shuffled /= 10;
  EXPECT_LT(shuffled, 0.3);
  EXPECT_GT(ordered, 0.8) << "input-order purity " << shuffled;
}

TEST(PageOrderTest, AdjacentPagesAreNeighbours) {
  // With one vector per page, consecutive entries should mostly come from
  // the same blob. 8 blobs of 16: input order changes blob about 112 times,
  // a perfect order 7 times; balanced cuts may split a few blobs.
  std::vector<uint32_t> cluster_of;
  const std::vector<float> v = ShuffledBlobs(8, 16, 32, 11, &cluster_of);
  const std::vector<uint32_t> order = PageLocalityOrder(v.data(), 128, 32, 1);
  uint32_t changes = 0, input_changes = 0;
  for (size_t i = 1; i < order.size(); ++i) {
    changes += cluster_of[order[i]] != cluster_of[order[i - 1]];
    input_changes += cluster_of[i] != cluster_of[i - 1];
  }
  EXPECT_GT(input_changes, 90u);
  EXPECT_LE(changes, 32u);
}

}  // namespace
}  // namespace cairn
