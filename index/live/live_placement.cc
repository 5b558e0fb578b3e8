// LiveIndex::Placement: which postings hold a vector and how its own search
// ranks their heads. A diagnostic for "stored but not found".
#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/head_distance.h"
#include "index/live/live_index.h"
#include "index/live/live_internal.h"

namespace cairn {

absl::StatusOr<PlacementReport> LiveIndex::Placement(const ExternalId& id, const float* vector,
                                                     uint32_t graph_n) {
  std::vector<float> v;
  CAIRN_RETURN_IF_ERROR(ValidateVector(vector, &v));
  std::optional<uint32_t> internal;
  {
    absl::ReaderMutexLock lock(&id_mu_);
    internal = ids_.Find(id);
  }
  if (!internal.has_value() || (versions_->Get(*internal) & VersionMap::kDeleted) != 0) {
    return absl::NotFoundError(absl::StrCat("no live point ", id.ToString()));
  }
  PlacementReport report;
  {
    absl::ReaderMutexLock lock(&mem_mu_);
    auto holds = [&](const MemTable& m) {
      for (uint32_t i = 0; i < m.size(); ++i) {
        if (m.id(i) == *internal && versions_->IsLive(m.id(i), m.version(i))) return true;
      }
      return false;
    };
    report.buffered = holds(*active_);
    for (const auto& f : frozen_) report.buffered = report.buffered || holds(*f);
  }
  // Maintenance is the postings' only writer: holding it freezes them.
  absl::MutexLock maint(&maint_mu_);
  absl::ReaderMutexLock lock(&heads_mu_);
  std::vector<std::pair<float, uint32_t>> by_distance;
  const uint32_t n = directory_.size();
  for (uint32_t h = 0; h < n; ++h) {
    if (heads_->removed(h)) continue;
    by_distance.emplace_back(TrueDistance(metric_, GraphDistance(metric_, v.data(),
                                                                 heads_->head(h), dim_)), h);
  }
  std::sort(by_distance.begin(), by_distance.end());
  report.live_heads = static_cast<uint32_t>(by_distance.size());
  std::vector<HeadHit> graph;
  heads_->Search(v.data(), graph_n, graph_n, &graph);
  PostingEntries posting;
  for (uint32_t r = 0; r < by_distance.size(); ++r) {
    const uint32_t h = by_distance[r].second;
    uint32_t stale = 0;
    CAIRN_RETURN_IF_ERROR(maintainer_->ReadPosting(h, &posting, &stale));
    if (std::find(posting.ids.begin(), posting.ids.end(), *internal) == posting.ids.end()) continue;
    HeadPlacement p;
    p.head = h;
    p.exact_rank = r;
    p.distance = by_distance[r].first;
    for (size_t g = 0; g < graph.size(); ++g) {
      if (graph[g].head == h) p.graph_rank = static_cast<int32_t>(g);
    }
    report.postings.push_back(p);
  }
  return report;
}

absl::StatusOr<uint64_t> LiveIndex::CountPostingEntries() {
  absl::MutexLock maint(&maint_mu_);
  uint64_t total = 0;
  PostingEntries posting;
  const uint32_t n = directory_.size();
  for (uint32_t h = 0; h < n; ++h) {
    {
      absl::ReaderMutexLock lock(&heads_mu_);
      if (heads_->removed(h)) continue;
    }
    uint32_t stale = 0;
    CAIRN_RETURN_IF_ERROR(maintainer_->ReadPosting(h, &posting, &stale));
    total += posting.size();
  }
  return total;
}

absl::StatusOr<uint64_t> LiveIndex::CheckCodes() {
  if (codes_ == nullptr) return uint64_t{0};
  absl::MutexLock maint(&maint_mu_);
  const uint32_t eb = codes_->entry_bytes();
  uint64_t checked = 0;
  AlignedBuffer buffer{kDirectIoAlignment};
  std::vector<float> x(dim_), head(dim_);
  std::vector<uint8_t> want(eb);
  const uint32_t n = directory_.size();
  for (uint32_t h = 0; h < n; ++h) {
    {
      absl::ReaderMutexLock lock(&heads_mu_);
      if (heads_->removed(h)) continue;
      std::memcpy(head.data(), heads_->head(h), size_t{dim_} * 4);
    }
    const uint64_t packed = directory_.Load(h);
    if (packed == 0) continue;
    CAIRN_ASSIGN_OR_RETURN(auto payload, store_->Read(UnpackExtent(packed), &buffer));
    CAIRN_ASSIGN_OR_RETURN(PostingView view,
                           DecodePosting(payload, dim_, stored_, store_->path(), eb));
    for (uint32_t i = 0; i < view.count; ++i) {
      StoredVectorToFloat(stored_, view.vector(i), dim_, x.data());
      codes_->Encode(x.data(), head.data(), want.data());
      if (std::memcmp(want.data(), view.codes + size_t{i} * eb, eb) != 0) {
        return absl::InternalError(absl::StrCat("head ", h, " entry ", i, " (id ", view.ids[i],
                                                "): its code is not of its residual to head ", h));
      }
      ++checked;
    }
  }
  return checked;
}

}  // namespace cairn
