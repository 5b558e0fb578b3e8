// LiveIndex maintenance: the background thread, flushing frozen memtables
// into postings, search hints, and the Flush and Compact entry points. The
// postings themselves are written by PostingMaintainer
// (index/live/posting_maintainer.h), always under maint_mu_.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "index/live/live_index.h"
#include "index/live/live_internal.h"
#include "index/spann/spann_limits.h"

namespace cairn {
namespace {

// Retired extents below this many bytes never trigger a checkpoint by
// themselves (MaintenanceLoop).
constexpr uint64_t kMinRetiredBytesToCheckpoint = uint64_t{64} << 20;
// After a pass failed for a full disk, the next waits this long (unless a
// writer or Flush wakes it), so a full disk is not hammered.
constexpr absl::Duration kFullDiskRetry = absl::Milliseconds(250);

// The caller validated that the values fit (LiveIndex::ValidateVector).
void FromFloat(StoredType type, const float* src, uint32_t dim, uint8_t* out) {
  switch (type) {
    case StoredType::kFloat32:
      std::memcpy(out, src, sizeof(float) * dim);
      break;
    case StoredType::kUInt8:
      for (uint32_t d = 0; d < dim; ++d) out[d] = static_cast<uint8_t>(src[d]);
      break;
    case StoredType::kInt8:
      for (uint32_t d = 0; d < dim; ++d) out[d] = static_cast<uint8_t>(static_cast<int8_t>(src[d]));
      break;
  }
}

}  // namespace

absl::Status LiveIndex::FlushMemtable(const MemTable& m) {
  absl::flat_hash_map<uint32_t, PostingEntries> appends;
  std::vector<uint8_t> stored(size_t{dim_} * StoredTypeSize(stored_));
  uint64_t flushed = 0;
  {
    // An index created empty (or emptied by merges) has no head to route
    // to: the first live vector becomes one; splits grow the rest.
    absl::WriterMutexLock lock(&heads_mu_);
    if (heads_->live_count() == 0) {
      for (uint32_t i = 0; i < m.size(); ++i) {
        if (!versions_->IsLive(m.id(i), m.version(i))) continue;
        const uint32_t nh = directory_.size();
        CAIRN_RETURN_IF_ERROR(heads_->Add(m.vector(i), nh));
        directory_.Store(nh, 0);
        break;
      }
    }
  }
  std::vector<std::vector<uint32_t>> routes;
  maintainer_->AssignMany(m.vector(0), m.size(), kNoHead, &routes);
  for (uint32_t i = 0; i < m.size(); ++i) {
    if (!versions_->IsLive(m.id(i), m.version(i))) continue;
    if (routes[i].empty()) {
      // Flushing would drop the vector from the index while the WAL forgets
      // it (issue 15's lost index): fail instead, so the memtable and its
      // log stay until a reopen.
      return absl::InternalError(absl::StrCat(
          "flush found no head for live id ", m.id(i), "; the memtable is kept"));
    }
    FromFloat(stored_, m.vector(i), dim_, stored.data());
    for (uint32_t h : routes[i]) {
      PostingEntries& e = appends[h];
      e.vec_bytes = stored.size();
      e.Add(m.id(i), m.version(i), stored.data());
    }
    ++flushed;
  }
  std::vector<uint32_t> order;
  order.reserve(appends.size());
  for (const auto& [h, e] : appends) order.push_back(h);
  std::sort(order.begin(), order.end());
  for (uint32_t h : order) CAIRN_RETURN_IF_ERROR(maintainer_->RewritePosting(h, appends[h], true));
  CAIRN_RETURN_IF_ERROR(maintainer_->SplitOversized());
  ++n_flushes_;
  n_flushed_ += flushed;
  return absl::OkStatus();
}

absl::Status LiveIndex::DrainFrozen() {
  absl::MutexLock lock(&maint_mu_);
  return DrainFrozenLocked();
}

absl::Status LiveIndex::DrainFrozenLocked(size_t max_tables) {
  for (size_t done = 0; done < max_tables; ++done) {
    maintainer_->ReapDeadHeads();
    std::shared_ptr<MemTable> m;
    {
      absl::ReaderMutexLock lock(&mem_mu_);
      if (frozen_.empty()) return absl::OkStatus();
      m = frozen_.front();
    }
    CAIRN_RETURN_IF_ERROR(FlushMemtable(*m));
    {
      absl::MutexLock lock(&mem_mu_);
      frozen_.pop_front();
    }
    absl::MutexLock lock(&bg_mu_);
    bg_cv_.SignalAll();
  }
  return absl::OkStatus();
}

absl::Status LiveIndex::ProcessHints() {
  std::vector<uint32_t> hints;
  {
    absl::MutexLock lock(&hint_mu_);
    hints.swap(hints_);
  }
  std::sort(hints.begin(), hints.end());
  hints.erase(std::unique(hints.begin(), hints.end()), hints.end());
  for (uint32_t h : hints) {
    bool removed;
    {
      absl::ReaderMutexLock lock(&heads_mu_);
      removed = heads_->removed(h);
    }
    if (!removed) CAIRN_RETURN_IF_ERROR(maintainer_->RewritePosting(h, PostingEntries{}, true));
  }
  return absl::OkStatus();
}

absl::Status LiveIndex::Flush() {
  CAIRN_RETURN_IF_ERROR(health());
  {
    absl::ReaderMutexLock lock(&wal_mu_);  // no write is half-applied
    CAIRN_RETURN_IF_ERROR(FreezeActive());
  }
  absl::MutexLock lock(&maint_mu_);
  absl::Status s = DrainFrozenLocked();
  if (s.ok()) s = maintainer_->SplitOversized();
  if (!s.ok()) FailWrites(s);
  return s;
}

absl::Status LiveIndex::Compact() {
  CAIRN_RETURN_IF_ERROR(Flush());
  absl::MutexLock lock(&maint_mu_);
  // Clean, checkpoint (freed extents become holes), move postings down into
  // the holes, checkpoint again (the vacated tail is cut).
  absl::Status s = maintainer_->CleanAll();
  if (s.ok()) s = DoCheckpoint();
  if (s.ok()) s = maintainer_->Relocate();
  if (s.ok()) s = DoCheckpoint();
  if (!s.ok()) FailWrites(s);
  return s;
}

void LiveIndex::MaintenanceLoop() {
  for (;;) {
    {
      absl::MutexLock lock(&bg_mu_);
      if (stop_) return;
      bool frozen;
      {
        absl::ReaderMutexLock m(&mem_mu_);
        frozen = !frozen_.empty();
      }
      if (!frozen) bg_cv_.WaitWithTimeout(&bg_mu_, absl::Milliseconds(100));
      if (stop_) return;
      if (!bg_error_.ok()) continue;
    }
    absl::Status s;
    {
      absl::MutexLock lock(&maint_mu_);
      // One memtable per round, so that a checkpoint (which frees space)
      // is considered even while writers keep the queue full.
      s = DrainFrozenLocked(1);
      if (s.ok()) s = ProcessHints();
      uint64_t wal_bytes;
      {
        absl::ReaderMutexLock w(&wal_mu_);
        wal_bytes = wal_->bytes();
      }
      // Retired extents are reusable only after a checkpoint: checkpoint
      // when they would otherwise grow the file by half its live size.
      const PostingStoreStats ps = store_->stats();
      const bool space =
          ps.retired_bytes > std::max<uint64_t>(kMinRetiredBytesToCheckpoint, ps.live_bytes / 2);
      if (s.ok() && (wal_bytes > options_.checkpoint_wal_bytes || space)) s = DoCheckpoint();
    }
    if (IsOutOfSpace(s)) {
      // Every step leaves the index whole when a write does not fit (a
      // memtable stays frozen until its flush completes): retry later.
      absl::MutexLock lock(&bg_mu_);
      if (space_error_.ok()) {
        std::fprintf(stderr, "cairn: live index %s: maintenance waits for disk space: %s\n",
                     dir_.c_str(), std::string(s.message()).c_str());
      }
      space_error_ = s;
      if (!stop_) bg_cv_.WaitWithTimeout(&bg_mu_, kFullDiskRetry);
      continue;
    }
    if (!s.ok()) {
      std::fprintf(stderr, "cairn: live index %s: maintenance stopped: %s\n", dir_.c_str(),
                   std::string(s.message()).c_str());
      FailWrites(s);
      continue;
    }
    {
      absl::MutexLock lock(&bg_mu_);
      if (!space_error_.ok()) {
        std::fprintf(stderr, "cairn: live index %s: maintenance resumed\n", dir_.c_str());
        space_error_ = absl::OkStatus();
      }
    }
    // Outside maint_mu_ but for the copy of the postings: the fit itself
    // (exact ground truth of sampled vectors) takes seconds on a large
    // index. A failure costs only target_recall freshness.
    if (CalibrationDue()) {
      absl::Status c = Recalibrate();
      if (!c.ok()) {
        std::fprintf(stderr, "cairn: live index %s: posting budget not refitted: %s\n",
                     dir_.c_str(), std::string(c.message()).c_str());
        NoteCalibrationFailure();
      }
    }
  }
}

absl::Status LiveIndex::space_error() {
  absl::MutexLock lock(&bg_mu_);
  return space_error_;
}

}  // namespace cairn
