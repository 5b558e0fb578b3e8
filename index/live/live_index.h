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
// Maintenance (one background thread): flushes frozen memtables into
// postings, cleans / splits / merges postings, reassigns vectors (LIRE), and
// checkpoints.
//
// Locking order: wal_mu_ (shared for writers, exclusive for rotation) before
// write_mu_ before id_mu_; heads_mu_ and mem_mu_ are leaves. Search takes
// only heads_mu_ and mem_mu_ shared, briefly, and id_mu_ shared to name its
// results.
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
#include "index/spann/head_index.h"
#include "index/live/id_map.h"
#include "index/live/memtable.h"
#include "index/spann/search_types.h"
#include "index/spann/spann_files.h"
#include "index/spann/spann_index.h"
#include "storage/block_reader.h"
#include "storage/env.h"
#include "storage/posting_store.h"
#include "storage/wal.h"
#include "index/spann/spann_limits.h"

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
  uint32_t reassign_k = 64;    // neighbour postings checked after a split (LIRE)
  // Vectors per memtable; 0: about 1 MiB of floats (256 at 784-d, 2048 at
  // 128-d). Searches scan every memtable exactly, so (1 + max_frozen) x this
  // bounds their extra work.
  uint32_t memtable_capacity = 0;
  uint32_t max_frozen_memtables = 2;  // writers wait beyond this (backpressure)
  uint64_t checkpoint_wal_bytes = uint64_t{256} << 20;  // auto checkpoint
  bool background = true;  // false: maintenance only in Flush/Checkpoint (tests)
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
  // until the index is reopened.
  absl::Status health();

 private:
  LiveIndex() = default;
  struct Entries;

  // Open helpers (live_index_open.cc).
  absl::Status LoadCheckpoint();
  absl::Status Replay();
  absl::Status ApplyWalRecord(uint8_t type, std::string_view payload);

  // Write path.
  absl::Status ValidateVector(const float* v, std::vector<float>* normalised) const;
  absl::Status AppendToMemtable(uint32_t id, uint8_t version, const float* v)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  absl::Status WaitForRoom() ABSL_LOCKS_EXCLUDED(write_mu_);
  absl::Status ApplyVersion(uint32_t id, uint8_t version) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  uint8_t CurrentVersion(uint32_t id) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  void FailWrites(const absl::Status& s);

  // Maintenance (live_maintenance.cc); runs under maint_mu_, on the
  // maintenance thread or on a caller of Flush/Checkpoint/Compact.
  void MaintenanceLoop();
  absl::Status DrainFrozen();
  // Flushes up to max_tables frozen memtables, oldest first.
  absl::Status DrainFrozenLocked(size_t max_tables = SIZE_MAX)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(maint_mu_);
  absl::Status FlushMemtable(const MemTable& m);
  absl::Status RewritePosting(uint32_t head, const Entries& extra, bool allow_split);
  // head_vector: the posting's head when it is not in heads_ yet (a split
  // writes its new postings first); coded indexes encode against it.
  absl::Status WritePosting(uint32_t head, const Entries& entries, bool lowest_first = false,
                            const float* head_vector = nullptr);
  // The coded payload of `entries` under the given head.
  void EncodeCoded(const Entries& entries, const float* head_vector,
                   std::vector<uint8_t>* payload) const;
  absl::Status RelocateLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(maint_mu_);
  absl::Status ReadPosting(uint32_t head, Entries* live, uint32_t* stale);
  bool EntryLive(uint32_t id, uint8_t version) const;
  absl::Status Split(uint32_t head, Entries&& entries);
  absl::Status SplitOversized();
  absl::Status Merge(uint32_t head, Entries&& entries);
  // candidates[0, from_split) came from the split posting itself.
  absl::Status Reassign(const Entries& candidates, size_t from_split,
                        const absl::flat_hash_map<uint32_t, std::vector<uint32_t>>& member,
                        uint32_t new_head);
  void AssignHeads(const float* v, uint32_t exclude, std::vector<uint32_t>* heads);
  // AssignHeads for n vectors (rows of vecs) on all cores.
  void AssignMany(const float* vecs, size_t n, uint32_t exclude,
                  std::vector<std::vector<uint32_t>>* routes);
  // Appends each entry to the postings AssignHeads picks for it.
  void RouteEntries(const Entries& src, uint32_t exclude,
                    absl::flat_hash_map<uint32_t, Entries>* out);
  absl::Status ProcessHints();
  absl::Status CompactLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(maint_mu_);
  absl::Status DoCheckpoint() ABSL_EXCLUSIVE_LOCKS_REQUIRED(maint_mu_);
  absl::Status RotateWal(uint64_t* new_wal_start);
  absl::Status FreezeActive();
  bool SafeToReuse(uint64_t epoch) const { return epochs_.SafeToReuse(epoch); }

  // Maintenance-only state.
  std::vector<uint32_t> oversized_;  // heads written past the limit
  // Heads removed from the graph whose postings stay readable until the
  // epoch passes (searches that picked them before the removal).
  std::vector<std::pair<uint32_t, uint64_t>> dead_heads_;
  void RetireHead(uint32_t head);
  void ReapDeadHeads();
  absl::Status DropFromPosting(uint32_t head, const absl::flat_hash_set<uint32_t>& ids);

  // Shape.
  std::string dir_;
  LiveOptions options_;
  Env* env_ = nullptr;
  IndexManifest bulk_;
  // Built with --codes: every posting written is coded (index/code_model.h).
  std::unique_ptr<CodeModel> codes_;
  uint32_t dim_ = 0;
  Metric metric_ = Metric::kL2;
  StoredType stored_ = StoredType::kFloat32;
  uint32_t replicas_ = 8, candidates_ = 64, limit_ = 0, min_posting_ = 2;
  uint32_t memtable_capacity_ = 0;
  double rng_factor_ = 1.0;
  double closure_epsilon_ = std::numeric_limits<double>::infinity();
  // Mean primary vectors per head in the bulk build when its heads are
  // members (--head-type nearest); 0 when they are centroids. Splits pick
  // new heads of the same kind (LiveIndex::Split).
  double member_leaf_ = 0;

  // Heads and directory. The directory is a chunked array of packed extents
  // (offset in pages << 24 | pages) that never reallocates, so readers load
  // an entry with one acquire load while the maintenance thread replaces it.
  mutable absl::Mutex heads_mu_;
  std::unique_ptr<HeadIndex> heads_ ABSL_PT_GUARDED_BY(heads_mu_);
  static constexpr uint32_t kDirChunkBits = 16;
  std::vector<std::unique_ptr<std::atomic<uint64_t>[]>> directory_;  // reserved up front
  std::atomic<uint32_t> num_heads_{0};  // head ids ever used
  uint64_t LoadExtent(uint32_t head) const;
  void StoreExtent(uint32_t head, uint64_t packed);
  std::unique_ptr<PostingStore> store_;  // maintenance thread only
  std::string store_path_;               // postings.dat, for readers
  // A copy of store_->stats() refreshed by maintenance, so stats() never
  // waits for a long maintenance pass.
  absl::Mutex store_stats_mu_;
  PostingStoreStats store_stats_ ABSL_GUARDED_BY(store_stats_mu_);
  void PublishStoreStats() {
    absl::MutexLock lock(&store_stats_mu_);
    store_stats_ = store_->stats();
  }
  EpochManager epochs_;

  // Ids and versions.
  absl::Mutex write_mu_;
  mutable absl::Mutex id_mu_;
  IdMap ids_{0} ABSL_GUARDED_BY(id_mu_);
  std::unique_ptr<VersionMap> versions_;  // written under write_mu_, read lock-free
  // Versions issued but not yet applied (writes between steps 1 and 3, and
  // reassignments in progress): the next version is issued above them.
  absl::flat_hash_map<uint32_t, uint8_t> inflight_ ABSL_GUARDED_BY(write_mu_);

  // Memtables.
  mutable absl::Mutex mem_mu_;
  std::shared_ptr<MemTable> active_ ABSL_GUARDED_BY(mem_mu_);
  std::deque<std::shared_ptr<MemTable>> frozen_ ABSL_GUARDED_BY(mem_mu_);

  // WAL.
  absl::Mutex wal_mu_;
  std::unique_ptr<WalWriter> wal_;  // swapped under wal_mu_ exclusive
  uint64_t wal_number_ = 0;         // file wal.<n> being appended
  uint64_t wal_start_ = 1;          // first WAL file the checkpoint needs

  // Checkpoint state.
  uint64_t generation_ = 0;

  // Maintenance thread.
  absl::Mutex bg_mu_;
  absl::CondVar bg_cv_;
  bool stop_ ABSL_GUARDED_BY(bg_mu_) = false;
  bool checkpoint_requested_ ABSL_GUARDED_BY(bg_mu_) = false;
  uint64_t work_done_ ABSL_GUARDED_BY(bg_mu_) = 0;
  absl::Status bg_error_ ABSL_GUARDED_BY(bg_mu_);
  std::thread bg_thread_;
  absl::Mutex maint_mu_;  // one maintenance pass at a time (thread or caller)

  // Search-side hints: postings seen with many stale entries.
  absl::Mutex hint_mu_;
  std::vector<uint32_t> hints_ ABSL_GUARDED_BY(hint_mu_);

  // Counters.
  std::atomic<uint64_t> n_upserts_{0}, n_deletes_{0}, n_flushes_{0}, n_flushed_{0},
      n_rewrites_{0}, n_cleaned_{0}, n_splits_{0}, n_merges_{0}, n_candidates_{0},
      n_reassigned_{0}, n_checkpoints_{0}, n_replayed_{0};
  std::atomic<int64_t> live_vectors_{0};
};

}  // namespace cairn

#endif  // CAIRN_INDEX_LIVE_LIVE_INDEX_H_
