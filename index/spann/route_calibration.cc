#include "index/spann/route_calibration.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/random.h"
#include "common/status_macros.h"
#include "index/spann/posting_format.h"
#include "kernels/distance.h"
#include "storage/posting_file.h"

namespace cairn {
namespace {

using Clock = std::chrono::steady_clock;

// The head order and features of one calibration query.
RouteObservation Observe(const float* q, const int32_t* gt, uint32_t k, uint32_t prefix,
                         uint32_t ef, const CalibrationSource& src, std::vector<HeadHit>* hits,
                         std::vector<float>* dist, OrderScratch* s) {
  RouteObservation obs;
  src.heads->Search(q, prefix, ef, hits);
  if (s->position.empty()) s->position.assign(src.heads->size(), kUnreached);
  s->order.clear();
  dist->clear();
  for (const HeadHit& h : *hits) {
    s->order.push_back(h.head);
    dist->push_back(RoutingDistance(src.metric, h.distance));
  }
  RankInOrder(s->order, gt, k, *src.membership, src.directory, s, &obs);
  obs.features.resize(PostingBudget::kNumFeatures);
  PostingBudget::Features(dist->data(), dist->size(), obs.features.data());
  return obs;
}

std::vector<RouteObservation> ObserveAll(const FloatMatrix& queries, const GroundTruth& gt,
                                         uint32_t k, uint32_t prefix, uint32_t ef,
                                         const CalibrationSource& src) {
  std::vector<RouteObservation> out(queries.rows);
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      std::vector<HeadHit> hits;
      std::vector<float> dist;
      OrderScratch scratch;
      for (uint64_t i = t; i < queries.rows; i += threads) {
        out[i] = Observe(queries.row(i), gt.row(static_cast<uint32_t>(i)), std::min(k, gt.k),
                         prefix, ef, src, &hits, &dist, &scratch);
      }
    });
  }
  for (auto& th : pool) th.join();
  return out;
}

// Mean calibration postings of the table at or above `target` (the last if
// none): how much a beam reads at the default target. NaN when the budget
// cannot reach the target.
double MeanPostingsAt(const PostingBudget& b, double target) {
  for (const PostingBudget::Table& t : b.tables()) {
    if (t.target >= target - 1e-12) return t.calib_postings;
  }
  return NAN;
}

}  // namespace

absl::StatusOr<IndexParts> OpenIndexParts(const std::string& dir) {
  Env* env = Env::Default();
  IndexParts p;
  CAIRN_ASSIGN_OR_RETURN(p.manifest, ReadManifest(env, dir));
  CAIRN_ASSIGN_OR_RETURN(p.heads,
                         HeadIndex::Load(dir + "/heads.hnsw", p.manifest.dim, p.manifest.metric));
  CAIRN_ASSIGN_OR_RETURN(p.directory, ReadDirectory(env, dir + "/directory"));
  if (p.directory.size() != p.heads->size()) {
    return absl::DataLossError(absl::StrCat(dir, ": directory and head graph disagree"));
  }
  return p;
}

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
  return Membership::FromPairs(std::move(pairs), m.num_vectors);
}

Membership Membership::FromPairs(std::vector<uint64_t> pairs, uint64_t vectors) {
  std::sort(pairs.begin(), pairs.end());
  Membership mem;
  mem.start.assign(vectors + 1, 0);
  mem.heads.resize(pairs.size());
  for (size_t i = 0; i < pairs.size(); ++i) {
    ++mem.start[(pairs[i] >> 32) + 1];
    mem.heads[i] = static_cast<uint32_t>(pairs[i]);
  }
  for (uint64_t v = 0; v < vectors; ++v) mem.start[v + 1] += mem.start[v];
  return mem;
}

void RankInOrder(const std::vector<uint32_t>& order, const int32_t* gt, uint32_t k,
                 const Membership& mem, const std::vector<DirectoryEntry>& dir, OrderScratch* s,
                 RouteObservation* q) {
  q->cum_kib.assign(order.size() + 1, 0.0f);
  for (size_t i = 0; i < order.size(); ++i) {
    s->position[order[i]] = static_cast<uint32_t>(i);
    q->cum_kib[i + 1] = q->cum_kib[i] + dir[order[i]].bytes / 1024.0f;
  }
  q->first_rank.clear();
  for (uint32_t j = 0; j < k; ++j) {
    if (gt[j] < 0) continue;
    uint32_t first = kUnreached;
    for (uint32_t h : mem.of(static_cast<uint32_t>(gt[j]))) first = std::min(first, s->position[h]);
    q->first_rank.push_back(first);
  }
  std::sort(q->first_rank.begin(), q->first_rank.end());
  for (uint32_t h : order) s->position[h] = kUnreached;
}

absl::StatusOr<FloatMatrix> SampleBaseQueries(const CalibrationSource& src, uint32_t want,
                                              uint64_t seed, std::vector<uint32_t>* ids,
                                              uint32_t* skipped) {
  CAIRN_ASSIGN_OR_RETURN(auto reader, VectorReader::Open(src.vectors));
  const uint64_t n = reader->info().num_vectors;
  const uint32_t d = reader->info().dim;
  if (n != src.num_vectors || d != src.dim) {
    return absl::InvalidArgumentError(
        absl::StrCat(src.vectors, " is not the index's input: ", n, " x ", d,
                     " vectors, the index has ", src.num_vectors, " x ", src.dim));
  }
  if (n > std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError("calibration samples from at most 2^32 vectors");
  }
  Rng rng(Rng::Mix(seed, 0xca1b));
  std::vector<uint32_t> order(n);
  for (uint64_t i = 0; i < n; ++i) order[i] = static_cast<uint32_t>(i);
  FloatMatrix m;
  m.dim = d;
  std::vector<float> row(d);
  std::vector<HeadHit> hits;
  *skipped = 0;
  ids->clear();
  for (uint64_t i = 0; i < n && ids->size() < want; ++i) {
    std::swap(order[i], order[i + rng.Below(n - i)]);  // partial Fisher-Yates
    CAIRN_RETURN_IF_ERROR(reader->Seek(order[i]));
    CAIRN_ASSIGN_OR_RETURN(size_t got, reader->ReadFloat(1, row.data()));
    if (got != 1) return absl::DataLossError(absl::StrCat(src.vectors, ": short read"));
    if (src.metric == Metric::kCosine) {
      // Cosine heads and queries are unit vectors (head_index.h); a zero
      // vector has no direction to search by.
      if (SquaredNorm(row.data(), d) == 0) {
        ++*skipped;
        continue;
      }
      Normalize(row.data(), d);
    }
    src.heads->Search(row.data(), 1, 16, &hits);
    if (!hits.empty() && src.metric != Metric::kInnerProduct &&
        RoutingDistance(src.metric, hits[0].distance) == 0.0f) {
      ++*skipped;
      continue;
    }
    ids->push_back(order[i]);
    m.data.insert(m.data.end(), row.begin(), row.end());
    ++m.rows;
  }
  return m;
}

absl::StatusOr<GroundTruth> LeaveOneOutTruth(const std::string& base, const FloatMatrix& q,
                                             const std::vector<uint32_t>& ids, uint32_t k,
                                             Metric metric, const std::string& scratch_dir) {
  const std::string tmp = scratch_dir + "/calibration-queries.fbin";
  CAIRN_RETURN_IF_ERROR(WriteFloatMatrix(tmp, q));
  GroundTruthOptions g;
  g.k = k + 1;
  g.metric = metric;
  g.progress = false;
  absl::StatusOr<GroundTruth> full = ComputeGroundTruth(base, tmp, g);
  std::error_code ec;
  std::filesystem::remove(tmp, ec);
  if (!full.ok()) return full.status();
  GroundTruth gt;
  gt.num_queries = full->num_queries;
  gt.k = k;
  for (uint32_t i = 0; i < gt.num_queries; ++i) {
    const int32_t* row = full->row(i);
    uint32_t kept = 0;
    for (uint32_t j = 0; j < g.k && kept < k; ++j) {
      if (row[j] == static_cast<int32_t>(ids[i])) continue;
      gt.ids.push_back(row[j]);
      ++kept;
    }
  }
  return gt;
}

float RoutingDistance(Metric metric, float head_distance) {
  switch (metric) {
    case Metric::kL2:
      return std::sqrt(std::max(0.0f, head_distance));
    case Metric::kCosine:  // -cos of unit vectors: |q - c|^2 = 2 - 2 cos
      return std::sqrt(std::max(0.0f, 2.0f + 2.0f * head_distance));
    default:
      return 0.0f;
  }
}

absl::StatusOr<CalibrationReport> Calibrate(const CalibrationSource& src,
                                            const CalibrationOptions& o) {
  const auto t0 = Clock::now();
  if (o.queries == 0 || o.k == 0) return absl::InvalidArgumentError("calibration needs queries");
  CAIRN_RETURN_IF_ERROR(o.budget.Validate());
  CalibrationReport report;
  std::vector<uint32_t> ids;
  CAIRN_ASSIGN_OR_RETURN(FloatMatrix q,
                         SampleBaseQueries(src, o.queries, o.seed, &ids, &report.heads_skipped));
  if (q.rows == 0) return absl::FailedPreconditionError("no vector to calibrate with");
  if (o.progress) {
    std::fprintf(stderr, "calibrate: exact top-%u of %zu sampled queries\n", o.k, ids.size());
  }
  CAIRN_ASSIGN_OR_RETURN(GroundTruth gt,
                         LeaveOneOutTruth(src.vectors, q, ids, o.k, src.metric, src.scratch_dir));
  std::vector<uint32_t> beams = o.candidate_beams;
  if (o.head_ef > 0) beams = {o.head_ef};
  double fewest = INFINITY;
  std::vector<PostingBudget> fitted;
  for (uint32_t beam : beams) {
    // No budget exceeds the beam, so the searcher's head list (n <= beam at
    // ef = beam) is a prefix of the one observed here.
    const uint32_t prefix =
        std::min({o.budget.prefix, beam, static_cast<uint32_t>(src.heads->live_count())});
    if (prefix == 0) return absl::FailedPreconditionError("the index has no heads");
    const std::vector<RouteObservation> obs =
        ObserveAll(q, gt, o.k, prefix, std::max(beam, prefix), src);
    PostingBudgetOptions bo = o.budget;
    bo.prefix = prefix;
    bo.k = o.k;
    bo.head_ef = beam;
    bo.num_vectors = src.num_vectors;
    bo.use_features = src.metric != Metric::kInnerProduct;
    absl::StatusOr<PostingBudget> b = PostingBudget::Fit(obs, bo);
    if (!b.ok()) {
      if (absl::IsInvalidArgument(b.status()) && beams.size() > 1) continue;
      return b.status();
    }
    const double at = MeanPostingsAt(*b, o.choose_target);
    report.beams.push_back({beam, at});
    fewest = std::min(fewest, at);
    fitted.push_back(*std::move(b));
  }
  if (fitted.empty()) {
    return absl::InvalidArgumentError("no recall target is reachable with any head beam");
  }
  // The narrowest beam within tolerance of the fewest postings (NaN, a
  // target no beam reaches, compares false: then the widest).
  size_t pick = fitted.size() - 1;
  for (size_t i = 0; i < fitted.size(); ++i) {
    if (MeanPostingsAt(fitted[i], o.choose_target) <= (1 + o.beam_tolerance) * fewest) {
      pick = i;
      break;
    }
  }
  report.budget = std::move(fitted[pick]);
  report.queries = static_cast<uint32_t>(q.rows);
  report.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return report;
}

absl::StatusOr<CalibrationReport> CalibrateIndex(const std::string& dir, const std::string& base,
                                                 const CalibrationOptions& o) {
  CAIRN_ASSIGN_OR_RETURN(IndexParts parts, OpenIndexParts(dir));
  CAIRN_ASSIGN_OR_RETURN(Membership mem, ReadMembership(dir, parts));
  CalibrationSource src;
  src.vectors = base;
  src.num_vectors = parts.manifest.num_vectors;
  src.dim = parts.manifest.dim;
  src.metric = parts.manifest.metric;
  src.heads = parts.heads.get();
  src.directory = parts.directory;
  src.membership = &mem;
  src.scratch_dir = dir;
  CAIRN_ASSIGN_OR_RETURN(CalibrationReport report, Calibrate(src, o));
  CAIRN_RETURN_IF_ERROR(
      WritePostingBudget(Env::Default(), dir + "/" + kPostingBudgetFileName, report.budget));
  return report;
}

}  // namespace cairn
