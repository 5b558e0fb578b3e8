// A SPANN index that takes writes: upserts and deletes by external id while
// searches run, with a write-ahead log, SPFresh-style posting maintenance
// (clean, split + LIRE reassignment, merge) on a background thread, and
// checkpoints. Protocols in docs/live_updates.md; file formats in
// docs/formats.md.
//
// Write path (Upsert/Delete, any thread):
//   1. under write_mu_: map external ids to internal ids, issue versions
//      (strictly increasing per internal id: upserts v+1, deletes v+1 with the
//      deleted bit; a fresh internal id when 7 bits would wrap);
//   2. append the records to the WAL (group commit, fsync unless relaxed);
//   3. under write_mu_: apply: the vector goes into the active memtable and
//      the version map moves forward (never backward). Then acknowledge.
//   Steps 1-3 run under wal_mu_ held shared, so a WAL rotation (exclusive)
//   sees no write half-done.
// Search (any thread, its own LiveSearchContext): scans the memtables
// exactly, then the nearest postings as SpannIndex does; an entry counts only
// if its version byte equals the version map's (deleted and superseded
// copies are skipped). Postings are immutable extents (copy-on-write); a
// freed extent is reused only after a checkpoint and after every reader that
// might hold it has left (epochs, common/epoch.h).
// Maintenance (one background thread, or a caller of Flush/Checkpoint/
// Compact; one pass at a time under maint_mu_): flushes frozen memtables
// into postings and checkpoints. The postings are written only by the
// PostingMaintainer (index/live/posting_maintainer.h, which states what it
// locks and what searches see meanwhile): clean, split with LIRE
// reassignment, merge.
//
// Locking order: maint_mu_ before wal_mu_ (shared for writers, exclusive for
// rotation) before write_mu_ before id_mu_ and bg_mu_; bg_mu_ before mem_mu_.
// heads_mu_, id_mu_, mem_mu_, hint_mu_ and budget_mu_ are leaves. Writers
// never take maint_mu_ while holding another lock (backpressure waits before
// step 1).
// Search takes only heads_mu_ and mem_mu_ shared, briefly, hint_mu_ with
// TryLock (it never waits for it), and id_mu_ shared to name its results.
#ifndef CAIRN_INDEX_LIVE_LIVE_INDEX_H_
#define CAIRN_INDEX_LIVE_LIVE_INDEX_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/epoch.h"
#include "index/live/id_map.h"
#include "index/live/memtable.h"
#include "index/live/posting_directory.h"
#include "index/live/posting_maintainer.h"
#include "index/routing/posting_budget.h"
#include "index/spann/head_index.h"
#include "index/spann/search_types.h"
#include "index/spann/spann_files.h"
#include "index/spann/spann_index.h"
#include "index/spann/spann_limits.h"
#include "storage/block_reader.h"
#include "storage/env.h"
#include "storage/file_lock.h"
#include "storage/posting_store.h"
#include "storage/wal.h"

namespace cairn {

struct LiveOptions {
  Env* env = nullptr;  // nullptr: Env::Default()
  BlockReaderOptions io;
  // fsync the WAL before acknowledging a write (group commit). false: the
  // relaxed mode, where a crash may lose the last writes of the OS's page
  // cache window (about 30 s) but never corrupts the index.
  bool sync_writes = true;
  // 0: take the bulk build's values from the manifest.
  uint32_t replicas = 0;
  uint32_t candidates = 0;
  double rng_factor = 0;
  // Closure cap: skip heads farther than (1 + eps) x the nearest. Negative:
  // the bulk build's (--closure-epsilon; off unless the build set it);
  // infinity: off.
  double closure_epsilon = -1;
  uint32_t posting_limit = 0;  // split above this many live entries
  uint32_t min_posting = 0;    // merge below this many; 0: limit / 16, at least 2
  // Neighbour postings checked after a split (LIRE).
  uint32_t reassign_k = kDefaultReassignK;
  // Vectors per memtable; 0: about 1 MiB of floats (256 at 784-d, 2048 at
  // 128-d). Searches scan every memtable exactly, so (1 + max_frozen) x this
  // bounds their extra work.
  uint32_t memtable_capacity = 0;
  uint32_t max_frozen_memtables = 2;  // writers wait beyond this (backpressure)
  uint64_t checkpoint_wal_bytes = uint64_t{256} << 20;  // auto checkpoint
  bool background = true;  // false: maintenance only in Flush/Checkpoint (tests)
  // target_recall searches use a posting budget fitted on the live vectors
  // (index/spann/route_calibration.h). Maintenance refits it once at least
  // recalibrate_min_vectors are live and writes since the last fit exceed
  // this fraction of the vectors it was fitted on; 0: never (the bulk
  // build's budget, if any, stays).
  double recalibrate_fraction = 0.25;
  uint64_t recalibrate_min_vectors = 1000;
  uint32_t calibration_queries = 1000;  // sampled from the live vectors
  absl::Status Validate() const;
};

struct LiveStats {
  uint64_t live_vectors = 0;
  uint64_t upserts = 0, deletes = 0;
  uint64_t flushes = 0, flushed_vectors = 0;
  uint64_t posting_rewrites = 0, cleaned_entries = 0;
  uint64_t splits = 0, merges = 0;
  uint64_t reassign_candidates = 0, reassigned = 0;
  uint64_t checkpoints = 0;
  uint64_t wal_records_replayed = 0;
  uint32_t live_heads = 0, total_heads = 0;
  uint32_t buffered = 0;  // vectors in memtables
  uint64_t wal_bytes = 0;
  uint64_t calibrations = 0;       // budgets fitted since open
  uint64_t calibrated_vectors = 0;  // vectors the serving budget was fitted on; 0: none
  PostingStoreStats store;
  uint64_t resident_bytes = 0;
};

// Where a vector sits, for diagnosing a point that a search does not reach.
struct HeadPlacement {
  uint32_t head = 0;
  uint32_t exact_rank = 0;     // 0 = nearest live head to the vector, by exact distance
  int32_t graph_rank = -1;     // rank in the head-graph search for it, -1 if not returned
  float distance = 0;          // true (not squared) distance vector to head
};
struct PlacementReport {
  bool buffered = false;                // still in a memtable (always reached)
  std::vector<HeadPlacement> postings;  // heads whose posting holds the live version
  uint32_t live_heads = 0;
};

struct LiveResult {
  float distance;
  uint32_t internal_id;
  ExternalId id;
};

class LiveIndex;

class LiveSearchContext {
 public:
  ~LiveSearchContext();

 private:
  friend class LiveIndex;
  LiveSearchContext() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class LiveIndex {
 public:
  // Opens a bulk-built index directory (cairn build) for reads and writes:
  // loads the last checkpoint (or the bulk build), replays the WAL, starts
  // maintenance. DataLossError naming the file on any corruption.
  static absl::StatusOr<std::unique_ptr<LiveIndex>> Open(const std::string& dir,
                                                         const LiveOptions& options);
  ~LiveIndex();  // stops maintenance; does not checkpoint (the WAL has it all)

  struct Item {
    ExternalId id;
    const float* vector;  // dim floats
  };
  // All or nothing per call: every vector is validated (finite, fits the
  // stored type) before anything is logged.
  absl::Status Upsert(const std::vector<Item>& items);
  // Deleting an unknown id is not an error; *deleted counts the known ones.
  absl::Status Delete(const std::vector<ExternalId>& ids, uint64_t* deleted);

  absl::StatusOr<std::unique_ptr<LiveSearchContext>> NewContext();
  absl::Status Search(const float* query, const SpannSearchParams& params,
                      LiveSearchContext* context, std::vector<LiveResult>* out,
                      SearchStats* stats);

  // Waits until every acknowledged write is in the postings.
  absl::Status Flush();
  // Flush, then persist directory, heads, id map and version map and swap
  // the manifest; the WAL before it is dropped.
  absl::Status Checkpoint();
  // Rewrites every posting holding stale entries, then checkpoints (which
  // gives freed space back).
  absl::Status Compact();

  LiveStats stats();
  // The posting budget target_recall searches use, or null (none fitted
  // yet: the index holds too few vectors, or was built without it).
  std::shared_ptr<const PostingBudget> posting_budget() const;
  // Fits the budget on the live vectors in postings now, writes
  // routing.budget and serves it. Maintenance calls it when due.
  absl::Status Recalibrate();
  // The checks Upsert makes of one vector (finite, fits the stored type,
  // not zero for cosine), without writing anything.
  absl::Status CheckVector(const float* v) const {
    std::vector<float> scratch;
    return ValidateVector(v, &scratch);
  }
  // Whether `id` has a live (not deleted) vector.
  bool Contains(const ExternalId& id);
  // Calls fn for every live id until it returns false. Holds the id lock
  // per batch of ids, not throughout (writers proceed in between).
  void ForEachLiveId(const std::function<bool(const ExternalId&)>& fn);
  // Reads every posting (slow: for tools and tests) and says which heads
  // hold `id`'s live version, and how near `vector` those heads rank, by
  // exact distance and in a head-graph search of `graph_n` heads.
  absl::StatusOr<PlacementReport> Placement(const ExternalId& id, const float* vector,
                                            uint32_t graph_n = 16);
  // Live entries in all postings (every copy of every live vector); divided
  // by stats().live_vectors - buffered it is the replicas per vector. Reads
  // every posting.
  absl::StatusOr<uint64_t> CountPostingEntries();
  // Coded indexes: re-encodes every posting entry against its posting's
  // head and fails naming the first whose stored code differs (a code left
  // from an earlier head). Returns the entries checked (0 without codes).
  // Reads every posting.
  absl::StatusOr<uint64_t> CheckCodes();
  uint32_t dim() const { return dim_; }
  Metric metric() const { return metric_; }
  StoredType stored_type() const { return stored_; }
  // The first error of the maintenance thread or the WAL; writes fail with it
  // until the index is reopened. A full disk is not such an error: a write
  // the WAL cannot take fails alone, and maintenance retries (see
  // space_error()).
  absl::Status health();
  // OK, or the full-disk error of the last maintenance pass, which failed
  // and will be retried. Writers get it instead of waiting when the frozen
  // memtables are at their limit (max_frozen_memtables).
  absl::Status space_error();

 private:
  LiveIndex() = default;

  // Open and recovery (live_index_open.cc). Single-threaded: the index is not
  // shared yet.
  absl::Status LoadCheckpoint();
  // The checkpoint named by live.manifest: heads, directory (*packed), id and
  // version maps; the postings file's committed length.
  absl::Status LoadLiveGeneration(const std::string& manifest_path, std::vector<uint64_t>* packed,
                                  uint64_t* postings_bytes);
  // Generation 0: the bulk build's heads and directory, identity id map.
  absl::Status LoadBulkBuild(std::vector<uint64_t>* packed, uint64_t* postings_bytes);
  // Fills the directory (dropping removed heads' postings) and opens the
  // posting store over the extents it references.
  absl::Status InstallPostings(std::vector<uint64_t> packed, uint64_t postings_bytes);
  // Files of other generations, left by a crash after a checkpoint's commit.
  absl::Status RemoveOtherGenerations();
  absl::Status Replay();
  absl::Status ApplyWalRecord(uint8_t type, std::string_view payload);

  // Write path.
  absl::Status ValidateVector(const float* v, std::vector<float>* normalised) const;
  absl::Status AppendToMemtable(uint32_t id, uint8_t version, const float* v)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  absl::Status WaitForRoom() ABSL_LOCKS_EXCLUDED(write_mu_);
  absl::Status ApplyVersion(uint32_t id, uint8_t version) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  uint8_t CurrentVersion(uint32_t id) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Stops writes until a reopen, unless `s` is a full disk (IsOutOfSpace),
  // which leaves nothing half-done and passes.
  void FailWrites(const absl::Status& s);
  // After the WAL refused a write: undoes its versions in flight and id
  // moves, or stops writes if the WAL is poisoned.
  void AbandonWrite(const std::vector<std::pair<uint32_t, uint8_t>>& applied,
                    const std::vector<std::pair<ExternalId, uint32_t>>& moved)
      ABSL_SHARED_LOCKS_REQUIRED(wal_mu_) ABSL_LOCKS_EXCLUDED(write_mu_);

  // Maintenance (live_maintenance.cc), on the maintenance thread or on a
  // caller of Flush/Checkpoint/Compact.
  void MaintenanceLoop();
  absl::Status DrainFrozen() ABSL_LOCKS_EXCLUDED(maint_mu_);
  // Flushes up to max_tables frozen memtables, oldest first.
  absl::Status DrainFrozenLocked(size_t max_tables = SIZE_MAX)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(maint_mu_);
  absl::Status FlushMemtable(const MemTable& m) ABSL_EXCLUSIVE_LOCKS_REQUIRED(maint_mu_);
  // Rewrites the postings searches reported as mostly stale.
  absl::Status ProcessHints() ABSL_EXCLUSIVE_LOCKS_REQUIRED(maint_mu_);

  // The posting budget (live_calibration.cc).
  void LoadBudget();
  // After a failed refit: the next waits for as many writes as a refit
  // would (not every maintenance round).
  void NoteCalibrationFailure();
  // Target-recall searches: the nearest heads into *hits and how many of
  // them to read.
  absl::StatusOr<size_t> HeadsForTarget(const float* q, const SpannSearchParams& params,
                                        std::vector<HeadHit>* hits);
  bool CalibrationDue();

  // Checkpoints (live_index_open.cc).
  absl::Status DoCheckpoint() ABSL_EXCLUSIVE_LOCKS_REQUIRED(maint_mu_);
  absl::Status RotateWal(uint64_t* new_wal_start) ABSL_LOCKS_EXCLUDED(wal_mu_);
  absl::Status FreezeActive();

  // Held from Open to the end of the destructor (declared first, released
  // last): one live index per directory, and no bulk build into it.
  std::unique_ptr<DirLock> dir_lock_;
  // Shape, fixed by Open.
  std::string dir_;
  LiveOptions options_;
  Env* env_ = nullptr;
  IndexManifest bulk_;
  // Built with --codes: every posting written is coded (index/codes/code_model.h).
  std::unique_ptr<CodeModel> codes_;
  uint32_t dim_ = 0;
  Metric metric_ = Metric::kL2;
  StoredType stored_ = StoredType::kFloat32;
  uint32_t memtable_capacity_ = 0;

  // Heads and postings. heads_mu_ guards the head graph: searches and
  // routing hold it shared, maintenance exclusive to add or remove heads.
  mutable absl::Mutex heads_mu_;
  std::unique_ptr<HeadIndex> heads_ ABSL_PT_GUARDED_BY(heads_mu_);
  PostingDirectory directory_;  // read lock-free; written under maint_mu_
  std::unique_ptr<PostingStore> store_ ABSL_PT_GUARDED_BY(maint_mu_);
  std::string store_path_;  // postings.dat, for readers
  EpochManager epochs_;
  MaintenanceCounters maintenance_counts_;  // restored from checkpoints
  // Created by Open once the state it works on is loaded. Its methods run
  // under maint_mu_, except store_stats().
  std::unique_ptr<PostingMaintainer> maintainer_;

  // Ids and versions. write_mu_ serialises issuing versions (step 1) and
  // applying them (step 3); id_mu_ guards the id map (exclusive to bind ids,
  // shared to name results).
  absl::Mutex write_mu_;
  mutable absl::Mutex id_mu_;
  IdMap ids_ ABSL_GUARDED_BY(id_mu_){0};
  std::unique_ptr<VersionMap> versions_;  // written under write_mu_, read lock-free
  // Versions issued but not yet applied (writes between steps 1 and 3, and
  // reassignments in progress): the next version is issued above them.
  absl::flat_hash_map<uint32_t, uint8_t> inflight_ ABSL_GUARDED_BY(write_mu_);

  // Memtables. mem_mu_ guards the active table pointer and the frozen queue
  // (the tables themselves are append-only, see memtable.h).
  mutable absl::Mutex mem_mu_;
  std::shared_ptr<MemTable> active_ ABSL_GUARDED_BY(mem_mu_);
  std::deque<std::shared_ptr<MemTable>> frozen_ ABSL_GUARDED_BY(mem_mu_);

  // WAL. wal_mu_: writers hold it shared from issuing versions to applying
  // them; a rotation holds it exclusive, so no write is half-done then.
  absl::Mutex wal_mu_;
  std::unique_ptr<WalWriter> wal_ ABSL_GUARDED_BY(wal_mu_);  // swapped under wal_mu_ exclusive
  uint64_t wal_number_ ABSL_GUARDED_BY(wal_mu_) = 0;  // file wal.<n> being appended
  uint64_t wal_start_ ABSL_GUARDED_BY(maint_mu_) = 1;  // first WAL file the checkpoint needs

  // Checkpoint state.
  uint64_t generation_ ABSL_GUARDED_BY(maint_mu_) = 0;

  // Maintenance thread. bg_mu_ guards its flags and first error and pairs
  // with bg_cv_, which wakes it (a frozen memtable) and writers waiting for
  // room. maint_mu_ lets one maintenance pass run at a time (the thread's,
  // or a Flush/Checkpoint/Compact caller's): the postings' single writer.
  absl::Mutex bg_mu_;
  absl::CondVar bg_cv_;
  bool stop_ ABSL_GUARDED_BY(bg_mu_) = false;
  absl::Status bg_error_ ABSL_GUARDED_BY(bg_mu_);
  // Set while maintenance fails for a full disk; cleared by a pass that
  // succeeds.
  absl::Status space_error_ ABSL_GUARDED_BY(bg_mu_);
  std::thread bg_thread_;
  absl::Mutex maint_mu_;

  // Search-side hints: postings seen with many stale entries. Searches
  // take hint_mu_ with TryLock and drop their hints if it is busy.
  absl::Mutex hint_mu_;
  std::vector<uint32_t> hints_ ABSL_GUARDED_BY(hint_mu_);

  // Counters.
  std::atomic<uint64_t> n_upserts_{0}, n_deletes_{0}, n_flushes_{0}, n_flushed_{0},
      n_checkpoints_{0}, n_replayed_{0};
  std::atomic<int64_t> live_vectors_{0};

  // The posting budget; budget_mu_ is a leaf. Searches copy the pointer.
  mutable absl::Mutex budget_mu_;
  std::shared_ptr<const PostingBudget> budget_ ABSL_GUARDED_BY(budget_mu_);
  uint64_t writes_at_calibration_ ABSL_GUARDED_BY(budget_mu_) = 0;
  uint64_t calibrations_ ABSL_GUARDED_BY(budget_mu_) = 0;
  uint64_t retry_at_writes_ ABSL_GUARDED_BY(budget_mu_) = 0;
};

}  // namespace cairn

#endif  // CAIRN_INDEX_LIVE_LIVE_INDEX_H_
