#include "index/spann/balanced_kmeans.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include "common/random.h"

namespace cairn {
namespace {

// Aborts the test binary if the scope is not left within `seconds`: a hang
// (an endless split loop) becomes a failure instead of a stuck CI job.
class Deadline {
 public:
  Deadline(const char* what, int seconds) {
    watchdog_ = std::thread([this, what, seconds] {
      std::unique_lock<std::mutex> lock(mu_);
      if (!cv_.wait_for(lock, std::chrono::seconds(seconds), [this] { return done_; })) {
        std::fprintf(stderr, "FATAL: %s did not finish within %d s\n", what, seconds);
        std::abort();
      }
    });
  }
  ~Deadline() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    watchdog_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread watchdog_;
};

// Points in `dim` dimensions from Gaussian blobs of the given sizes
// (row-major), centres N(0, spread^2 I), unit noise.
std::vector<float> Blobs(const std::vector<uint32_t>& sizes, uint32_t dim, double spread,
                         uint64_t seed) {
  Rng rng(seed);
  std::vector<float> points;
  for (uint32_t size : sizes) {
    std::vector<float> center(dim);
    for (auto& c : center) c = static_cast<float>(rng.Gaussian() * spread);
    for (uint32_t i = 0; i < size; ++i) {
      for (uint32_t d = 0; d < dim; ++d) {
        points.push_back(center[d] + static_cast<float>(rng.Gaussian()));
      }
    }
  }
  return points;
}

double MaxMinRatio(const std::vector<uint32_t>& sizes) {
  const auto [lo, hi] = std::minmax_element(sizes.begin(), sizes.end());
  return static_cast<double>(*hi) / std::max<uint32_t>(1, *lo);
}

void ExpectConsistent(const KMeansResult& r, uint64_t n, uint32_t k, uint32_t dim) {
  ASSERT_EQ(r.centroids.size(), size_t{k} * dim);
  ASSERT_EQ(r.assignment.size(), n);
  ASSERT_EQ(r.sizes.size(), k);
  std::vector<uint32_t> counted(k, 0);
  for (uint32_t a : r.assignment) {
    ASSERT_LT(a, k);
    ++counted[a];
  }
  EXPECT_EQ(counted, r.sizes);
}

TEST(BalancedKMeansTest, BalanceEvensOutClusterSizesOnSkewedData) {
  // A dense core holding 80% of the points inside a wide shell: plain
  // k-means spreads its centroids over the shell and leaves the core to one or
  // two huge clusters; the size penalty moves centroids into the core.
  const uint32_t dim = 8;
  Rng rng(5);
  std::vector<float> points;
  for (int i = 0; i < 8000; ++i) {
    const double std_dev = i % 5 != 0 ? 0.3 : 3.0;
    for (uint32_t d = 0; d < dim; ++d)
      points.push_back(static_cast<float>(rng.Gaussian() * std_dev));
  }
  const uint64_t n = points.size() / dim;
  BalancedKMeansOptions o;
  o.k = 10;
  o.iterations = 12;
  o.seed = 3;
  o.balance = 0;
  auto plain = BalancedKMeans(points.data(), n, dim, o);
  ASSERT_TRUE(plain.ok()) << plain.status();
  o.balance = 1.0;
  auto balanced = BalancedKMeans(points.data(), n, dim, o);
  ASSERT_TRUE(balanced.ok()) << balanced.status();
  ExpectConsistent(*plain, n, o.k, dim);
  ExpectConsistent(*balanced, n, o.k, dim);
  const double plain_ratio = MaxMinRatio(plain->sizes);
  const double balanced_ratio = MaxMinRatio(balanced->sizes);
  std::printf("max/min cluster size: plain %.2f, balanced %.2f\n", plain_ratio, balanced_ratio);
  EXPECT_GT(plain_ratio, 5.0) << "the data should be skewed for plain k-means";
  EXPECT_LT(balanced_ratio, 0.5 * plain_ratio);
  EXPECT_LT(balanced_ratio, 2.0);
  // A weaker penalty balances less, but still more than none.
  o.balance = 0.1;
  auto weak = BalancedKMeans(points.data(), n, dim, o);
  ASSERT_TRUE(weak.ok()) << weak.status();
  const double weak_ratio = MaxMinRatio(weak->sizes);
  EXPECT_LT(weak_ratio, plain_ratio);
  EXPECT_GE(weak_ratio, balanced_ratio);
}

TEST(BalancedKMeansTest, BalancedSizesSettleInsteadOfOscillating) {
  // The penalty must not empty a crowded cluster in one step and crowd it
  // again in the next: after convergence, more iterations change the sizes
  // only a little, and no cluster is ever left empty.
  const uint32_t dim = 8;
  const std::vector<float> points = Blobs({6000, 1000, 400, 200, 100}, dim, 6.0, 42);
  const uint64_t n = points.size() / dim;
  BalancedKMeansOptions o;
  o.k = 10;
  o.seed = 3;
  o.balance = 1.0;
  std::vector<uint32_t> previous;
  for (uint32_t it = 8; it <= 14; ++it) {
    o.iterations = it;
    auto r = BalancedKMeans(points.data(), n, dim, o);
    ASSERT_TRUE(r.ok()) << r.status();
    for (uint32_t j = 0; j < o.k; ++j) EXPECT_GT(r->sizes[j], 0u) << "iterations " << it;
    if (!previous.empty()) {
      for (uint32_t j = 0; j < o.k; ++j) {
        EXPECT_LE(std::abs(static_cast<int>(r->sizes[j]) - static_cast<int>(previous[j])),
                  static_cast<int>(n / o.k / 5))
            << "cluster " << j << " after " << it << " iterations";
      }
    }
    previous = r->sizes;
  }
}

TEST(BalancedKMeansTest, DeterministicForASeed) {
  const uint32_t dim = 16;
  const std::vector<float> points = Blobs({500, 300, 200, 900}, dim, 3.0, 5);
  const uint64_t n = points.size() / dim;
  BalancedKMeansOptions o;
  o.k = 12;
  o.seed = 77;
  auto a = BalancedKMeans(points.data(), n, dim, o);
  auto b = BalancedKMeans(points.data(), n, dim, o);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->centroids, b->centroids);
  EXPECT_EQ(a->assignment, b->assignment);
  EXPECT_EQ(a->sizes, b->sizes);
  o.seed = 78;
  auto c = BalancedKMeans(points.data(), n, dim, o);
  ASSERT_TRUE(c.ok());
  EXPECT_NE(a->centroids, c->centroids) << "the seed should matter";
}

TEST(BalancedKMeansTest, KIsClampedToN) {
  const uint32_t dim = 4;
  const std::vector<float> points = Blobs({5}, dim, 1.0, 9);
  BalancedKMeansOptions o;
  o.k = 32;
  auto r = BalancedKMeans(points.data(), 5, dim, o);
  ASSERT_TRUE(r.ok()) << r.status();
  ExpectConsistent(*r, 5, 5, dim);
  // One point per cluster: every point is its own centroid.
  for (uint32_t j = 0; j < 5; ++j) EXPECT_EQ(r->sizes[j], 1u) << j;

  auto one = BalancedKMeans(points.data(), 1, dim, o);
  ASSERT_TRUE(one.ok()) << one.status();
  ExpectConsistent(*one, 1, 1, dim);
  EXPECT_EQ(one->centroids, std::vector<float>(points.begin(), points.begin() + dim));
}

TEST(BalancedKMeansTest, RejectsBadInput) {
  const std::vector<float> points(40, 1.0f);
  BalancedKMeansOptions o;
  EXPECT_EQ(BalancedKMeans(points.data(), 0, 4, o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o.k = 0;
  EXPECT_EQ(BalancedKMeans(points.data(), 10, 4, o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o.k = 2;
  o.iterations = 0;
  EXPECT_FALSE(o.Validate().ok());
  o.iterations = 3;
  o.balance = -1;
  EXPECT_FALSE(o.Validate().ok());
}

TEST(BalancedKMeansTest, IdenticalPointsTerminate) {
  Deadline deadline("k-means on identical points", 60);
  const uint32_t dim = 8;
  for (float value : {0.0f, 1.5f}) {
    const std::vector<float> points(size_t{2000} * dim, value);
    BalancedKMeansOptions o;
    o.k = 16;
    auto r = BalancedKMeans(points.data(), 2000, dim, o);
    ASSERT_TRUE(r.ok()) << r.status();
    ExpectConsistent(*r, 2000, 16, dim);
    for (float c : r->centroids) EXPECT_TRUE(std::isfinite(c));
  }
}

HierarchicalOptions SmallTree(uint32_t max_leaf, int threads) {
  HierarchicalOptions h;
  h.branching = 8;
  h.max_leaf = max_leaf;
  h.iterations = 6;
  h.seed = 11;
  h.threads = threads;
  h.progress = false;
  return h;
}

TEST(HierarchicalClusteringTest, LeafCountIsInRangeAndDeterministic) {
  const uint32_t dim = 16;
  const std::vector<float> points = Blobs({1500, 1200, 900, 700, 400, 200, 80, 20}, dim, 4.0, 13);
  const uint64_t n = points.size() / dim;
  for (uint32_t max_leaf : {1u, 10u, 40u}) {
    SCOPED_TRACE("max_leaf " + std::to_string(max_leaf));
    auto a = HierarchicalBalancedClustering(points.data(), n, dim, SmallTree(max_leaf, 1));
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_EQ(a->size() % dim, 0u);
    const uint64_t leaves = a->size() / dim;
    EXPECT_GE(leaves, (n + max_leaf - 1) / max_leaf);
    EXPECT_LE(leaves, n);
    std::printf("max_leaf %u: %llu leaves for %llu points\n", max_leaf,
                static_cast<unsigned long long>(leaves), static_cast<unsigned long long>(n));
    for (float c : *a) ASSERT_TRUE(std::isfinite(c));
    // Same seed: same leaves, in the same order, whatever the threads.
    auto b = HierarchicalBalancedClustering(points.data(), n, dim, SmallTree(max_leaf, 1));
    auto c = HierarchicalBalancedClustering(points.data(), n, dim, SmallTree(max_leaf, 2));
    ASSERT_TRUE(b.ok() && c.ok());
    EXPECT_EQ(*a, *b);
    EXPECT_EQ(*a, *c);
  }
}

TEST(HierarchicalClusteringTest, MaxLeafOneGivesOneLeafPerDistinctPoint) {
  const uint32_t dim = 4;
  const std::vector<float> points = Blobs({300}, dim, 1.0, 17);
  auto leaves = HierarchicalBalancedClustering(points.data(), 300, dim, SmallTree(1, 2));
  ASSERT_TRUE(leaves.ok()) << leaves.status();
  EXPECT_EQ(leaves->size(), points.size());
}

TEST(HierarchicalClusteringTest, IdenticalPointsTerminate) {
  Deadline deadline("hierarchical clustering on identical points", 60);
  const uint32_t dim = 8;
  // All identical, then identical points mixed with distinct ones.
  std::vector<float> same(size_t{3000} * dim, 2.0f);
  auto a = HierarchicalBalancedClustering(same.data(), 3000, dim, SmallTree(10, 2));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_GE(a->size() / dim, 300u);
  EXPECT_LE(a->size() / dim, 3000u);

  std::vector<float> mixed = Blobs({1000}, dim, 1.0, 19);
  mixed.insert(mixed.end(), size_t{1000} * dim, 0.0f);
  mixed.insert(mixed.end(), size_t{1000} * dim, -3.0f);
  auto b = HierarchicalBalancedClustering(mixed.data(), 3000, dim, SmallTree(10, 2));
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_GE(b->size() / dim, 300u);
  EXPECT_LE(b->size() / dim, 3000u);
}

TEST(HierarchicalClusteringTest, NearestRealVectorEmitsInputRows) {
  const uint32_t dim = 8;
  const std::vector<float> points = Blobs({700, 300}, dim, 3.0, 23);
  const uint64_t n = points.size() / dim;
  HierarchicalOptions h = SmallTree(10, 2);
  auto means = HierarchicalBalancedClustering(points.data(), n, dim, h);
  h.member_heads = true;
  auto rows = HierarchicalBalancedClustering(points.data(), n, dim, h);
  ASSERT_TRUE(means.ok() && rows.ok());
  // The same tree, another representative per leaf: each one of the inputs.
  ASSERT_EQ(rows->size(), means->size());
  for (size_t l = 0; l < rows->size() / dim; ++l) {
    bool found = false;
    for (uint64_t i = 0; i < n && !found; ++i) {
      found = std::equal(rows->begin() + l * dim, rows->begin() + (l + 1) * dim,
                         points.begin() + i * dim);
    }
    EXPECT_TRUE(found) << "leaf " << l << " is not an input row";
  }
}

TEST(HierarchicalClusteringTest, RejectsBadInput) {
  const std::vector<float> points(40, 1.0f);
  EXPECT_EQ(HierarchicalBalancedClustering(points.data(), 0, 4, SmallTree(4, 1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(HierarchicalBalancedClustering(points.data(), 10, 4, SmallTree(0, 1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  HierarchicalOptions h = SmallTree(4, 1);
  h.branching = 1;
  EXPECT_EQ(HierarchicalBalancedClustering(points.data(), 10, 4, h).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cairn
