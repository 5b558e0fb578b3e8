// LiveIndex: the write path, search and statistics. Open/recovery/checkpoint
// live in live_index_open.cc, maintenance in live_maintenance.cc and the
// postings' writer in posting_maintainer.h.
#include "index/live/live_index.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/aligned_buffer.h"
#include "common/status_macros.h"
#include "common/summary.h"
#include "kernels/distance.h"
#include "index/live/live_internal.h"
#include "index/spann/posting_scan.h"
#include "index/spann/posting_search.h"
#include "index/spann/budget_search.h"
#include "index/spann/spann_limits.h"

namespace cairn {
namespace {

// ForEachLiveId names this many internal ids per hold of id_mu_.
constexpr uint32_t kLiveIdBatch = 4096;
// Most hints (heads of mostly stale postings) waiting for maintenance;
// searches drop theirs beyond it.
constexpr size_t kMaxHints = 4096;

}  // namespace

absl::Status LiveOptions::Validate() const {
  if (replicas > kMaxReplicas) {
    return absl::InvalidArgumentError(absl::StrCat("replicas must be <= ", kMaxReplicas));
  }
  if (candidates > kMaxCandidates) {
    return absl::InvalidArgumentError(absl::StrCat("candidates must be <= ", kMaxCandidates));
  }
  if (memtable_capacity > (1u << 24)) {
    return absl::InvalidArgumentError("memtable_capacity must be at most 2^24");
  }
  if (max_frozen_memtables == 0) {
    return absl::InvalidArgumentError("max_frozen_memtables must be >= 1");
  }
  if (reassign_k > kMaxReassignK) {
    return absl::InvalidArgumentError(absl::StrCat("reassign_k must be <= ", kMaxReassignK));
  }
  if (!(rng_factor >= 0)) return absl::InvalidArgumentError("rng_factor must be >= 0");
  if (std::isnan(closure_epsilon)) {
    return absl::InvalidArgumentError("closure_epsilon must be a number");
  }
  if (!(recalibrate_fraction >= 0)) {
    return absl::InvalidArgumentError("recalibrate_fraction must be >= 0");
  }
  if (calibration_queries == 0 || calibration_queries > 100000) {
    return absl::InvalidArgumentError("calibration_queries must be in [1, 100000]");
  }
  return absl::OkStatus();
}

// ---- Write path ------------------------------------------------------------

absl::Status LiveIndex::ValidateVector(const float* v, std::vector<float>* out) const {
  out->assign(v, v + dim_);
  for (uint32_t d = 0; d < dim_; ++d) {
    if (!std::isfinite(v[d])) {
      return absl::InvalidArgumentError(absl::StrCat("vector value ", d, " is not finite"));
    }
  }
  if (metric_ == Metric::kCosine) {
    double norm = 0;
    for (uint32_t d = 0; d < dim_; ++d) norm += double{v[d]} * v[d];
    if (norm == 0) return absl::InvalidArgumentError("a zero vector has no cosine direction");
    Normalize(out->data(), dim_);
  }
  if (stored_ != StoredType::kFloat32) {
    const float lo = stored_ == StoredType::kUInt8 ? 0.0f : -128.0f;
    const float hi = stored_ == StoredType::kUInt8 ? 255.0f : 127.0f;
    for (uint32_t d = 0; d < dim_; ++d) {
      const float x = (*out)[d];
      if (x != std::nearbyint(x) || x < lo || x > hi) {
        return absl::InvalidArgumentError(absl::StrCat(
            "value ", x, " at dimension ", d, " does not fit this index's stored type ",
            StoredTypeName(stored_), " (integers in [", lo, ", ", hi, "]); rebuild with "
            "--stored-type float32 to accept any value"));
      }
    }
  }
  return absl::OkStatus();
}

uint8_t LiveIndex::CurrentVersion(uint32_t id) const {
  auto it = inflight_.find(id);
  if (it != inflight_.end()) return it->second;
  return versions_->Get(id);
}

absl::Status LiveIndex::ApplyVersion(uint32_t id, uint8_t version) {
  const uint8_t cur = versions_->Get(id);
  if (!VersionIsNewer(version, cur)) return absl::OkStatus();  // versions only move forward
  const bool was_live = (cur & kVersionDeletedBit) == 0;
  const bool now_live = (version & kVersionDeletedBit) == 0;
  versions_->Set(id, version);
  live_vectors_ += static_cast<int>(now_live) - static_cast<int>(was_live);
  return absl::OkStatus();
}

absl::Status LiveIndex::AppendToMemtable(uint32_t id, uint8_t version, const float* v) {
  bool froze = false;
  {
    absl::MutexLock lock(&mem_mu_);
    if (active_->full()) {
      // The bound on frozen memtables is enforced before a write takes its
      // locks (WaitForRoom); here a full table is always frozen, so a
      // writer never waits while holding write_mu_.
      frozen_.push_back(active_);
      active_ = std::make_shared<MemTable>(memtable_capacity_, dim_);
      froze = true;
    }
    active_->Append(id, version, v);
  }
  if (froze) {
    absl::MutexLock lock(&bg_mu_);
    bg_cv_.SignalAll();
  }
  return absl::OkStatus();
}

absl::Status LiveIndex::WaitForRoom() {
  for (;;) {
    {
      absl::ReaderMutexLock lock(&mem_mu_);
      if (frozen_.size() < options_.max_frozen_memtables) return absl::OkStatus();
    }
    if (!bg_thread_.joinable()) {
      // No maintenance thread (tests, replay): the writer flushes.
      CAIRN_RETURN_IF_ERROR(DrainFrozen());
      continue;
    }
    absl::MutexLock lock(&bg_mu_);
    CAIRN_RETURN_IF_ERROR(bg_error_);
    // Maintenance cannot make room while the disk is full: the writer is
    // told so rather than held until space returns.
    CAIRN_RETURN_IF_ERROR(space_error_);
    bg_cv_.SignalAll();
    bg_cv_.WaitWithTimeout(&bg_mu_, absl::Milliseconds(20));
  }
}

void LiveIndex::FailWrites(const absl::Status& s) {
  // A full disk changed nothing half-way (posting writes, checkpoints and the
  // WAL undo themselves): maintenance retries and writers go on.
  if (IsOutOfSpace(s)) return;
  absl::MutexLock lock(&bg_mu_);
  if (bg_error_.ok()) bg_error_ = s;
}

void LiveIndex::AbandonWrite(const std::vector<std::pair<uint32_t, uint8_t>>& applied,
                             const std::vector<std::pair<ExternalId, uint32_t>>& moved) {
  if (!wal_->status().ok()) {
    // The WAL is poisoned: what it holds of this write is unknown.
    FailWrites(wal_->status());
    return;
  }
  // Nothing of the write is in the WAL (it cut the failed group off): its
  // versions are issued again and moved ids go back.
  absl::MutexLock lock(&write_mu_);
  absl::MutexLock id_lock(&id_mu_);
  for (const auto& [internal, version] : applied) {
    auto it = inflight_.find(internal);
    if (it != inflight_.end() && it->second == version) inflight_.erase(it);
  }
  for (auto it = moved.rbegin(); it != moved.rend(); ++it) {
    if (absl::Status b = ids_.Bind(it->first, it->second); !b.ok()) {
      absl::MutexLock bg(&bg_mu_);
      if (bg_error_.ok()) bg_error_ = b;
    }
  }
}

absl::Status LiveIndex::health() {
  absl::MutexLock lock(&bg_mu_);
  return bg_error_;
}

absl::Status LiveIndex::Upsert(const std::vector<Item>& items) {
  CAIRN_RETURN_IF_ERROR(health());
  std::vector<std::vector<float>> vecs(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    absl::Status s = ValidateVector(items[i].vector, &vecs[i]);
    if (!s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("point ", items[i].id.ToString(), ": ",
                                                     s.message()));
    }
  }
  if (items.empty()) return absl::OkStatus();
  CAIRN_RETURN_IF_ERROR(WaitForRoom());
  absl::ReaderMutexLock wal_lock(&wal_mu_);
  std::vector<std::pair<uint8_t, std::string>> records;
  std::vector<std::pair<uint32_t, uint8_t>> applied;  // (internal, version); deletes too
  std::vector<int> vec_of;                             // item index or -1 for a delete
  std::vector<std::pair<ExternalId, uint32_t>> moved;  // (id, internal id it left)
  {
    absl::MutexLock lock(&write_mu_);
    absl::MutexLock id_lock(&id_mu_);
    for (size_t i = 0; i < items.size(); ++i) {
      bool created = false;
      CAIRN_ASSIGN_OR_RETURN(uint32_t internal, ids_.FindOrAssign(items[i].id, &created));
      uint8_t version = 1;
      if (!created) {
        const uint8_t cur = CurrentVersion(internal) & 0x7F;
        if (VersionMap::WouldWrap(cur)) {
          // 127 versions used: retire this internal id (a delete record) and
          // move the external id to a fresh one, so no stale copy can ever
          // match a wrapped version.
          const uint8_t dead = cur | kVersionDeletedBit;
          records.emplace_back(kWalDelete, EncodeWalDelete(internal, dead, items[i].id));
          applied.emplace_back(internal, dead);
          vec_of.push_back(-1);
          inflight_[internal] = dead;
          moved.emplace_back(items[i].id, internal);
          internal = ids_.next_internal();
          CAIRN_RETURN_IF_ERROR(ids_.Bind(items[i].id, internal));
          version = 1;
        } else {
          version = VersionMap::NextVersion(cur);
        }
      }
      inflight_[internal] = version;
      records.emplace_back(kWalUpsert,
                           EncodeWalUpsert(internal, version, items[i].id, vecs[i].data(), dim_));
      applied.emplace_back(internal, version);
      vec_of.push_back(static_cast<int>(i));
    }
  }
  auto seq = wal_->AppendBatch(records, options_.sync_writes);
  if (!seq.ok()) {
    AbandonWrite(applied, moved);
    return seq.status();
  }
  absl::MutexLock lock(&write_mu_);
  for (size_t r = 0; r < applied.size(); ++r) {
    const auto [internal, version] = applied[r];
    if (vec_of[r] >= 0) {
      CAIRN_RETURN_IF_ERROR(AppendToMemtable(internal, version, vecs[vec_of[r]].data()));
    }
    CAIRN_RETURN_IF_ERROR(ApplyVersion(internal, version));
    auto it = inflight_.find(internal);
    if (it != inflight_.end() && it->second == version) inflight_.erase(it);
  }
  n_upserts_ += items.size();
  return absl::OkStatus();
}

bool LiveIndex::Contains(const ExternalId& id) {
  std::optional<uint32_t> internal;
  {
    absl::ReaderMutexLock lock(&id_mu_);
    internal = ids_.Find(id);
  }
  return internal.has_value() && (versions_->Get(*internal) & VersionMap::kDeleted) == 0;
}

void LiveIndex::ForEachLiveId(const std::function<bool(const ExternalId&)>& fn) {
  std::vector<ExternalId> batch;
  for (uint32_t start = 0;; start += kLiveIdBatch) {
    batch.clear();
    const uint32_t end = versions_->size();
    if (start >= end) return;
    {
      absl::ReaderMutexLock lock(&id_mu_);
      for (uint32_t i = start; i < std::min(end, start + kLiveIdBatch); ++i) {
        if ((versions_->Get(i) & VersionMap::kDeleted) != 0) continue;
        if (auto ext = ids_.External(i); ext.has_value()) batch.push_back(*ext);
      }
    }
    for (const ExternalId& id : batch) {
      if (!fn(id)) return;
    }
  }
}

absl::Status LiveIndex::Delete(const std::vector<ExternalId>& ids, uint64_t* deleted) {
  CAIRN_RETURN_IF_ERROR(health());
  if (deleted != nullptr) *deleted = 0;
  absl::ReaderMutexLock wal_lock(&wal_mu_);
  std::vector<std::pair<uint8_t, std::string>> records;
  std::vector<std::pair<uint32_t, uint8_t>> applied;
  {
    absl::MutexLock lock(&write_mu_);
    absl::ReaderMutexLock id_lock(&id_mu_);
    for (const ExternalId& id : ids) {
      auto internal = ids_.Find(id);
      if (!internal.has_value()) continue;
      const uint8_t cur = CurrentVersion(*internal);
      if ((cur & kVersionDeletedBit) != 0) continue;
      // A delete takes a version of its own, so that a replayed or late
      // upsert with an older version can never revive the vector.
      const uint8_t cur7 = cur & 0x7F;
      const uint8_t dead = (VersionMap::WouldWrap(cur7) ? cur7 : VersionMap::NextVersion(cur7)) |
                           kVersionDeletedBit;
      inflight_[*internal] = dead;
      records.emplace_back(kWalDelete, EncodeWalDelete(*internal, dead, id));
      applied.emplace_back(*internal, dead);
    }
  }
  if (records.empty()) return absl::OkStatus();
  auto seq = wal_->AppendBatch(records, options_.sync_writes);
  if (!seq.ok()) {
    AbandonWrite(applied, {});
    return seq.status();
  }
  absl::MutexLock lock(&write_mu_);
  for (const auto& [internal, version] : applied) {
    CAIRN_RETURN_IF_ERROR(ApplyVersion(internal, version));
    auto it = inflight_.find(internal);
    if (it != inflight_.end() && it->second == version) inflight_.erase(it);
  }
  if (deleted != nullptr) *deleted = applied.size();
  n_deletes_ += applied.size();
  return absl::OkStatus();
}

// ---- Search ----------------------------------------------------------------

struct LiveSearchContext::Impl {
  explicit Impl(EpochManager* epochs) : slot(epochs) {}
  EpochManager::Slot slot;
  std::unique_ptr<BlockReader> reader;
  AlignedBuffer buffer{kDirectIoAlignment};
  std::vector<ReadRequest> requests;
  std::vector<uint32_t> request_head;
  std::vector<uint32_t> hint;
  std::vector<HeadHit> hits;
  std::vector<float> query;
  VisitedSet visited;
  std::vector<Neighbor> heap;
  std::vector<std::shared_ptr<MemTable>> mems;
};

LiveSearchContext::~LiveSearchContext() = default;

absl::StatusOr<std::unique_ptr<LiveSearchContext>> LiveIndex::NewContext() {
  std::unique_ptr<LiveSearchContext> ctx(new LiveSearchContext());
  ctx->impl_ = std::make_unique<LiveSearchContext::Impl>(&epochs_);
  CAIRN_ASSIGN_OR_RETURN(ctx->impl_->reader,
                         OpenBlockReader(store_path_, options_.io));
  return ctx;
}

absl::StatusOr<size_t> LiveIndex::HeadsForTarget(const float* q, const SpannSearchParams& params,
                                                  std::vector<HeadHit>* hits) {
  const std::shared_ptr<const PostingBudget> budget = posting_budget();
  if (budget == nullptr) {
    return absl::FailedPreconditionError(
        "target_recall needs a posting budget, fitted once the index holds " +
        std::to_string(options_.recalibrate_min_vectors) + " vectors");
  }
  return RoutedHeads(
      *budget, params, metric_, q, dim_,
      [&](uint32_t n, uint32_t ef, std::vector<HeadHit>* out) {
        absl::ReaderMutexLock lock(&heads_mu_);
        heads_->Search(q, n, ef, out);
      },
      hits);
}

absl::Status LiveIndex::Search(const float* query, const SpannSearchParams& params,
                               LiveSearchContext* context, std::vector<LiveResult>* out,
                               SearchStats* stats) {
  CAIRN_RETURN_IF_ERROR(params.Validate());
  LiveSearchContext::Impl& c = *context->impl_;
  SearchStats local;
  const float* q = nullptr;
  CAIRN_RETURN_IF_ERROR(PrepareQuery(query, dim_, metric_, &c.query, &q));
  const DistanceKernels& kern = Kernels();
  const bool l2 = metric_ == Metric::kL2;
  const float dist_offset = metric_ == Metric::kCosine ? 1.0f : 0.0f;
  const uint32_t k = params.k;
  const VersionMap& vmap = *versions_;
  auto live = [&vmap](uint32_t id, uint8_t version) { return vmap.IsLive(id, version); };

  c.slot.Enter();
  struct ExitGuard {
    EpochManager::Slot* s;
    ~ExitGuard() { s->Exit(); }
  } guard{&c.slot};

  // Memtables: exact scan, newest first.
  c.mems.clear();
  {
    absl::ReaderMutexLock lock(&mem_mu_);
    c.mems.push_back(active_);
    for (auto it = frozen_.rbegin(); it != frozen_.rend(); ++it) c.mems.push_back(*it);
  }
  size_t buffered = 0;
  for (const auto& m : c.mems) buffered += m->size();

  const auto t0 = std::chrono::steady_clock::now();
  size_t keep = 0;
  if (params.target_recall > 0) {
    CAIRN_ASSIGN_OR_RETURN(keep, HeadsForTarget(q, params, &c.hits));
  } else {
    const uint32_t ef = std::max(params.head_ef > 0 ? params.head_ef : 32u, params.max_postings);
    absl::ReaderMutexLock lock(&heads_mu_);
    heads_->Search(q, params.max_postings, ef, &c.hits);
    keep = c.hits.size();
  }
  const auto t1 = std::chrono::steady_clock::now();
  local.head_ns = Nanos(t0, t1);

  keep = std::min(keep, PruneByRatio(c.hits, params.epsilon, metric_));
  const size_t entry_bytes = PostingEntryBytes(dim_, stored_);
  uint64_t total_bytes = 0;
  c.requests.clear();
  c.request_head.clear();
  for (size_t i = 0; i < keep; ++i) {
    const uint64_t packed = directory_.Load(c.hits[i].head);
    if (packed == 0) continue;  // split or merged away since the head search
    c.requests.push_back(ReadRequest{ExtentOffset(packed), ExtentBytes(packed), nullptr, 0,
                                     c.requests.size()});
    c.request_head.push_back(c.hits[i].head);
    total_bytes += ExtentBytes(packed);
  }
  c.buffer.Resize(std::max<uint64_t>(total_bytes, kDirectIoAlignment));
  uint64_t offset = 0;
  for (auto& r : c.requests) {
    r.buffer = c.buffer.data() + offset;
    offset += r.length;
  }
  c.visited.Reset(buffered + total_bytes / std::max<size_t>(entry_bytes, 1));
  c.heap.clear();

  for (const auto& m : c.mems) {
    const uint32_t n = m->size();
    for (uint32_t i = 0; i < n; ++i) {
      const uint32_t id = m->id(i);
      if (!vmap.IsLive(id, m->version(i)) || !c.visited.Insert(id)) continue;
      float d = l2 ? kern.l2_f32(q, m->vector(i), dim_) : kern.dot_f32(q, m->vector(i), dim_);
      if (!l2) d = dist_offset - d;
      ++local.buffered_scanned;
      PushTopK(Neighbor{d, id}, k, c.heap);
    }
  }

  std::vector<uint32_t>& hint = c.hint;
  hint.clear();
  CAIRN_RETURN_IF_ERROR(ReadAndScanPostings(
      c.reader.get(), c.requests.data(), c.requests.size(), store_path_, dim_, stored_, metric_, q,
      k, c.visited, c.heap, local, live,
      [&](const ReadRequest& r, uint32_t stale, uint32_t count) {
        // Mostly stale postings are worth a rewrite: tell maintenance.
        if (stale * 2 > count) hint.push_back(c.request_head[r.user_data]);
      },
      codes_ != nullptr ? codes_->entry_bytes() : 0));
  if (!hint.empty() && hint_mu_.TryLock()) {
    if (hints_.size() < kMaxHints) hints_.insert(hints_.end(), hint.begin(), hint.end());
    hint_mu_.Unlock();
  }
  std::sort_heap(c.heap.begin(), c.heap.end(), Worse);
  out->clear();
  {
    absl::ReaderMutexLock lock(&id_mu_);
    for (const Neighbor& n : c.heap) {
      auto ext = ids_.External(n.id);
      if (!ext.has_value()) continue;  // id moved by a concurrent upsert
      out->push_back(LiveResult{n.distance, n.id, *ext});
    }
  }
  if (stats != nullptr) stats->Add(local);
  return absl::OkStatus();
}

// ---- Stats -----------------------------------------------------------------

LiveStats LiveIndex::stats() {
  LiveStats s;
  s.live_vectors = static_cast<uint64_t>(std::max<int64_t>(0, live_vectors_.load()));
  s.upserts = n_upserts_;
  s.deletes = n_deletes_;
  s.flushes = n_flushes_;
  s.flushed_vectors = n_flushed_;
  s.posting_rewrites = maintenance_counts_.rewrites;
  s.cleaned_entries = maintenance_counts_.cleaned;
  s.splits = maintenance_counts_.splits;
  s.merges = maintenance_counts_.merges;
  s.reassign_candidates = maintenance_counts_.candidates;
  s.reassigned = maintenance_counts_.reassigned;
  s.checkpoints = n_checkpoints_;
  s.wal_records_replayed = n_replayed_;
  {
    absl::MutexLock lock(&budget_mu_);
    s.calibrations = calibrations_;
    s.calibrated_vectors = budget_ != nullptr ? budget_->num_vectors() : 0;
  }
  uint64_t resident = 0;
  {
    absl::ReaderMutexLock lock(&heads_mu_);
    s.live_heads = heads_->live_count();
    s.total_heads = heads_->size();
    resident += heads_->MemoryBytes();
  }
  resident += uint64_t{directory_.size()} * sizeof(uint64_t);
  resident += versions_->ResidentBytes();
  {
    absl::ReaderMutexLock lock(&id_mu_);
    resident += ids_.ResidentBytes();
  }
  {
    absl::ReaderMutexLock lock(&mem_mu_);
    s.buffered = active_->size();
    resident += active_->ResidentBytes();
    for (const auto& m : frozen_) {
      s.buffered += m->size();
      resident += m->ResidentBytes();
    }
  }
  s.store = maintainer_->store_stats();
  {
    absl::ReaderMutexLock lock(&wal_mu_);
    s.wal_bytes = wal_->bytes();
  }
  s.resident_bytes = resident;
  return s;
}

}  // namespace cairn
