#include "bench/route_study.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "index/routing/budget_fit.h"
#include "bench/route_orders.h"
#include "bench/route_report.h"
#include "bench/spann_queries.h"
#include "common/random.h"
#include "common/status_macros.h"
#include "datasets/ground_truth.h"
#include "datasets/vector_file.h"
#include "index/routing/gmm.h"
#include "index/spann/head_index.h"
#include "index/spann/posting_format.h"
#include "index/spann/spann_files.h"
#include "index/spann/spann_index.h"
#include "storage/posting_file.h"

namespace cairn {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// The GMM over the heads, each weighted by its posting's entry count.
absl::StatusOr<GaussianMixture> FitHeadMixture(const IndexParts& parts, uint32_t components,
                                               uint64_t seed, GmmFitReport* report) {
  const uint32_t n = parts.heads->size(), d = parts.manifest.dim;
  std::vector<float> x(size_t{n} * d), w(n);
  for (uint32_t h = 0; h < n; ++h) {
    std::memcpy(&x[size_t{h} * d], parts.heads->head(h), d * sizeof(float));
    w[h] = static_cast<float>(parts.directory[h].count);
  }
  GmmOptions o;
  o.components = components;
  o.seed = seed;
  return GaussianMixture::Fit(x.data(), n, d, w, o, report);
}

// Per-thread scratch of Observe.
struct ObserveScratch {
  std::vector<HeadHit> hits;
  OrderScratch order;
  std::vector<float> posterior;  // log p(c | q)
  std::vector<float> tempered;
};

// What Observe measures besides the main observation.
struct OrderExtras {
  std::vector<RouteObservation> alternatives;  // AlternativeOrderNames()
  Cover cover_all, cover_nine;
};

// Entropy (nats) of softmax(log_p / t).
double TemperedEntropy(const std::vector<float>& log_p, double t, std::vector<float>* p) {
  p->resize(log_p.size());
  float top = -INFINITY;
  for (float v : log_p) top = std::max(top, v);
  double sum = 0;
  for (size_t c = 0; c < log_p.size(); ++c) {
    (*p)[c] = static_cast<float>(std::exp((log_p[c] - top) / t));
    sum += (*p)[c];
  }
  for (float& v : *p) v = static_cast<float>(v / sum);
  return GaussianMixture::Entropy(*p);
}

// The head order, first ranks and features of one query. `gt` holds k ids
// (-1 past the end).
RouteObservation Observe(const float* q, const int32_t* gt, uint32_t k, const RouteStudyOptions& o,
                         const IndexParts& parts, const Membership& mem, const GaussianMixture& gmm,
                         ObserveScratch* s, OrderExtras* extras) {
  RouteObservation obs;
  parts.heads->Search(q, o.prefix, std::max(o.head_ef, o.prefix), &s->hits);
  if (s->order.position.empty()) s->order.position.assign(parts.heads->size(), kUnreached);
  std::vector<uint32_t> order;
  for (const HeadHit& h : s->hits) order.push_back(h.head);
  RankInOrder(order, gt, k, mem, parts.directory, &s->order, &obs);
  AlternativeOrders(s->hits, gt, k, mem, parts.directory, &s->order, &extras->alternatives);
  extras->cover_all = GreedyCover(s->hits, gt, k, 0, mem, parts.directory, &s->order);
  extras->cover_nine = GreedyCover(s->hits, gt, k, 9, mem, parts.directory, &s->order);
  // Features, in RouteFeatureNames() order.
  auto dist = [&](size_t i) {
    return std::sqrt(std::max(0.0f, s->hits[std::min(i, s->hits.size() - 1)].distance));
  };
  // In hundreds of dimensions a diagonal Gaussian's log-density differs by
  // hundreds of nats between components, so p(c|q) is one-hot and its entropy
  // ~0 for nearly every query; tempered posteriors softmax(log p / T) keep
  // the ranking of the components and spread their mass.
  s->posterior.resize(gmm.components());
  gmm.LogPosteriors(q, s->posterior.data());
  const double dim = parts.manifest.dim;
  for (double t : {1.0, std::sqrt(dim), dim / 4, dim}) {
    obs.features.push_back(TemperedEntropy(s->posterior, t, &s->tempered));
  }
  obs.features.push_back(std::exp(*std::max_element(s->posterior.begin(), s->posterior.end())));
  for (size_t r : {2, 4, 8, 16}) {
    obs.features.push_back(dist(r - 1) > 0 ? dist(0) / dist(r - 1) : 1.0);
  }
  obs.features.push_back(dist(0));
  // How far out of its nearest posting the query lies (radius: the farthest
  // entry from that head): near the edge, neighbours spill into others.
  const float radius = parts.directory[s->hits[0].head].radius;
  obs.features.push_back(radius > 0 ? dist(0) / radius : 1.0);
  return obs;
}

// Observe for every row of `queries`, split across the cores.
std::vector<RouteObservation> ObserveAll(const FloatMatrix& queries, const GroundTruth& gt,
                                         const RouteStudyOptions& o, const IndexParts& parts,
                                         const Membership& mem, const GaussianMixture& gmm,
                                         std::vector<OrderExtras>* extras) {
  std::vector<RouteObservation> out(queries.rows);
  extras->assign(queries.rows, {});
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      ObserveScratch scratch;
      for (uint64_t i = t; i < queries.rows; i += threads) {
        out[i] = Observe(queries.row(i), gt.row(i), std::min(o.k, gt.k), o, parts, mem, gmm,
                         &scratch, &(*extras)[i]);
      }
    });
  }
  for (auto& th : pool) th.join();
  return out;
}

// Regroups per-query extras by alternative order.
void KeepExtras(const std::vector<OrderExtras>& extras,
                std::vector<std::vector<RouteObservation>>* alternatives,
                std::vector<Cover>* cover_all, std::vector<Cover>* cover_nine) {
  alternatives->assign(AlternativeOrderNames().size(), {});
  for (const OrderExtras& e : extras) {
    for (size_t a = 0; a < e.alternatives.size(); ++a) {
      (*alternatives)[a].push_back(e.alternatives[a]);
    }
    cover_all->push_back(e.cover_all);
    cover_nine->push_back(e.cover_nine);
  }
}

// The real searcher at a fixed count: recall@k and KiB per query, to check
// the study's arithmetic.
absl::StatusOr<std::pair<double, double>> SearcherCheck(const RouteStudyOptions& o,
                                                        const FloatMatrix& q,
                                                        const GroundTruth& gt) {
  CAIRN_ASSIGN_OR_RETURN(auto index, SpannIndex::Open(o.index));
  SpannSearchParams p;
  p.k = o.k;
  p.max_postings = o.check_postings;
  CAIRN_ASSIGN_OR_RETURN(SpannQueryRun run, RunSpannQueries(*index, q, p, 1));
  return std::make_pair(RecallAtK(gt, run.ids, o.k, o.k),
                        run.stats.bytes_read / 1024.0 / std::max<uint64_t>(q.rows, 1));
}

// Second-stage features: what a query has found after reading its first
// n0 postings (the real searcher, same beam as the study's head order):
//   D10/d1         its k-th distance so far over the nearest head's distance;
//   D10/d(n0+1)    ... over the distance of the next head in the order;
//   log candidates log(1 + heads j >= n0 of the prefix with
//                  d(q, h_j) - radius_j < D10), the postings that may still
//                  hold a closer vector (triangle inequality);
//   late finds     current top-k entries first found in postings n0/2..n0-1
//                  (still improving when many).
// self[i] is query i's own id for base-vector queries (skipped), else -1.
absl::Status AddStageFeatures(const RouteStudyOptions& o, const SpannIndex& index,
                              const IndexParts& parts, const Membership& mem, const FloatMatrix& q,
                              const std::vector<int64_t>& self,
                              std::vector<RouteObservation>* obs) {
  const uint32_t n0 = o.stage_postings;
  SpannSearchParams p;
  p.k = o.k + 1;
  p.max_postings = n0;
  p.head_ef = std::max(o.head_ef, o.prefix);
  CAIRN_ASSIGN_OR_RETURN(auto ctx, index.NewContext());
  std::vector<Neighbor> found;
  std::vector<HeadHit> hits;
  std::vector<uint32_t> position(parts.heads->size(), kUnreached);
  SearchStats stats;
  for (uint64_t i = 0; i < q.rows; ++i) {
    CAIRN_RETURN_IF_ERROR(index.Search(q.row(i), p, ctx.get(), &found, &stats));
    std::erase_if(found, [&](const Neighbor& n) { return n.id == self[i]; });
    if (found.size() > o.k) found.resize(o.k);
    parts.heads->Search(q.row(i), o.prefix, p.head_ef, &hits);
    for (size_t j = 0; j < hits.size(); ++j) position[hits[j].head] = static_cast<uint32_t>(j);
    const double d10 = found.empty() ? 0.0 : std::sqrt(std::max(0.0f, found.back().distance));
    auto dist = [&](size_t j) {
      return std::sqrt(std::max(0.0f, hits[std::min(j, hits.size() - 1)].distance));
    };
    uint32_t candidates = 0, late = 0;
    for (size_t j = n0; j < hits.size(); ++j) {
      candidates += dist(j) - parts.directory[hits[j].head].radius < d10;
    }
    for (const Neighbor& n : found) {
      uint32_t first = kUnreached;
      for (uint32_t h : mem.of(n.id)) first = std::min(first, position[h]);
      late += first != kUnreached && first >= n0 / 2;
    }
    for (const HeadHit& h : hits) position[h.head] = kUnreached;
    auto& f = (*obs)[i].features;
    f.push_back(dist(0) > 0 ? d10 / dist(0) : 1.0);
    f.push_back(dist(n0) > 0 ? d10 / dist(n0) : 1.0);
    f.push_back(std::log1p(candidates));
    f.push_back(late);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RouteStudyOptions::Validate() const {
  if (index.empty() || base.empty() || queries.empty() || gt.empty()) {
    return absl::InvalidArgumentError("route-study needs --index, --base, --queries and --gt");
  }
  if (k == 0 || prefix == 0 || calib_queries == 0 || buckets == 0) {
    return absl::InvalidArgumentError("k, prefix, calib-queries and buckets must be >= 1");
  }
  for (double t : targets) {
    if (!(t > 0 && t <= 1)) return absl::InvalidArgumentError("targets must be in (0, 1]");
  }
  return absl::OkStatus();
}

absl::Status RunRouteStudy(const RouteStudyOptions& o, std::ostream& out) {
  CAIRN_RETURN_IF_ERROR(o.Validate());
  RouteStudyData data;
  auto t0 = Clock::now();
  CAIRN_ASSIGN_OR_RETURN(IndexParts parts, OpenIndexParts(o.index));
  if (parts.manifest.metric != Metric::kL2) {
    return absl::UnimplementedError("route-study handles L2 indexes only");
  }
  CAIRN_ASSIGN_OR_RETURN(Membership mem, ReadMembership(o.index, parts));
  data.membership_s = Seconds(t0);
  t0 = Clock::now();
  CAIRN_ASSIGN_OR_RETURN(GaussianMixture gmm,
                         FitHeadMixture(parts, o.components, o.seed, &data.gmm_report));
  data.gmm_s = Seconds(t0);
  data.components = gmm.components();
  data.heads = parts.heads->size();
  data.manifest_entries = parts.manifest.total_entries;

  CAIRN_ASSIGN_OR_RETURN(FloatMatrix test_q, ReadFloatMatrix(o.queries));
  CAIRN_ASSIGN_OR_RETURN(GroundTruth test_gt, ReadGroundTruth(o.gt));
  if (o.max_queries > 0 && test_q.rows > o.max_queries) {
    test_q.rows = o.max_queries;
    test_q.data.resize(test_q.rows * test_q.dim);
  }
  if (test_gt.num_queries < test_q.rows || test_gt.k < o.k) {
    return absl::InvalidArgumentError("ground truth has too few rows or neighbours");
  }
  t0 = Clock::now();
  std::vector<uint32_t> calib_ids;
  CalibrationSource src;
  src.vectors = o.base;
  src.num_vectors = parts.manifest.num_vectors;
  src.dim = parts.manifest.dim;
  src.metric = parts.manifest.metric;
  src.heads = parts.heads.get();
  CAIRN_ASSIGN_OR_RETURN(FloatMatrix calib_q, SampleBaseQueries(src, o.calib_queries, o.seed,
                                                                &calib_ids, &data.calib_skipped));
  CAIRN_ASSIGN_OR_RETURN(
      GroundTruth calib_gt,
      LeaveOneOutTruth(o.base, calib_q, calib_ids, o.k, Metric::kL2,
                       std::filesystem::temp_directory_path().string()));
  data.calib_gt_s = Seconds(t0);
  t0 = Clock::now();
  std::vector<OrderExtras> test_extras, calib_extras;
  data.test = ObserveAll(test_q, test_gt, o, parts, mem, gmm, &test_extras);
  data.calib = ObserveAll(calib_q, calib_gt, o, parts, mem, gmm, &calib_extras);
  KeepExtras(test_extras, &data.alt_test, &data.cover_all, &data.cover_nine);
  std::vector<Cover> unused_all, unused_nine;
  KeepExtras(calib_extras, &data.alt_calib, &unused_all, &unused_nine);
  data.observe_s = Seconds(t0);
  if (o.stage_postings > 0) {
    t0 = Clock::now();
    CAIRN_ASSIGN_OR_RETURN(auto index, SpannIndex::Open(o.index));
    std::vector<int64_t> self(calib_ids.begin(), calib_ids.end()), none(test_q.rows, -1);
    CAIRN_RETURN_IF_ERROR(AddStageFeatures(o, *index, parts, mem, test_q, none, &data.test));
    CAIRN_RETURN_IF_ERROR(AddStageFeatures(o, *index, parts, mem, calib_q, self, &data.calib));
    data.stage_s = Seconds(t0);
  }
  if (o.check_postings > 0) {
    CAIRN_ASSIGN_OR_RETURN(auto check, SearcherCheck(o, test_q, test_gt));
    data.check_recall = check.first;
    data.check_kib = check.second;
  }
  PrintRouteStudy(o, data, out);
  return absl::OkStatus();
}

}  // namespace cairn
