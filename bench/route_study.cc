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
#include "bench/route_budget.h"
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

// What the study reads of an index: its shape, head graph and directory.
struct IndexParts {
  IndexManifest manifest;
  std::unique_ptr<HeadIndex> heads;
  std::vector<DirectoryEntry> directory;
};

absl::StatusOr<IndexParts> OpenParts(const std::string& dir) {
  Env* env = Env::Default();
  IndexParts p;
  CAIRN_ASSIGN_OR_RETURN(p.manifest, ReadManifest(env, dir));
  if (p.manifest.metric != Metric::kL2) {
    return absl::UnimplementedError("route-study handles L2 indexes only");
  }
  CAIRN_ASSIGN_OR_RETURN(p.heads,
                         HeadIndex::Load(dir + "/heads.hnsw", p.manifest.dim, p.manifest.metric));
  CAIRN_ASSIGN_OR_RETURN(p.directory, ReadDirectory(env, dir + "/directory"));
  if (p.directory.size() != p.heads->size()) {
    return absl::DataLossError(absl::StrCat(dir, ": directory and head graph disagree"));
  }
  return p;
}

// Vector id -> the heads whose postings hold it (compressed rows).
struct Membership {
  std::vector<uint64_t> start;  // num_vectors + 1
  std::vector<uint32_t> heads;
  std::span<const uint32_t> of(uint32_t id) const {
    return {heads.data() + start[id], heads.data() + start[id + 1]};
  }
};

absl::StatusOr<Membership> ReadMembership(const std::string& dir, const IndexParts& parts) {
  absl::flat_hash_map<uint64_t, uint32_t> head_at;
  for (uint32_t h = 0; h < parts.directory.size(); ++h) {
    if (parts.directory[h].count > 0) head_at[parts.directory[h].offset] = h;
  }
  const std::string path = dir + "/postings.dat";
  CAIRN_ASSIGN_OR_RETURN(auto reader, PostingFileReader::Open(path));
  const IndexManifest& m = parts.manifest;
  std::vector<uint64_t> pairs;  // id << 32 | head
  pairs.reserve(m.total_entries);
  CAIRN_RETURN_IF_ERROR(reader->ForEachRecord(
      [&](const PostingLocation& loc, std::span<const uint8_t> payload) -> absl::Status {
        auto it = head_at.find(loc.offset);
        if (it == head_at.end()) return absl::OkStatus();  // an empty or orphan record
        CAIRN_ASSIGN_OR_RETURN(
            PostingView v, DecodePosting(payload, m.dim, m.stored_type, path, m.code_entry_bytes));
        for (uint32_t i = 0; i < v.count; ++i) {
          uint32_t id;
          std::memcpy(&id, reinterpret_cast<const uint8_t*>(v.ids) + 4 * i, 4);
          if (id >= m.num_vectors) return absl::DataLossError("posting id out of range");
          pairs.push_back(uint64_t{id} << 32 | it->second);
        }
        return absl::OkStatus();
      }));
  std::sort(pairs.begin(), pairs.end());
  Membership mem;
  mem.start.assign(m.num_vectors + 1, 0);
  mem.heads.resize(pairs.size());
  for (size_t i = 0; i < pairs.size(); ++i) {
    ++mem.start[(pairs[i] >> 32) + 1];
    mem.heads[i] = static_cast<uint32_t>(pairs[i]);
  }
  for (uint64_t v = 0; v < m.num_vectors; ++v) mem.start[v + 1] += mem.start[v];
  return mem;
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
  std::vector<uint32_t> position;  // head -> rank in the order, kUnreached if absent
  std::vector<float> posterior;
};

// The head order, first ranks and features of one query. `gt` holds k ids
// (-1 past the end).
RouteObservation Observe(const float* q, const int32_t* gt, uint32_t k, const RouteStudyOptions& o,
                         const IndexParts& parts, const Membership& mem, const GaussianMixture& gmm,
                         ObserveScratch* s) {
  RouteObservation obs;
  parts.heads->Search(q, o.prefix, std::max(o.head_ef, o.prefix), &s->hits);
  if (s->position.empty()) s->position.assign(parts.heads->size(), kUnreached);
  obs.cum_kib.assign(s->hits.size() + 1, 0.0f);
  for (size_t i = 0; i < s->hits.size(); ++i) {
    s->position[s->hits[i].head] = static_cast<uint32_t>(i);
    obs.cum_kib[i + 1] = obs.cum_kib[i] + parts.directory[s->hits[i].head].bytes / 1024.0f;
  }
  for (uint32_t j = 0; j < k; ++j) {
    if (gt[j] < 0) continue;
    uint32_t first = kUnreached;
    for (uint32_t h : mem.of(static_cast<uint32_t>(gt[j]))) first = std::min(first, s->position[h]);
    obs.first_rank.push_back(first);
  }
  std::sort(obs.first_rank.begin(), obs.first_rank.end());
  for (const HeadHit& hit : s->hits) s->position[hit.head] = kUnreached;
  // Features, in RouteFeatureNames() order.
  auto dist = [&](size_t i) {
    return std::sqrt(std::max(0.0f, s->hits[std::min(i, s->hits.size() - 1)].distance));
  };
  gmm.Posteriors(q, &s->posterior);
  obs.features.push_back(GaussianMixture::Entropy(s->posterior));
  obs.features.push_back(*std::max_element(s->posterior.begin(), s->posterior.end()));
  for (size_t r : {2, 4, 8, 16}) {
    obs.features.push_back(dist(r - 1) > 0 ? dist(0) / dist(r - 1) : 1.0);
  }
  obs.features.push_back(dist(0));
  return obs;
}

// Observe for every row of `queries`, split across the cores.
std::vector<RouteObservation> ObserveAll(const FloatMatrix& queries, const GroundTruth& gt,
                                         const RouteStudyOptions& o, const IndexParts& parts,
                                         const Membership& mem, const GaussianMixture& gmm) {
  std::vector<RouteObservation> out(queries.rows);
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      ObserveScratch scratch;
      for (uint64_t i = t; i < queries.rows; i += threads) {
        out[i] =
            Observe(queries.row(i), gt.row(i), std::min(o.k, gt.k), o, parts, mem, gmm, &scratch);
      }
    });
  }
  for (auto& th : pool) th.join();
  return out;
}

// Base vectors as calibration queries: sampled without replacement, heads
// skipped (see RouteStudyOptions), at most `want`. ids gets their rows.
absl::StatusOr<FloatMatrix> SampleCalibration(const RouteStudyOptions& o, const IndexParts& parts,
                                              std::vector<uint32_t>* ids, uint32_t* skipped) {
  CAIRN_ASSIGN_OR_RETURN(auto reader, VectorReader::Open(o.base));
  const uint64_t n = reader->info().num_vectors;
  const uint32_t d = reader->info().dim;
  if (n != parts.manifest.num_vectors || d != parts.manifest.dim) {
    return absl::InvalidArgumentError(absl::StrCat(o.base, " is not the index's base"));
  }
  Rng rng(Rng::Mix(o.seed, 0xca1b));
  std::vector<uint32_t> order(n);
  for (uint64_t i = 0; i < n; ++i) order[i] = static_cast<uint32_t>(i);
  FloatMatrix m;
  m.dim = d;
  std::vector<float> row(d);
  std::vector<HeadHit> hits;
  *skipped = 0;
  for (uint64_t i = 0; i < n && ids->size() < o.calib_queries; ++i) {
    std::swap(order[i], order[i + rng.Below(n - i)]);  // partial Fisher-Yates
    CAIRN_RETURN_IF_ERROR(reader->Seek(order[i]));
    CAIRN_ASSIGN_OR_RETURN(size_t got, reader->ReadFloat(1, row.data()));
    if (got != 1) return absl::DataLossError(absl::StrCat(o.base, ": short read"));
    if (o.skip_head_queries) {
      parts.heads->Search(row.data(), 1, 16, &hits);
      if (!hits.empty() && hits[0].distance == 0.0f) {
        ++*skipped;
        continue;
      }
    }
    ids->push_back(order[i]);
    m.data.insert(m.data.end(), row.begin(), row.end());
    ++m.rows;
  }
  return m;
}

// Exact top-k of the calibration queries over the base, each query's own
// row left out (k + 1 are computed; the own id, or else the last, dropped).
absl::StatusOr<GroundTruth> LeaveOneOutTruth(const RouteStudyOptions& o, const FloatMatrix& q,
                                             const std::vector<uint32_t>& ids) {
  const std::string tmp =
      absl::StrFormat("%s/route-study-%d.fbin", std::filesystem::temp_directory_path().string(),
                      static_cast<int>(::getpid()));
  CAIRN_RETURN_IF_ERROR(WriteFloatMatrix(tmp, q));
  GroundTruthOptions g;
  g.k = o.k + 1;
  g.progress = false;
  absl::StatusOr<GroundTruth> full = ComputeGroundTruth(o.base, tmp, g);
  std::filesystem::remove(tmp);
  if (!full.ok()) return full.status();
  GroundTruth gt;
  gt.num_queries = full->num_queries;
  gt.k = o.k;
  for (uint32_t i = 0; i < gt.num_queries; ++i) {
    const int32_t* row = full->row(i);
    uint32_t kept = 0;
    for (uint32_t j = 0; j < g.k && kept < o.k; ++j) {
      if (row[j] == static_cast<int32_t>(ids[i])) continue;
      gt.ids.push_back(row[j]);
      ++kept;
    }
  }
  return gt;
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
  CAIRN_ASSIGN_OR_RETURN(IndexParts parts, OpenParts(o.index));
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
  CAIRN_ASSIGN_OR_RETURN(FloatMatrix calib_q,
                         SampleCalibration(o, parts, &calib_ids, &data.calib_skipped));
  CAIRN_ASSIGN_OR_RETURN(GroundTruth calib_gt, LeaveOneOutTruth(o, calib_q, calib_ids));
  data.calib_gt_s = Seconds(t0);
  t0 = Clock::now();
  data.test = ObserveAll(test_q, test_gt, o, parts, mem, gmm);
  data.calib = ObserveAll(calib_q, calib_gt, o, parts, mem, gmm);
  data.observe_s = Seconds(t0);
  if (o.check_postings > 0) {
    CAIRN_ASSIGN_OR_RETURN(auto check, SearcherCheck(o, test_q, test_gt));
    data.check_recall = check.first;
    data.check_kib = check.second;
  }
  PrintRouteStudy(o, data, out);
  return absl::OkStatus();
}

}  // namespace cairn
