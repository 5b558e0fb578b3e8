// PostingMaintainer: routing, posting reads and writes, cleaning, merges and
// the upkeep of removed heads. Splits and LIRE are in posting_split.cc.
#include "index/live/posting_maintainer.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>

#include "common/aligned_buffer.h"
#include "common/status_macros.h"
#include "index/live/live_internal.h"
#include "index/spann/page_order.h"
#include "index/spann/spann_limits.h"
#include "kernels/head_distance.h"

namespace cairn {
namespace {

// Vectors per routing thread at least: fewer do not pay for its start.
constexpr size_t kRoutesPerThread = 64;

}  // namespace

PostingMaintainer::PostingMaintainer(const State& state, const Params& params)
    : s_(state), p_(params) {}

bool PostingMaintainer::HeadRemoved(uint32_t head) const {
  absl::ReaderMutexLock lock(&s_.heads_mu);
  return s_.heads.removed(head);
}

// ---- Routing ---------------------------------------------------------------

void PostingMaintainer::AssignHeads(const float* v, uint32_t exclude, std::vector<uint32_t>* out) {
  out->clear();
  thread_local std::vector<HeadHit> hits;
  absl::ReaderMutexLock lock(&s_.heads_mu);
  s_.heads.Search(v, p_.candidates + (exclude != kNoHead ? 1 : 0),
                  std::max(p_.candidates, kMinHeadBeam), &hits);
  float nearest = -1;
  for (const HeadHit& h : hits) {
    if (out->size() == p_.replicas) break;
    if (h.head == exclude) continue;
    const float dxj = TrueDistance(p_.metric, h.distance);
    // The bulk build's closure cap; the nearest head is always chosen.
    if (nearest < 0) {
      nearest = dxj;
    } else if (dxj > (1.0 + p_.closure_epsilon) * nearest) {
      break;
    }
    bool pruned = false;
    for (uint32_t c : *out) {
      const float dij = TrueDistance(
          p_.metric, GraphDistance(p_.metric, s_.heads.head(c), s_.heads.head(h.head), p_.dim));
      if (p_.rng_factor * dij < dxj) {
        pruned = true;
        break;
      }
    }
    if (!pruned) out->push_back(h.head);
  }
}

void PostingMaintainer::RouteEntries(const PostingEntries& src, uint32_t exclude,
                                     absl::flat_hash_map<uint32_t, PostingEntries>* out) {
  std::vector<uint32_t> heads;
  std::vector<float> v(p_.dim);
  for (size_t i = 0; i < src.size(); ++i) {
    StoredVectorToFloat(p_.stored, src.vec(i), p_.dim, v.data());
    AssignHeads(v.data(), exclude, &heads);
    for (uint32_t h : heads) {
      PostingEntries& e = (*out)[h];
      e.vec_bytes = src.vec_bytes;
      e.Add(src.ids[i], src.versions[i], src.vec(i));
    }
  }
}

void PostingMaintainer::AssignMany(const float* vecs, size_t n, uint32_t exclude,
                                   std::vector<std::vector<uint32_t>>* routes) {
  routes->assign(n, {});
  // Routing is a head-graph search per vector, the bulk of maintenance CPU:
  // spread it over the cores (AssignHeads is safe to call concurrently).
  const size_t threads = std::min<size_t>(std::max(1u, std::thread::hardware_concurrency()),
                                          (n + kRoutesPerThread - 1) / kRoutesPerThread);
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < n; i = next++) {
      AssignHeads(vecs + i * p_.dim, exclude, &(*routes)[i]);
    }
  };
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
}

// ---- Posting reads and writes ----------------------------------------------

absl::Status PostingMaintainer::ReadPosting(uint32_t head, PostingEntries* live,
                                            uint32_t* stale) {
  live->vec_bytes = size_t{p_.dim} * StoredTypeSize(p_.stored);
  live->ids.clear();
  live->versions.clear();
  live->data.clear();
  *stale = 0;
  const uint64_t packed = s_.directory.Load(head);
  if (packed == 0) return absl::OkStatus();
  thread_local AlignedBuffer buffer{kDirectIoAlignment};
  CAIRN_ASSIGN_OR_RETURN(auto payload, s_.store.Read(UnpackExtent(packed), &buffer));
  CAIRN_ASSIGN_OR_RETURN(PostingView view,
                         DecodePosting(payload, p_.dim, p_.stored, s_.store.path(),
                                       s_.codes != nullptr ? s_.codes->entry_bytes() : 0));
  absl::flat_hash_set<uint32_t> seen;
  for (uint32_t i = 0; i < view.count; ++i) {
    if (!s_.versions.IsLive(view.ids[i], view.versions[i]) || !seen.insert(view.ids[i]).second) {
      ++*stale;
      continue;
    }
    live->Add(view.ids[i], view.versions[i], view.vector(i));
  }
  return absl::OkStatus();
}

void PostingMaintainer::EncodeCoded(const PostingEntries& e, const float* head_vector,
                                    std::vector<uint8_t>* payload) const {
  const uint32_t dim = p_.dim;
  const uint32_t eb = s_.codes->entry_bytes();
  const uint32_t n = static_cast<uint32_t>(e.size());
  std::vector<float> x(uint64_t{n} * dim);
  for (uint32_t i = 0; i < n; ++i) {
    StoredVectorToFloat(p_.stored, e.vec(i), dim, &x[uint64_t{i} * dim]);
  }
  // The same page-locality order as the bulk build (two-step reads pages).
  const CodedLayout layout = ComputeCodedLayout(n, dim, p_.stored, eb, kPostingFrameHeaderBytes);
  const std::vector<uint32_t> order = PageLocalityOrder(x.data(), n, dim, layout.vectors_per_page);
  std::vector<uint8_t> codes(uint64_t{n} * eb);
  PostingEntries sorted;
  sorted.vec_bytes = e.vec_bytes;
  sorted.ids.reserve(n);
  sorted.versions.reserve(n);
  sorted.data.reserve(e.data.size());
  for (uint32_t i = 0; i < n; ++i) {
    const uint32_t from = order[i];
    sorted.Add(e.ids[from], e.versions[from], e.vec(from));
    s_.codes->Encode(&x[uint64_t{from} * dim], head_vector, codes.data() + uint64_t{i} * eb);
  }
  EncodeCodedPosting(dim, p_.stored, eb, kPostingFrameHeaderBytes, sorted.ids.data(),
                     sorted.versions.data(), codes.data(), sorted.data.data(), n, payload);
}

absl::Status PostingMaintainer::WritePosting(uint32_t head, const PostingEntries& e,
                                             bool lowest_first, const float* head_vector) {
  std::vector<uint8_t> payload;
  if (s_.codes != nullptr) {
    // Codes are of the residual to this posting's head, so every rewrite
    // (a move by a split, a merge, a reassignment) re-encodes its entries.
    std::vector<float> hv;
    if (head_vector == nullptr) {
      absl::ReaderMutexLock lock(&s_.heads_mu);
      const float* h = s_.heads.head(head);
      hv.assign(h, h + p_.dim);
      head_vector = hv.data();
    }
    EncodeCoded(e, head_vector, &payload);
  } else {
    EncodePosting(p_.dim, p_.stored, e.ids.data(), e.versions.data(), e.data.data(),
                  static_cast<uint32_t>(e.size()), &payload);
  }
  EpochManager& epochs = s_.epochs;
  CAIRN_ASSIGN_OR_RETURN(
      PostingLocation loc,
      s_.store.Write(payload.data(), static_cast<uint32_t>(payload.size()),
                     [&epochs](uint64_t epoch) { return epochs.SafeToReuse(epoch); },
                     lowest_first));
  const uint64_t old = s_.directory.Load(head);
  s_.directory.Store(head, PackExtent(loc));
  if (old != 0) s_.store.Retire(UnpackExtent(old), s_.epochs.Retire());
  ++s_.counters.rewrites;
  PublishStoreStats();
  return absl::OkStatus();
}

void PostingMaintainer::PublishStoreStats() {
  absl::MutexLock lock(&store_stats_mu_);
  store_stats_ = s_.store.stats();
}

PostingStoreStats PostingMaintainer::store_stats() const {
  absl::MutexLock lock(&store_stats_mu_);
  return store_stats_;
}

// ---- Cleaning and merges ---------------------------------------------------

absl::Status PostingMaintainer::RewritePosting(uint32_t head, const PostingEntries& extra,
                                               bool allow_split) {
  if (HeadRemoved(head)) {
    // Split or merged away since these entries were routed: route again.
    absl::flat_hash_map<uint32_t, PostingEntries> again;
    RouteEntries(extra, kNoHead, &again);
    for (auto& [h, e] : again) CAIRN_RETURN_IF_ERROR(RewritePosting(h, e, allow_split));
    return absl::OkStatus();
  }
  PostingEntries cur;
  uint32_t stale = 0;
  CAIRN_RETURN_IF_ERROR(ReadPosting(head, &cur, &stale));
  s_.counters.cleaned += stale;
  if (!extra.ids.empty()) {
    absl::flat_hash_map<uint32_t, size_t> at;
    for (size_t i = 0; i < cur.size(); ++i) at.emplace(cur.ids[i], i);
    bool changed = stale > 0;
    for (size_t i = 0; i < extra.size(); ++i) {
      if (!s_.versions.IsLive(extra.ids[i], extra.versions[i])) continue;
      auto [it, fresh] = at.emplace(extra.ids[i], cur.size());
      if (fresh) {
        cur.Add(extra.ids[i], extra.versions[i], extra.vec(i));
        changed = true;
      } else if (cur.versions[it->second] != extra.versions[i]) {
        changed = true;
        // Both live is impossible (one version per id): keep the newer.
        cur.versions[it->second] = extra.versions[i];
        std::memcpy(cur.data.data() + it->second * cur.vec_bytes, extra.vec(i), cur.vec_bytes);
      }
    }
    if (!changed) return absl::OkStatus();
  } else if (stale == 0) {
    return absl::OkStatus();  // nothing to clean
  }
  if (cur.size() > p_.limit) {
    if (allow_split) return Split(head, std::move(cur));
    CAIRN_RETURN_IF_ERROR(WritePosting(head, cur));
    oversized_.push_back(head);
    return absl::OkStatus();
  }
  if (extra.ids.empty() && cur.size() < p_.min_posting) return Merge(head, std::move(cur));
  return WritePosting(head, cur);
}

absl::Status PostingMaintainer::SplitOversized() {
  // Reassignment after a split can overfill a neighbour, whose split
  // reassigns again: bound the cascade per call; what is left waits for the
  // next flush.
  size_t budget = 2 * oversized_.size() + 8;
  while (!oversized_.empty() && budget-- > 0) {
    const uint32_t h = oversized_.back();
    oversized_.pop_back();
    if (HeadRemoved(h)) continue;
    PostingEntries cur;
    uint32_t stale = 0;
    absl::Status s = ReadPosting(h, &cur, &stale);
    if (s.ok() && cur.size() > p_.limit) s = Split(h, std::move(cur));
    if (!s.ok()) {
      // Still too long (a full disk stopped the split): the next call retries.
      oversized_.push_back(h);
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status PostingMaintainer::DropFromPosting(uint32_t head,
                                                const absl::flat_hash_set<uint32_t>& ids) {
  PostingEntries cur, kept;
  uint32_t stale = 0;
  CAIRN_RETURN_IF_ERROR(ReadPosting(head, &cur, &stale));
  kept.vec_bytes = cur.vec_bytes;
  for (size_t i = 0; i < cur.size(); ++i) {
    if (!ids.contains(cur.ids[i])) kept.Add(cur.ids[i], cur.versions[i], cur.vec(i));
  }
  if (kept.size() == cur.size() && stale == 0) return absl::OkStatus();
  s_.counters.cleaned += stale;
  // No merge here: a posting that lost copies to a reassignment is not
  // underused, and merging it would feed the next split (a ping-pong that
  // was measured). Merges follow deletes, through cleaning.
  return WritePosting(head, kept);
}

// A posting too small to be worth a head: its vectors get copies (same
// version) in their next-best postings, then the head goes.
absl::Status PostingMaintainer::Merge(uint32_t head, PostingEntries&& entries) {
  uint32_t live_heads;
  {
    absl::ReaderMutexLock lock(&s_.heads_mu);
    live_heads = s_.heads.live_count();
  }
  // The last head stays. (Only maintenance changes the graph, so the count
  // holds after the lock is released.)
  if (live_heads <= 1) return WritePosting(head, entries);
  absl::flat_hash_map<uint32_t, PostingEntries> appends;
  RouteEntries(entries, head, &appends);
  for (auto& [h, e] : appends) CAIRN_RETURN_IF_ERROR(RewritePosting(h, e, false));
  {
    absl::WriterMutexLock lock(&s_.heads_mu);
    CAIRN_RETURN_IF_ERROR(s_.heads.Remove(head));
  }
  RetireHead(head);
  ++s_.counters.merges;
  return absl::OkStatus();
}

// Every search that may have picked the head before its removal entered at
// or before this epoch.
void PostingMaintainer::RetireHead(uint32_t head) {
  dead_heads_.emplace_back(head, s_.epochs.Retire());
}

void PostingMaintainer::ReapDeadHeads() {
  size_t keep = 0;
  for (const auto& [h, epoch] : dead_heads_) {
    if (!s_.epochs.SafeToReuse(epoch)) {
      dead_heads_[keep++] = {h, epoch};
      continue;
    }
    const uint64_t packed = s_.directory.Load(h);
    s_.directory.Store(h, 0);
    if (packed != 0) s_.store.Retire(UnpackExtent(packed), epoch);
  }
  dead_heads_.resize(keep);
}

absl::Status PostingMaintainer::CleanAll() {
  const uint32_t n = s_.directory.size();
  for (uint32_t h = 0; h < n; ++h) {
    if (s_.directory.Load(h) == 0) continue;
    CAIRN_RETURN_IF_ERROR(RewritePosting(h, PostingEntries{}, true));
  }
  return absl::OkStatus();
}

absl::Status PostingMaintainer::Relocate() {
  // Postings from the end of the file move into the lowest holes that fit;
  // after the next checkpoint their old extents are free and form the tail
  // that CommitRetired cuts off.
  const uint32_t n = s_.directory.size();
  std::vector<std::pair<uint64_t, uint32_t>> by_offset;
  for (uint32_t h = 0; h < n; ++h) {
    const uint64_t p = s_.directory.Load(h);
    if (p != 0) by_offset.emplace_back(ExtentOffset(p), h);
  }
  std::sort(by_offset.rbegin(), by_offset.rend());
  EpochManager& epochs = s_.epochs;
  auto safe = [&epochs](uint64_t epoch) { return epochs.SafeToReuse(epoch); };
  for (const auto& [offset, h] : by_offset) {
    const uint64_t hole = s_.store.LowestFit(ExtentBytes(s_.directory.Load(h)), safe);
    if (hole == 0 || hole >= offset) continue;
    PostingEntries cur;
    uint32_t stale = 0;
    CAIRN_RETURN_IF_ERROR(ReadPosting(h, &cur, &stale));
    CAIRN_RETURN_IF_ERROR(WritePosting(h, cur, /*lowest_first=*/true));
  }
  return absl::OkStatus();
}

}  // namespace cairn
