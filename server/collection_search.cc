// Collection's read path for searches (collection.h explains the rules):
// the index search with filtered widening, the exact scan of the point
// store, and the L1 rescoring of index candidates for Manhattan.
#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/distance.h"
#include "server/collection.h"
#include "server/point_id.h"

namespace cairn {

namespace {

constexpr uint32_t kWidenCap = 4096;
// Manhattan asks the index (which orders by L2) for this many times the
// wanted results and keeps the best of them by L1.
constexpr uint32_t kL1Oversample = 4;

}  // namespace

float Collection::Score(float d) const {
  switch (config_.distance) {
    case VectorDistance::kCosine:
      return 1.0f - d;
    case VectorDistance::kDot:
      return -d;
    case VectorDistance::kEuclid:
    case VectorDistance::kManhattan:  // an L2 candidate, until RescoreL1 / KeepHits
      return std::sqrt(std::max(0.0f, d));
  }
  return d;
}

float Collection::ExactScore(const std::vector<float>& query, const float* v) const {
  const DistanceKernels& k = Kernels();
  switch (config_.distance) {
    case VectorDistance::kCosine:  // both unit length
    case VectorDistance::kDot:
      return k.dot_f32(query.data(), v, config_.size);
    case VectorDistance::kEuclid:
      return std::sqrt(std::max(0.0f, k.l2_f32(query.data(), v, config_.size)));
    case VectorDistance::kManhattan:
      return k.l1_f32(query.data(), v, config_.size);
  }
  return 0;
}

bool Collection::Passes(const SearchRequest& r, float score) const {
  if (!r.score_threshold.has_value()) return true;
  // Qdrant: a threshold is a lower bound on similarity, an upper bound on
  // a distance (Euclid, Manhattan).
  return LowerIsBetter(config_.distance) ? score <= *r.score_threshold
                                         : score >= *r.score_threshold;
}

absl::StatusOr<std::unique_ptr<LiveSearchContext>> Collection::TakeContext() const {
  {
    absl::MutexLock lock(&ctx_mu_);
    if (!contexts_.empty()) {
      auto c = std::move(contexts_.back());
      contexts_.pop_back();
      return c;
    }
  }
  return index_->NewContext();
}

void Collection::ReturnContext(std::unique_ptr<LiveSearchContext> ctx) const {
  absl::MutexLock lock(&ctx_mu_);
  contexts_.push_back(std::move(ctx));
}

absl::Status Collection::ExactSearch(const SearchRequest& r, std::vector<ScoredPoint>* out,
                                     const PayloadIndex::Keys* only, SearchInfo* info) const {
  std::vector<float> q = r.vector;
  if (config_.distance == VectorDistance::kCosine) Normalize(q.data(), config_.size);
  std::vector<ScoredPoint> all;
  absl::Status status;
  uint64_t visited = 0;
  auto score_one = [&](const std::string& key) {
    if ((++visited & 1023) == 0 && std::chrono::steady_clock::now() > r.deadline) {
      status = absl::DeadlineExceededError("request timed out scoring every point");
      return false;
    }
    auto id = FromStoreKey(key);
    if (!id.ok()) {
      status = id.status();
      return false;
    }
    if (r.exclude.has_value() && *id == *r.exclude) return true;
    auto rec = points_->Get(key);
    if (!rec.ok()) {
      status = rec.status();
      return false;
    }
    if (info != nullptr) ++info->points_scored;
    if (!rec->has_value() || (*rec)->vector.empty()) return true;  // gone, or no vector
    auto p = DecodePointRecord(*id, **rec, config_);
    if (!p.ok()) {
      status = p.status();
      return false;
    }
    if (p->vector.empty()) return true;  // sparse vectors only
    if (r.filter != nullptr && !r.filter->Matches(ToFilterId(*id), p->payload)) return true;
    const float score = ExactScore(q, p->vector.data());
    if (!Passes(r, score)) return true;
    ScoredPoint sp;
    sp.id = *id;
    sp.score = score;
    if (r.load_data) sp.data = std::move(*p);
    all.push_back(std::move(sp));
    return true;
  };
  if (only != nullptr) {
    for (const std::string& key : *only) {
      if (!score_one(key)) break;
    }
  } else {
    points_->ForEachKey(score_one);
  }
  CAIRN_RETURN_IF_ERROR(status);
  const bool ascending = LowerIsBetter(config_.distance);
  const size_t want = std::min<size_t>(all.size(), size_t{r.limit} + r.offset);
  std::partial_sort(all.begin(), all.begin() + want, all.end(),
                    [&](const ScoredPoint& a, const ScoredPoint& b) {
                      return ascending ? a.score < b.score : a.score > b.score;
                    });
  all.resize(want);
  *out = std::move(all);
  return absl::OkStatus();
}

absl::Status Collection::KeepHits(const SearchRequest& r, const std::vector<LiveResult>& hits,
                                  size_t want, SearchInfo* info,
                                  std::vector<ScoredPoint>* kept) const {
  kept->clear();
  const bool filtered = r.filter != nullptr && !r.filter->empty();
  const bool l1 = config_.distance == VectorDistance::kManhattan;
  for (const LiveResult& h : hits) {
    if (r.exclude.has_value() && h.id == *r.exclude) continue;
    ScoredPoint sp;
    sp.id = h.id;
    sp.score = Score(h.distance);
    if (!l1 && !Passes(r, sp.score)) continue;
    if (filtered || r.load_data || l1) {
      CAIRN_ASSIGN_OR_RETURN(std::optional<PointData> got, Get(h.id));
      if (!got.has_value() || got->vector.empty()) continue;  // deleted since
      if (info != nullptr) ++info->candidates_checked;
      if (filtered && !r.filter->Matches(ToFilterId(h.id), got->payload)) continue;
      if (l1) {
        sp.score = ExactScore(r.vector, got->vector.data());
        if (!Passes(r, sp.score)) continue;
      }
      if (r.load_data) sp.data = std::move(*got);
    }
    kept->push_back(std::move(sp));
    if (!l1 && kept->size() == want) break;
  }
  if (l1) {
    // Stable: equal L1 scores keep the index's (L2) order.
    std::stable_sort(kept->begin(), kept->end(),
                     [](const ScoredPoint& a, const ScoredPoint& b) { return a.score < b.score; });
    if (kept->size() > want) kept->resize(want);
  }
  return absl::OkStatus();
}

absl::Status Collection::WidenSearch(const SearchRequest& r, LiveSearchContext* ctx,
                                     SearchInfo* info, std::vector<ScoredPoint>* kept,
                                     const PayloadIndex::Keys* candidates) const {
  const size_t want = size_t{r.limit} + r.offset;
  const bool filtered = r.filter != nullptr && !r.filter->empty();
  uint32_t k = static_cast<uint32_t>(std::min<size_t>(want + (r.exclude ? 1 : 0), kWidenCap));
  if (config_.distance == VectorDistance::kManhattan) {
    k = std::min<uint32_t>(kWidenCap, k * kL1Oversample);
  }
  uint32_t max_postings = r.max_postings > 0 ? r.max_postings : max_postings_.load();
  // A target needs the index's posting budget; until it has one (a young
  // collection) the fixed count serves.
  double target = r.max_postings > 0 ? 0.0 : r.target_recall.value_or(target_recall_.load());
  if (target > 0 && index_->posting_budget() == nullptr) target = 0;
  if (filtered) k = std::min<uint32_t>(kWidenCap, k * 4);
  for (;;) {
    SpannSearchParams p;
    p.k = k;
    p.max_postings = max_postings;
    p.target_recall = target;
    p.head_ef = r.head_ef;
    p.epsilon = r.epsilon;
    std::vector<LiveResult> hits;
    SearchStats stats;
    CAIRN_RETURN_IF_ERROR(index_->Search(r.vector.data(), p, ctx, &hits, &stats));
    if (info != nullptr) {
      info->postings_read += stats.postings_read;
      info->bytes_read += stats.bytes_read;
    }
    CAIRN_RETURN_IF_ERROR(KeepHits(r, hits, want, info, kept));
    const bool exhausted = hits.size() < k;
    if (kept->size() >= want || exhausted || !filtered) return absl::OkStatus();
    if (k >= kWidenCap) {
      // Too few matches near the query: score every matching point.
      if (info != nullptr) info->exact_fallback = true;
      return ExactSearch(r, kept, candidates, info);
    }
    if (std::chrono::steady_clock::now() > r.deadline) {
      return absl::DeadlineExceededError("request timed out widening a filtered search");
    }
    k = std::min<uint32_t>(kWidenCap, k * 4);
    // Widening leaves the budget: twice the postings this round read.
    if (target > 0) max_postings = std::max<uint32_t>(1, stats.postings_read);
    target = 0;
    max_postings = std::min<uint32_t>(max_postings * 2, 1024);
  }
}

absl::StatusOr<std::vector<ScoredPoint>> Collection::Search(const SearchRequest& r,
                                                            SearchInfo* info) const {
  if (r.sparse_name.has_value()) return SearchSparse(r);
  if (r.vector.size() != config_.size) {
    return absl::InvalidArgumentError(
        absl::StrCat("wrong vector dimension: expected ", config_.size, ", got ", r.vector.size()));
  }
  for (float x : r.vector) {
    if (!std::isfinite(x)) return absl::InvalidArgumentError("query vector has a non-finite value");
  }
  if (r.limit == 0) return std::vector<ScoredPoint>();
  std::vector<ScoredPoint> kept;
  // Text matches bound to text indexes, and the payload indexes' candidates.
  Filter bound_filter;
  SearchRequest bound = r;
  std::optional<PayloadIndex::Keys> candidates;
  if (r.filter != nullptr && !r.filter->empty()) {
    bound_filter = BindFilter(*r.filter);
    bound.filter = &bound_filter;
    candidates = Candidates(bound_filter);
  }
  const uint64_t want = uint64_t{r.limit} + r.offset;
  const bool selective =
      candidates.has_value() &&
      static_cast<double>(candidates->size()) * static_cast<double>(candidates->size()) <=
          4.0 * static_cast<double>(want) * static_cast<double>(points_->size());
  if (info != nullptr) info->payload_index = candidates.has_value();
  if (r.exact || selective) {
    CAIRN_RETURN_IF_ERROR(ExactSearch(bound, &kept, candidates ? &*candidates : nullptr, info));
    if (info != nullptr) info->exact_fallback = true;
  } else {
    CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<LiveSearchContext> ctx, TakeContext());
    absl::Status s =
        WidenSearch(bound, ctx.get(), info, &kept, candidates ? &*candidates : nullptr);
    ReturnContext(std::move(ctx));  // reusable after an error too
    CAIRN_RETURN_IF_ERROR(s);
  }
  if (kept.size() > r.offset) {
    kept.erase(kept.begin(), kept.begin() + r.offset);
  } else {
    kept.clear();
  }
  if (kept.size() > r.limit) kept.resize(r.limit);
  return kept;
}

}  // namespace cairn
