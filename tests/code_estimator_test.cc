// The code models' estimators (index/code_model.h) through the public API:
// unbiased over the random transform, and rabitq's error bound covers the
// true distance as often as it claims without being vacuous, on Gaussian
// data and on fashion-mnist (skipped when data/fashion-mnist/base.fbin is
// absent). Fixed seeds; margins a wrong estimator cannot meet (the
// unbiasedness test checks its own power on a deliberately biased copy).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "common/random.h"
#include "datasets/vector_file.h"
#include "gtest/gtest.h"
#include "tests/fashion_sample.h"
#include "index/spann/balanced_kmeans.h"
#include "index/codes/code_model.h"

namespace cairn {
namespace {

// A fixed entry x under head c and a query q.
struct Triple {
  std::vector<float> x, c, q;
};

double Dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

std::vector<float> Sub(const std::vector<float>& a, const std::vector<float>& b) {
  std::vector<float> d(a.size());
  for (size_t i = 0; i < a.size(); ++i) d[i] = a[i] - b[i];
  return d;
}

// The model's estimate of <o, v> (o = r / ||r||, v = q - c for L2, q for
// inner product), recovered from the estimated distance.
double EstimateOv(const CodeModel& m, const Triple& t) {
  std::vector<uint8_t> entry(m.entry_bytes());
  m.Encode(t.x.data(), t.c.data(), entry.data());
  CodeQuery cq;
  m.PrepareQuery(t.q.data(), &cq);
  const auto r = Sub(t.x, t.c), v = Sub(t.q, t.c);
  const PostingQueryTerms terms{static_cast<float>(Dot(v, v)), static_cast<float>(Dot(t.q, t.c))};
  float est = 0, err = 0;
  m.EstimatePosting(cq, terms, entry.data(), 1, &est, &err);
  const double r_norm = std::sqrt(Dot(r, r));
  if (m.metric() == Metric::kL2) return (Dot(v, v) + Dot(r, r) - est) / (2 * r_norm);
  return (-est - Dot(t.q, t.c)) / r_norm;
}

double TrueOv(const CodeModel& m, const Triple& t) {
  const auto r = Sub(t.x, t.c);
  const auto v = m.metric() == Metric::kL2 ? Sub(t.q, t.c) : t.q;
  return Dot(r, v) / std::sqrt(Dot(r, r));
}

// Trains `trials` models differing only in their seed and checks that the
// mean estimate is within 4 standard errors of the truth, and that the same
// test rejects the estimate scaled by 1.1 (so it has the power to see a 10%
// bias).
void ExpectUnbiased(CodeParams params, Metric metric, const Triple& t, int trials,
                    const std::string& what) {
  const uint32_t dim = static_cast<uint32_t>(t.x.size());
  double sum = 0, sum2 = 0, truth = 0;
  for (int i = 0; i < trials; ++i) {
    params.seed = 1000 + i;
    auto m = CodeModel::Train(params, metric, dim, nullptr, 0);
    ASSERT_TRUE(m.ok()) << m.status();
    const double e = EstimateOv(**m, t);
    sum += e;
    sum2 += e * e;
    truth = TrueOv(**m, t);
  }
  const double mean = sum / trials;
  const double sd = std::sqrt(std::max(0.0, sum2 / trials - mean * mean));
  const double se = sd / std::sqrt(static_cast<double>(trials));
  std::printf("%s: true <o,v> %.5f, mean estimate %.5f, sd %.5f, z %.2f, z(1.1x) %.2f\n",
              what.c_str(), truth, mean, sd, std::fabs(mean - truth) / se,
              std::fabs(1.1 * mean - truth) / (1.1 * se));
  EXPECT_LT(std::fabs(mean - truth), 4 * se) << what;
  EXPECT_GT(std::fabs(1.1 * mean - truth), 4 * 1.1 * se) << what << ": the test has no power";
}

// x = c + r, q = c +- r + noise: <o, v> is far from 0, so a 10% bias is
// visible. head_offset places heads away from the origin, as real data sits;
// the inner-product test uses heads near it, where <o, q> ~ <o, r> matters.
Triple GaussianTriple(uint32_t dim, double sign, uint64_t seed, double head_offset = 2) {
  Rng rng(seed);
  Triple t{std::vector<float>(dim), std::vector<float>(dim), std::vector<float>(dim)};
  for (uint32_t d = 0; d < dim; ++d) {
    t.c[d] = static_cast<float>(head_offset + (head_offset > 0 ? 1 : 0.3) * rng.Gaussian());
    const double r = 0.5 * rng.Gaussian();
    t.x[d] = static_cast<float>(t.c[d] + r);
    t.q[d] = static_cast<float>(t.c[d] + sign * r + 0.4 * rng.Gaussian());
  }
  return t;
}

// An image x, the mean of its 16 nearest neighbours as its head, and its
// nearest neighbour as the query: the situation where estimates matter.
bool FashionTriple(Triple* t) {
  auto data = ::cairn::testing::FashionMnistSample(2000);
  if (!data.ok()) {
    ADD_FAILURE() << "no Fashion-MNIST (package dataset-fashion-mnist): " << data.status();
    return false;
  }
  const uint32_t dim = data->dim;
  std::vector<std::pair<double, uint64_t>> near;
  for (uint64_t i = 1; i < data->rows; ++i) {
    double d = 0;
    for (uint32_t k = 0; k < dim; ++k) d += std::pow(data->row(i)[k] - data->row(0)[k], 2);
    near.push_back({d, i});
  }
  std::partial_sort(near.begin(), near.begin() + 16, near.end());
  t->x.assign(data->row(0), data->row(0) + dim);
  t->q.assign(data->row(near[0].second), data->row(near[0].second) + dim);
  t->c.assign(dim, 0.0f);
  for (int j = 0; j < 16; ++j) {
    for (uint32_t k = 0; k < dim; ++k) t->c[k] += data->row(near[j].second)[k] / 16;
  }
  return true;
}

CodeParams Params(CodeFamily family, RotationKind rotation = RotationKind::kHadamard,
                  uint32_t bits_per_dim = 1) {
  CodeParams p;
  p.family = family;
  p.rotation = rotation;
  p.bits_per_dim = bits_per_dim;
  return p;
}

// Over the structured rotation's seeds (a learned rotation has no such
// randomness: it is a function of the training sample).
TEST(CodeEstimatorTest, RabitqIsUnbiasedOverRotations) {
  const CodeParams p = Params(CodeFamily::kRabitq);
  ExpectUnbiased(p, Metric::kL2, GaussianTriple(128, 1, 1), 2000, "rabitq gaussian aligned");
  ExpectUnbiased(p, Metric::kL2, GaussianTriple(100, -1, 2), 2000, "rabitq gaussian opposed");
  ExpectUnbiased(p, Metric::kInnerProduct, GaussianTriple(128, 1, 3, 0), 2000,
                 "rabitq gaussian ip");
  Triple fashion;
  ASSERT_TRUE(FashionTriple(&fashion));
  ExpectUnbiased(p, Metric::kL2, fashion, 2000, "rabitq fashion-mnist");
}

TEST(CodeEstimatorTest, LshIsUnbiasedOverHyperplanes) {
  ExpectUnbiased(Params(CodeFamily::kLsh), Metric::kL2, GaussianTriple(128, 1, 4), 2000,
                 "lsh gaussian aligned");
  ExpectUnbiased(Params(CodeFamily::kLsh, RotationKind::kHadamard, 2), Metric::kL2,
                 GaussianTriple(64, -1, 5), 2000, "lsh 2 bits/dim gaussian opposed");
  Triple fashion;
  ASSERT_TRUE(FashionTriple(&fashion));
  // Fewer trials: each draws a 784 x 784 Gaussian matrix.
  ExpectUnbiased(Params(CodeFamily::kLsh), Metric::kL2, fashion, 300, "lsh fashion-mnist");
}

// Entries grouped under heads, queries, and a disjoint training sample of
// residuals: learned transforms overfit the vectors they were fitted on
// (their bounds come out optimistic for exactly those), and in an index
// most entries were not in the sample.
struct PostingSet {
  uint32_t dim = 0;
  std::vector<float> heads, base, queries, train;
  std::vector<uint32_t> assign;  // base row -> head
  size_t rows(const std::vector<float>& m) const { return m.size() / dim; }
};

PostingSet GaussianPostings(uint32_t dim, uint32_t heads, uint32_t per_head, uint32_t queries,
                            uint64_t seed) {
  Rng rng(seed);
  PostingSet s;
  s.dim = dim;
  for (uint32_t i = 0; i < heads * dim; ++i)
    s.heads.push_back(static_cast<float>(2 + rng.Gaussian()));
  auto near_head = [&](uint32_t h, std::vector<float>* out) {
    for (uint32_t d = 0; d < dim; ++d) {
      out->push_back(static_cast<float>(s.heads[h * dim + d] + 0.5 * rng.Gaussian()));
    }
  };
  for (uint32_t h = 0; h < heads; ++h) {
    for (uint32_t i = 0; i < per_head; ++i) {
      near_head(h, &s.base);
      s.assign.push_back(h);
    }
  }
  for (uint32_t i = 0; i < queries; ++i)
    near_head(static_cast<uint32_t>(rng.Below(heads)), &s.queries);
  for (uint32_t i = 0; i < heads * per_head; ++i) {
    const uint32_t h = i % heads;
    near_head(h, &s.train);
    for (uint32_t d = 0; d < dim; ++d) s.train[i * dim + d] -= s.heads[h * dim + d];
  }
  return s;
}

// 2000 images in 32 balanced k-means postings, the next 40 as queries, the
// next 4000 as the training sample (residuals to their nearest head).
bool FashionPostings(PostingSet* s) {
  auto data = ::cairn::testing::FashionMnistSample(6040);
  if (!data.ok()) {
    ADD_FAILURE() << "no Fashion-MNIST (package dataset-fashion-mnist): " << data.status();
    return false;
  }
  s->dim = data->dim;
  const size_t n = 2000;
  BalancedKMeansOptions options;
  options.k = 32;
  auto km = BalancedKMeans(data->data.data(), n, s->dim, options);
  EXPECT_TRUE(km.ok()) << km.status();
  if (!km.ok()) return false;
  s->heads = km->centroids;
  s->assign = km->assignment;
  s->base.assign(data->data.begin(), data->data.begin() + n * s->dim);
  s->queries.assign(data->data.begin() + n * s->dim, data->data.begin() + (n + 40) * s->dim);
  for (size_t i = n + 40; i < data->rows; ++i) {
    const float* x = data->row(i);
    size_t best = 0;
    double best_d = 1e300;
    for (size_t h = 0; h < options.k; ++h) {
      double d = 0;
      for (uint32_t k = 0; k < s->dim; ++k) d += std::pow(x[k] - s->heads[h * s->dim + k], 2);
      if (d < best_d) best_d = d, best = h;
    }
    for (uint32_t k = 0; k < s->dim; ++k) s->train.push_back(x[k] - s->heads[best * s->dim + k]);
  }
  return true;
}

struct Coverage {
  double covered = 0, mean_err = 0, mean_abs_dist = 0;
};

// Every query against every entry, posting by posting, as a searcher would.
Coverage MeasureCoverage(const CodeModel& m, const PostingSet& s) {
  const uint32_t dim = s.dim, eb = m.entry_bytes();
  const size_t num_heads = s.rows(s.heads);
  std::vector<std::vector<uint32_t>> members(num_heads);
  for (size_t i = 0; i < s.assign.size(); ++i)
    members[s.assign[i]].push_back(static_cast<uint32_t>(i));
  std::vector<std::vector<uint8_t>> codes(num_heads);
  for (size_t h = 0; h < num_heads; ++h) {
    codes[h].resize(members[h].size() * eb);
    for (size_t j = 0; j < members[h].size(); ++j) {
      m.Encode(&s.base[members[h][j] * dim], &s.heads[h * dim], codes[h].data() + j * eb);
    }
  }
  Coverage c;
  size_t pairs = 0;
  CodeQuery cq;
  std::vector<float> est, err;
  for (size_t qi = 0; qi < s.rows(s.queries); ++qi) {
    const float* q = &s.queries[qi * dim];
    m.PrepareQuery(q, &cq);
    for (size_t h = 0; h < num_heads; ++h) {
      const float* head = &s.heads[h * dim];
      double l2 = 0, dot = 0;
      for (uint32_t d = 0; d < dim; ++d) {
        l2 += std::pow(static_cast<double>(q[d]) - head[d], 2);
        dot += static_cast<double>(q[d]) * head[d];
      }
      const uint32_t n = static_cast<uint32_t>(members[h].size());
      est.resize(n);
      err.resize(n);
      m.EstimatePosting(cq, {static_cast<float>(l2), static_cast<float>(dot)}, codes[h].data(), n,
                        est.data(), err.data());
      for (uint32_t j = 0; j < n; ++j) {
        const float* x = &s.base[members[h][j] * dim];
        double truth = 0;
        for (uint32_t d = 0; d < dim; ++d) {
          truth += m.metric() == Metric::kL2 ? std::pow(static_cast<double>(q[d]) - x[d], 2)
                                             : -static_cast<double>(q[d]) * x[d];
        }
        EXPECT_GE(err[j], 0.0f);
        c.covered += std::fabs(truth - est[j]) <= err[j];
        c.mean_err += err[j];
        c.mean_abs_dist += std::fabs(truth);
        ++pairs;
      }
    }
  }
  c.covered /= pairs;
  c.mean_err /= pairs;
  c.mean_abs_dist /= pairs;
  return c;
}

// P(|Z| <= 1.9), the confidence the default eps0 states.
const double kConfidence = std::erf(1.9 / std::sqrt(2.0));

Coverage TrainAndMeasure(const CodeParams& p, Metric metric, const PostingSet& s,
                         const std::string& what) {
  auto m = CodeModel::Train(p, metric, s.dim, s.train.data(), s.rows(s.train));
  EXPECT_TRUE(m.ok()) << m.status();
  if (!m.ok()) return {};
  const Coverage c = MeasureCoverage(**m, s);
  std::printf("%-28s coverage %.4f (stated %.4f), mean err / mean |dist| %.4f  [%s]\n",
              what.c_str(), c.covered, kConfidence, c.mean_err / c.mean_abs_dist,
              (*m)->Describe().c_str());
  return c;
}

void ExpectBoundHolds(const Coverage& c, const std::string& what) {
  EXPECT_GE(c.covered, kConfidence - 0.03) << what;
  EXPECT_LT(c.mean_err, 0.5 * c.mean_abs_dist) << what << ": the bound is vacuous";
}

TEST(CodeEstimatorTest, BoundsCoverGaussianData) {
  const PostingSet s = GaussianPostings(128, 24, 50, 30, 7);
  ExpectBoundHolds(TrainAndMeasure(Params(CodeFamily::kRabitq), Metric::kL2, s, "rabitq l2"),
                   "rabitq l2");
  ExpectBoundHolds(
      TrainAndMeasure(Params(CodeFamily::kRabitq), Metric::kInnerProduct, s, "rabitq ip"),
      "rabitq ip");
  const PostingSet odd = GaussianPostings(100, 24, 50, 30, 8);  // padded to 128
  ExpectBoundHolds(
      TrainAndMeasure(Params(CodeFamily::kRabitq), Metric::kL2, odd, "rabitq l2 dim 100"),
      "rabitq l2 dim 100");
  // lsh's CLT bound and itq's calibrated one state the same confidence.
  ExpectBoundHolds(TrainAndMeasure(Params(CodeFamily::kLsh), Metric::kL2, s, "lsh l2"), "lsh l2");
  ExpectBoundHolds(TrainAndMeasure(Params(CodeFamily::kItq), Metric::kL2, s, "itq l2"), "itq l2");
}

TEST(CodeEstimatorTest, BoundsCoverFashionMnist) {
  PostingSet s;
  ASSERT_TRUE(FashionPostings(&s));
  ExpectBoundHolds(TrainAndMeasure(Params(CodeFamily::kRabitq), Metric::kL2, s, "rabitq hadamard"),
                   "rabitq hadamard");
  CodeParams learned = Params(CodeFamily::kRabitq, RotationKind::kLearned);
  learned.itq_iterations = 20;
  ExpectBoundHolds(TrainAndMeasure(learned, Metric::kL2, s, "rabitq learned"), "rabitq learned");
  ExpectBoundHolds(TrainAndMeasure(Params(CodeFamily::kLsh), Metric::kL2, s, "lsh"), "lsh");
  CodeParams itq = Params(CodeFamily::kItq);
  itq.itq_iterations = 20;
  ExpectBoundHolds(TrainAndMeasure(itq, Metric::kL2, s, "itq"), "itq");
}

// sq8's bound is not a confidence statement: the true distance lies within
// it for every pair, on Gaussian postings in both metrics, at a padded dim,
// far from the origin (where float rounding of the large terms matters
// most), and on Fashion-MNIST; and it is tight (about 1% of the distance).
void ExpectExactBound(const PostingSet& s, Metric metric, const std::string& what) {
  const Coverage c = TrainAndMeasure(Params(CodeFamily::kSq8), metric, s, what);
  EXPECT_EQ(c.covered, 1.0) << what;
  EXPECT_LT(c.mean_err, 0.03 * c.mean_abs_dist) << what << ": the bound is loose";
}

TEST(CodeEstimatorTest, Sq8BoundHoldsForEveryEntry) {
  const PostingSet s = GaussianPostings(128, 24, 50, 30, 7);
  ExpectExactBound(s, Metric::kL2, "sq8 l2");
  ExpectExactBound(s, Metric::kInnerProduct, "sq8 ip");
  ExpectExactBound(GaussianPostings(100, 24, 50, 30, 8), Metric::kL2, "sq8 l2 dim 100");
  PostingSet far = GaussianPostings(128, 24, 50, 30, 9);
  for (std::vector<float>* v : {&far.heads, &far.base, &far.queries}) {
    for (float& x : *v) x += 300;
  }
  ExpectExactBound(far, Metric::kL2, "sq8 l2 far from the origin");
  ExpectExactBound(far, Metric::kInnerProduct, "sq8 ip far from the origin");
  PostingSet fashion;
  ASSERT_TRUE(FashionPostings(&fashion));
  ExpectExactBound(fashion, Metric::kL2, "sq8 fashion-mnist");
}

}  // namespace
}  // namespace cairn
