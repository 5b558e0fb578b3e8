#include "index/spann/balanced_kmeans.h"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <numeric>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/progress.h"
#include "common/random.h"
#include "kernels/distance.h"

namespace cairn {
namespace {

constexpr uint64_t kChunk = 2048;

// Assigns each point to the centroid minimising
//   ||x - c_j||^2 + 2 lambda (|X_j| - target)
// where |X_j| are the sizes *as points move*: a point leaves its cluster
// before choosing, and the sizes are updated at once. That is exact coordinate
// descent on the balanced objective, which therefore cannot increase. (A
// penalty frozen at the previous iteration's sizes makes every point of a
// crowded cluster leave at once, and the sizes oscillate between crowded and
// empty instead of converging.) lambda = 0 is plain nearest-centroid.
// `sizes` holds the counts of `assignment` on entry when lambda > 0, and the
// counts of the new assignment on exit. Returns the sum of plain squared
// distances.
double Assign(const float* points, uint64_t n, uint32_t dim, const std::vector<float>& centroids,
              uint32_t k, const std::vector<float>& xnorm, double lambda, double target,
              std::vector<uint32_t>& assignment, std::vector<uint32_t>& sizes,
              std::vector<float>& scratch) {
  std::vector<float> cnorm(k);
  for (uint32_t j = 0; j < k; ++j) cnorm[j] = SquaredNorm(centroids.data() + size_t{j} * dim, dim);
  scratch.resize(kChunk * k);
  if (lambda <= 0) std::fill(sizes.begin(), sizes.end(), 0);
  double total = 0;
  for (uint64_t b = 0; b < n; b += kChunk) {
    const uint64_t rows = std::min(kChunk, n - b);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)k, (int)dim, 1.0f,
                points + b * dim, (int)dim, centroids.data(), (int)dim, 0.0f, scratch.data(),
                (int)k);
    for (uint64_t r = 0; r < rows; ++r) {
      const float* s = scratch.data() + r * k;
      if (lambda > 0) --sizes[assignment[b + r]];
      double best = std::numeric_limits<double>::infinity();
      uint32_t best_j = 0;
      float best_plain = 0;
      for (uint32_t j = 0; j < k; ++j) {
        float d = std::max(0.0f, xnorm[b + r] + cnorm[j] - 2.0f * s[j]);
        double pd = lambda > 0 ? d + 2.0 * lambda * (sizes[j] - target) : d;
        if (pd < best) {
          best = pd;
          best_j = j;
          best_plain = d;
        }
      }
      assignment[b + r] = best_j;
      ++sizes[best_j];
      total += best_plain;
    }
  }
  return total;
}

}  // namespace

absl::Status BalancedKMeansOptions::Validate() const {
  if (k == 0) return absl::InvalidArgumentError("k-means: k must be positive");
  if (iterations == 0) return absl::InvalidArgumentError("k-means: iterations must be positive");
  if (!(balance >= 0)) return absl::InvalidArgumentError("k-means: balance must be >= 0");
  return absl::OkStatus();
}

absl::StatusOr<KMeansResult> BalancedKMeans(const float* points, uint64_t n, uint32_t dim,
                                            const BalancedKMeansOptions& options) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  if (n == 0 || dim == 0) return absl::InvalidArgumentError("k-means: no points");
  const uint32_t k = static_cast<uint32_t>(std::min<uint64_t>(options.k, n));
  KMeansResult result;
  result.centroids.resize(size_t{k} * dim);
  result.assignment.assign(n, 0);
  result.sizes.assign(k, 0);

  // Initial centroids: k distinct points by a seeded partial shuffle.
  Rng rng(options.seed);
  {
    std::vector<uint64_t> pick(n);
    std::iota(pick.begin(), pick.end(), 0);
    for (uint32_t j = 0; j < k; ++j) {
      uint64_t r = j + rng.Below(n - j);
      std::swap(pick[j], pick[r]);
      std::copy_n(points + pick[j] * dim, dim, result.centroids.data() + size_t{j} * dim);
    }
  }
  if (k == 1) {
    std::vector<double> sum(dim, 0.0);
    for (uint64_t i = 0; i < n; ++i)
      for (uint32_t d = 0; d < dim; ++d) sum[d] += points[i * dim + d];
    for (uint32_t d = 0; d < dim; ++d) result.centroids[d] = static_cast<float>(sum[d] / n);
    result.sizes[0] = static_cast<uint32_t>(n);
    return result;
  }

  std::vector<float> xnorm(n);
  for (uint64_t i = 0; i < n; ++i) xnorm[i] = SquaredNorm(points + i * dim, dim);
  std::vector<float> scratch;
  std::vector<double> sums(size_t{k} * dim);
  const double target = static_cast<double>(n) / k;
  double lambda = 0;  // the first assignment is plain: there are no sizes yet
  for (uint32_t it = 0; it < options.iterations; ++it) {
    double total = Assign(points, n, dim, result.centroids, k, xnorm, lambda, target,
                          result.assignment, result.sizes, scratch);
    std::fill(sums.begin(), sums.end(), 0.0);
    for (uint64_t i = 0; i < n; ++i) {
      const uint32_t j = result.assignment[i];
      double* s = sums.data() + size_t{j} * dim;
      const float* x = points + i * dim;
      for (uint32_t d = 0; d < dim; ++d) s[d] += x[d];
    }
    // Empty clusters restart at a random point of the largest cluster, so k
    // stays the number of useful centroids.
    for (uint32_t j = 0; j < k; ++j) {
      if (result.sizes[j] > 0) {
        for (uint32_t d = 0; d < dim; ++d) {
          result.centroids[size_t{j} * dim + d] =
              static_cast<float>(sums[size_t{j} * dim + d] / result.sizes[j]);
        }
        continue;
      }
      const uint32_t big = static_cast<uint32_t>(
          std::max_element(result.sizes.begin(), result.sizes.end()) - result.sizes.begin());
      std::vector<uint64_t> members;
      for (uint64_t i = 0; i < n; ++i)
        if (result.assignment[i] == big) members.push_back(i);
      const uint64_t p = members[rng.Below(members.size())];
      std::copy_n(points + p * dim, dim, result.centroids.data() + size_t{j} * dim);
      // Perturb the donor slightly so the two do not coincide.
      for (uint32_t d = 0; d < dim; ++d) result.centroids[size_t{big} * dim + d] *= 1.0001f;
    }
    // lambda of the objective, relative to the mean squared distance per
    // point: a cluster at twice its fair share costs 2 x that distance.
    lambda = options.balance * (total / n) / target;
  }
  // Final plain assignment sizes are what callers see.
  std::fill(result.sizes.begin(), result.sizes.end(), 0);
  for (uint64_t i = 0; i < n; ++i) ++result.sizes[result.assignment[i]];
  return result;
}

absl::StatusOr<std::vector<float>> HierarchicalBalancedClustering(
    const float* points, uint64_t n, uint32_t dim, const HierarchicalOptions& options) {
  if (n == 0) return absl::InvalidArgumentError("clustering: no points");
  if (options.max_leaf == 0 || options.branching < 2) {
    return absl::InvalidArgumentError("clustering: need max_leaf >= 1 and branching >= 2");
  }
  const int threads =
      options.threads > 0 ? options.threads : std::max(1, (int)std::thread::hardware_concurrency());

  struct Node {
    std::vector<uint64_t> members;  // row numbers in `points`
    uint64_t seed;
  };
  // Level-synchronous: all nodes of a level are split before the next level,
  // leaves are emitted in (level, node, child) order, which is deterministic.
  std::vector<Node> level;
  {
    Node root;
    root.members.resize(n);
    std::iota(root.members.begin(), root.members.end(), 0);
    root.seed = options.seed;
    level.push_back(std::move(root));
  }
  std::vector<float> leaves;
  Progress progress("clustering", n, "points placed", options.progress);
  while (!level.empty()) {
    std::vector<std::vector<Node>> children(level.size());
    std::vector<std::vector<float>> node_leaves(level.size());
    std::vector<absl::Status> errors(level.size());
    // Few big nodes: let OpenBLAS use the threads. Many nodes: one per thread.
    const bool parallel_nodes = level.size() >= static_cast<size_t>(threads) * 2;
    openblas_set_num_threads(parallel_nodes ? 1 : threads);
    std::atomic<size_t> next{0};
    auto work = [&] {
      std::vector<float> buf;
      for (size_t i = next++; i < level.size(); i = next++) {
        const Node& node = level[i];
        const uint64_t m = node.members.size();
        buf.resize(m * dim);
        for (uint64_t r = 0; r < m; ++r) {
          std::copy_n(points + node.members[r] * dim, dim, buf.data() + r * dim);
        }
        if (m <= options.max_leaf) {
          std::vector<double> sum(dim, 0.0);
          for (uint64_t r = 0; r < m; ++r)
            for (uint32_t d = 0; d < dim; ++d) sum[d] += buf[r * dim + d];
          std::vector<float> mean(dim);
          for (uint32_t d = 0; d < dim; ++d) mean[d] = static_cast<float>(sum[d] / m);
          if (options.member_heads) {
            // The member nearest the centroid stands for the leaf.
            uint64_t best = 0;
            float best_d = std::numeric_limits<float>::infinity();
            for (uint64_t r = 0; r < m; ++r) {
              const float dd = Kernels().l2_f32(mean.data(), buf.data() + r * dim, dim);
              if (dd < best_d) {
                best_d = dd;
                best = r;
              }
            }
            std::copy_n(buf.data() + best * dim, dim, mean.data());
          }
          node_leaves[i].insert(node_leaves[i].end(), mean.begin(), mean.end());
          progress.Add(m);
          continue;
        }
        BalancedKMeansOptions ko;
        ko.k = static_cast<uint32_t>(std::min<uint64_t>(
            options.branching, (m + options.max_leaf - 1) / options.max_leaf));
        ko.k = std::max<uint32_t>(ko.k, 2);
        ko.iterations = options.iterations;
        ko.balance = options.balance;
        ko.seed = node.seed;
        auto km = BalancedKMeans(buf.data(), m, dim, ko);
        if (!km.ok()) {
          errors[i] = km.status();
          continue;
        }
        std::vector<Node> kids(ko.k);
        for (uint64_t r = 0; r < m; ++r) kids[km->assignment[r]].members.push_back(node.members[r]);
        for (uint32_t j = 0; j < ko.k; ++j) {
          kids[j].seed = Rng::Mix(node.seed, j + 1);
          if (kids[j].members.empty()) continue;
          // A split that made no progress (all points identical): emit the
          // node as leaves of max_leaf points each, sharing one centroid.
          if (kids[j].members.size() == m) {
            for (uint64_t c = 0; c < m; c += options.max_leaf) {
              node_leaves[i].insert(node_leaves[i].end(), km->centroids.begin() + size_t{j} * dim,
                                    km->centroids.begin() + size_t{j + 1} * dim);
            }
            progress.Add(m);
            kids[j].members.clear();
            continue;
          }
          children[i].push_back(std::move(kids[j]));
        }
      }
    };
    if (parallel_nodes) {
      std::vector<std::thread> pool;
      for (int t = 0; t < threads; ++t) pool.emplace_back(work);
      for (auto& th : pool) th.join();
    } else {
      work();
    }
    for (auto& e : errors)
      if (!e.ok()) return e;
    std::vector<Node> next_level;
    for (size_t i = 0; i < level.size(); ++i) {
      leaves.insert(leaves.end(), node_leaves[i].begin(), node_leaves[i].end());
      for (auto& c : children[i]) next_level.push_back(std::move(c));
    }
    level = std::move(next_level);
  }
  openblas_set_num_threads(threads);
  progress.Finish();
  return leaves;
}

}  // namespace cairn
