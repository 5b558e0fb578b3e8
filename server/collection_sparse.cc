// Collection's sparse vectors (collection.h): the search through a
// SparseIndex, the rebuild of the indexes from the point store at open,
// their update after each kept write, and the exact scoring of given
// points that a query re-ranking its prefetches' candidates asks for.
#include <algorithm>
#include <cmath>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/distance.h"
#include "server/collection.h"
#include "server/point_id.h"

namespace cairn {

namespace {

absl::Status NoSuchSparse(const std::string& name) {
  return absl::InvalidArgumentError(
      absl::StrCat("Not existing vector name error: ", name, " is not a sparse vector here"));
}

}  // namespace

const SparseIndex* Collection::SparseIndexFor(const std::string& name) const {
  const int slot = SparseSlotOf(config_, name);
  return slot < 0 ? nullptr : sparse_[slot].get();
}

std::vector<std::pair<std::string, SparseIndexStats>> Collection::sparse_stats() const {
  std::vector<std::pair<std::string, SparseIndexStats>> out;
  for (size_t i = 0; i < sparse_.size(); ++i) {
    out.emplace_back(config_.sparse_vectors[i].name, sparse_[i]->stats());
  }
  return out;
}

absl::Status Collection::RebuildSparse() {
  if (sparse_.empty()) return absl::OkStatus();
  for (auto& index : sparse_) index->Clear();
  absl::Status status;
  points_->ForEachKey([&](const std::string& key) {
    auto id = FromStoreKey(key);
    auto rec = points_->Get(key);
    if (!id.ok() || !rec.ok()) {
      status = !id.ok() ? id.status() : rec.status();
      return false;
    }
    if (!rec->has_value()) return true;  // deleted meanwhile
    auto p = DecodePointRecord(*id, **rec, config_);
    if (!p.ok()) {
      status = p.status();
      return false;
    }
    for (const auto& [name, v] : p->sparse) sparse_[SparseSlotOf(config_, name)]->Put(key, v);
    return true;
  });
  return status;
}

void Collection::IndexSparse(const std::vector<PointData>& written,
                             const std::vector<std::string>& deleted) {
  if (sparse_.empty()) return;
  for (const PointData& p : written) {
    const std::string key = StoreKey(p.id);
    for (size_t i = 0; i < sparse_.size(); ++i) {
      auto it = p.sparse.find(config_.sparse_vectors[i].name);
      if (it == p.sparse.end()) {
        sparse_[i]->Remove(key);
      } else {
        sparse_[i]->Put(key, it->second);
      }
    }
  }
  for (const std::string& key : deleted) {
    for (auto& index : sparse_) index->Remove(key);
  }
}

absl::StatusOr<std::vector<ScoredPoint>> Collection::SearchSparse(const SearchRequest& r) const {
  const std::string& name = *r.sparse_name;
  const SparseIndex* index = SparseIndexFor(name);
  if (index == nullptr) return NoSuchSparse(name);
  if (r.limit == 0) return std::vector<ScoredPoint>();
  const bool filtered = r.filter != nullptr && !r.filter->empty();
  const std::string exclude = r.exclude.has_value() ? StoreKey(*r.exclude) : std::string();
  absl::flat_hash_map<std::string, PointData> loaded;
  absl::Status status;
  uint64_t checked = 0;
  // Runs best first under the index's reader lock: reads the point store
  // only, never the index.
  auto accept = [&](const std::string& key, float score) {
    if (!status.ok()) return false;
    if (r.score_threshold.has_value() && score < *r.score_threshold) return false;
    if (r.exclude.has_value() && key == exclude) return false;
    if (!filtered && !r.load_data) return true;
    if ((++checked & 255) == 0 && std::chrono::steady_clock::now() > r.deadline) {
      status = absl::DeadlineExceededError("request timed out checking sparse candidates");
      return false;
    }
    auto id = FromStoreKey(key);
    if (!id.ok()) {
      status = id.status();
      return false;
    }
    auto rec = points_->Get(key);
    if (!rec.ok()) {
      status = rec.status();
      return false;
    }
    if (!rec->has_value()) return false;  // deleted since
    auto p = DecodePointRecord(*id, **rec, config_);
    if (!p.ok()) {
      status = p.status();
      return false;
    }
    if (!p->sparse.contains(name)) return false;  // its vector removed since
    if (filtered && !r.filter->Matches(ToFilterId(*id), p->payload)) return false;
    if (r.load_data) loaded.emplace(key, *std::move(p));
    return true;
  };
  const size_t want = size_t{r.limit} + r.offset;
  auto hits = index->Search(r.sparse_vector, want, accept);
  CAIRN_RETURN_IF_ERROR(status);
  std::vector<ScoredPoint> out;
  for (size_t i = r.offset; i < hits.size(); ++i) {
    ScoredPoint sp;
    CAIRN_ASSIGN_OR_RETURN(sp.id, FromStoreKey(hits[i].first));
    sp.score = hits[i].second;
    if (r.load_data) {
      auto it = loaded.find(hits[i].first);
      if (it != loaded.end()) sp.data = std::move(it->second);
    }
    out.push_back(std::move(sp));
  }
  return out;
}

absl::StatusOr<std::vector<ScoredPoint>> Collection::ScorePoints(
    const SearchRequest& r, const std::vector<ExternalId>& ids) const {
  SparseVector sparse_query;
  std::vector<float> dense_query;
  if (r.sparse_name.has_value()) {
    const SparseIndex* index = SparseIndexFor(*r.sparse_name);
    if (index == nullptr) return NoSuchSparse(*r.sparse_name);
    sparse_query = index->Weigh(r.sparse_vector);
  } else {
    if (r.vector.size() != config_.size) {
      return absl::InvalidArgumentError(absl::StrCat("wrong vector dimension: expected ",
                                                     config_.size, ", got ", r.vector.size()));
    }
    dense_query = r.vector;
    if (config_.distance == VectorDistance::kCosine) Normalize(dense_query.data(), config_.size);
  }
  const bool ascending = LowerIsBetterFor(r);
  std::vector<ScoredPoint> out;
  for (const ExternalId& id : ids) {
    if (std::chrono::steady_clock::now() > r.deadline) {
      return absl::DeadlineExceededError("request timed out scoring prefetched points");
    }
    if (r.exclude.has_value() && id == *r.exclude) continue;
    CAIRN_ASSIGN_OR_RETURN(std::optional<PointData> p, Get(id));
    if (!p.has_value()) continue;
    if (r.filter != nullptr && !r.filter->empty() &&
        !r.filter->Matches(ToFilterId(id), p->payload)) {
      continue;
    }
    ScoredPoint sp;
    sp.id = id;
    if (r.sparse_name.has_value()) {
      auto it = p->sparse.find(*r.sparse_name);
      if (it == p->sparse.end()) continue;
      sp.score = SparseDot(sparse_query, it->second);
      if (r.score_threshold.has_value() && sp.score < *r.score_threshold) continue;
    } else {
      if (p->vector.empty()) continue;
      sp.score = ExactScore(dense_query, p->vector.data());
      if (!Passes(r, sp.score)) continue;
    }
    if (r.load_data) sp.data = std::move(*p);
    out.push_back(std::move(sp));
  }
  std::stable_sort(out.begin(), out.end(), [&](const ScoredPoint& a, const ScoredPoint& b) {
    return ascending ? a.score < b.score : a.score > b.score;
  });
  const size_t want = size_t{r.limit} + r.offset;
  if (out.size() > want) out.resize(want);
  return out;
}

}  // namespace cairn
