// PostingMaintainer: the single writer of a live index's postings. It
// rewrites a posting with new entries while dropping stale ones (clean),
// splits a posting over the limit in two and reassigns the vectors near it
// (SPFresh's LIRE), and merges a posting under the minimum into its
// neighbours' postings (docs/live_updates.md, "Maintenance"). It also routes
// vectors to heads by the bulk build's rule, for the flush of a memtable.
//
// State. LiveIndex owns everything the maintainer works on and hands it over
// as a State of references: the head graph and heads_mu_, the directory, the
// posting store, the epochs, the version map (read only) and the counters.
// The maintainer's own state is the list of postings written past the limit
// and of removed heads whose postings are still readable.
//
// Locking. Every method except store_stats() is called with
// LiveIndex::maint_mu_ held (by the maintenance thread, a caller of
// Flush/Checkpoint/Compact, or Open before the index is shared). That lock
// makes maintenance the single writer of postings, directory and head graph
// (the maintainer writes them all; LiveIndex's flush only adds the first head
// of an empty index) and guards the maintainer's own state. Under it the
// maintainer takes only these, never one inside the other and never across
// posting I/O (besides the EpochManager's internal lock, common/epoch.h):
//   heads_mu_ (LiveIndex's): shared to search the head graph and copy head
//     vectors; exclusive only while a split adds its two heads and removes
//     the old one, or a merge removes one.
//   store_stats_mu_ (its own, a leaf): publishes the store's statistics, so
//     that LiveIndex::stats() never waits for a maintenance pass.
// It takes none of the writers' locks (wal_mu_, write_mu_, id_mu_, mem_mu_):
// writers never wait for maintenance. It reads the version map without a
// lock; a version applied meanwhile only makes entries stale, and the next
// rewrite of their posting drops them.
//
// Concurrent searches hold no maintenance lock and still see every live
// vector:
//   - postings are copy-on-write: a rewrite writes a new extent, then
//     switches the directory entry; the old extent is retired with an epoch
//     and reused only after a checkpoint and after every search that might
//     have loaded it has left (common/epoch.h);
//   - a split writes both new postings before their heads join the graph, and
//     a head removed by a split or merge keeps its posting until every search
//     that may have picked the head has left (ReapDeadHeads);
//   - a reassignment adds every new copy first (same version, so a search
//     skips the duplicate), waits for the searches that started before the
//     adds to leave, and only then drops the copies no longer wanted.
// Routing many vectors (AssignMany) runs head-graph searches on worker
// threads that it starts and joins within the call.
#ifndef CAIRN_INDEX_LIVE_POSTING_MAINTAINER_H_
#define CAIRN_INDEX_LIVE_POSTING_MAINTAINER_H_

#include <atomic>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/epoch.h"
#include "index/codes/code_model.h"
#include "index/live/id_map.h"
#include "index/live/posting_directory.h"
#include "index/spann/head_index.h"
#include "index/spann/posting_format.h"
#include "index/spann/spann_limits.h"
#include "kernels/metric.h"
#include "storage/posting_store.h"

namespace cairn {

struct PostingEntries;

// Neighbour postings LIRE examines after a split (LiveOptions::reassign_k):
// the default and the most LiveOptions::Validate accepts.
inline constexpr uint32_t kDefaultReassignK = 64;
inline constexpr uint32_t kMaxReassignK = 1024;

// Maintenance counts, reported by LiveIndex::stats(); splits, merges and
// reassigned are also kept in checkpoints. Any thread may read them.
struct MaintenanceCounters {
  std::atomic<uint64_t> rewrites{0};    // postings written
  std::atomic<uint64_t> cleaned{0};     // stale or duplicate entries dropped
  std::atomic<uint64_t> splits{0};
  std::atomic<uint64_t> merges{0};
  std::atomic<uint64_t> candidates{0};  // LIRE candidates examined
  std::atomic<uint64_t> reassigned{0};  // candidates moved
};

class PostingMaintainer {
 public:
  // A LiveIndex's state that maintenance reads and changes; the index owns it
  // and outlives the maintainer.
  struct State {
    absl::Mutex& heads_mu;
    HeadIndex& heads;  // guarded by heads_mu
    PostingDirectory& directory;
    PostingStore& store;
    EpochManager& epochs;
    const VersionMap& versions;  // read without a lock
    const CodeModel* codes;      // nullptr: postings are not coded
    MaintenanceCounters& counters;
  };

  // Shape and rules, fixed when the index opens (LiveIndex::Open resolves
  // them from LiveOptions and the bulk build's manifest).
  struct Params {
    uint32_t dim = 0;
    Metric metric = Metric::kL2;
    StoredType stored = StoredType::kFloat32;
    // Routing, the bulk build's rule: up to `replicas` of the `candidates`
    // nearest heads that pass the RNG rule (rng_factor) and lie within
    // (1 + closure_epsilon) x the nearest's distance.
    uint32_t replicas = kDefaultReplicas, candidates = kDefaultCandidates;
    double rng_factor = 1.0;
    double closure_epsilon = std::numeric_limits<double>::infinity();  // infinity: no cap
    uint32_t limit = 0;        // split above this many live entries
    uint32_t min_posting = 2;  // merge below this many after a clean
    uint32_t reassign_k = kDefaultReassignK;
    // Mean vectors per leaf when the bulk build's heads are member heads
    // (each the member nearest its leaf's centroid); 0 for centroid heads.
    // Splits pick new heads of the same kind.
    double member_leaf_size = 0;
  };

  PostingMaintainer(const State& state, const Params& params);
  PostingMaintainer(const PostingMaintainer&) = delete;
  PostingMaintainer& operator=(const PostingMaintainer&) = delete;

  // The live entries of `head`'s posting (empty if it has none); *stale
  // counts the stale and duplicate entries skipped.
  absl::Status ReadPosting(uint32_t head, PostingEntries* live, uint32_t* stale);
  // Routes rows of vecs (n x dim floats) to their postings' heads, skipping
  // `exclude` (kNoHead: none), on all cores.
  void AssignMany(const float* vecs, size_t n, uint32_t exclude,
                  std::vector<std::vector<uint32_t>>* routes);
  // Cleans `head`'s posting and adds the live ones of `extra` (a newer
  // version replaces an older copy). Then a posting over the limit is split
  // (allow_split) or queued for SplitOversized, and one under the minimum is
  // merged away (only when extra is empty: a clean after deletes). A removed
  // head's extra entries are routed again.
  absl::Status RewritePosting(uint32_t head, const PostingEntries& extra, bool allow_split);
  // Splits the postings left over the limit, a bounded number per call: a
  // split's reassignment can overfill a neighbour, and that cascade waits for
  // the next call.
  absl::Status SplitOversized();
  // Rewrites every posting (cleans stale entries; splits and merges follow).
  absl::Status CleanAll();
  // Moves postings from the end of postings.dat into the lowest holes that
  // fit; after the next checkpoint the vacated tail can be cut off.
  absl::Status Relocate();
  // Frees the postings of removed heads that no search can still be reading.
  void ReapDeadHeads();

  // Copies the store's statistics for store_stats().
  void PublishStoreStats();
  // Any thread, without maint_mu_.
  PostingStoreStats store_stats() const ABSL_LOCKS_EXCLUDED(store_stats_mu_);

 private:
  struct SplitPlan;
  using HolderMap = absl::flat_hash_map<uint32_t, std::vector<uint32_t>>;

  // Routing (posting_maintainer.cc).
  void AssignHeads(const float* v, uint32_t exclude, std::vector<uint32_t>* heads);
  // Appends each entry to the postings AssignHeads picks for it.
  void RouteEntries(const PostingEntries& src, uint32_t exclude,
                    absl::flat_hash_map<uint32_t, PostingEntries>* out);

  // Posting writes (posting_maintainer.cc). head_vector: the posting's head
  // when it is not in the graph yet (a split writes its new postings first);
  // coded indexes encode against it.
  absl::Status WritePosting(uint32_t head, const PostingEntries& entries,
                            bool lowest_first = false, const float* head_vector = nullptr);
  // The coded payload of `entries` under the given head.
  void EncodeCoded(const PostingEntries& entries, const float* head_vector,
                   std::vector<uint8_t>* payload) const;
  absl::Status DropFromPosting(uint32_t head, const absl::flat_hash_set<uint32_t>& ids);
  absl::Status Merge(uint32_t head, PostingEntries&& entries);
  // Hides a head from new searches; its posting stays until ReapDeadHeads.
  void RetireHead(uint32_t head);
  bool HeadRemoved(uint32_t head) const;

  // Split and LIRE (posting_split.cc).
  absl::Status Split(uint32_t head, PostingEntries&& entries);
  // False if the entries cannot be told apart (nothing to split).
  bool PlanSplit(uint32_t head, const PostingEntries& entries, SplitPlan* plan) const;
  void ChooseMemberHeads(SplitPlan* plan) const;
  void ChooseCentroidHeads(SplitPlan* plan) const;
  // Writes the two new postings, then swaps the heads in the graph.
  absl::Status ReplaceHead(uint32_t head, const PostingEntries& entries, SplitPlan* plan);
  // LIRE's candidates from the split posting itself (first condition).
  void SplitCandidates(const PostingEntries& entries, const SplitPlan& plan,
                       PostingEntries* candidates, HolderMap* holders) const;
  // LIRE's candidates from the postings near the old head (second condition).
  absl::Status NeighbourCandidates(const SplitPlan& plan, PostingEntries* candidates,
                                   HolderMap* holders);
  // candidates[0, from_split) came from the split posting itself; holders:
  // id -> the examined heads whose postings hold it.
  absl::Status Reassign(const PostingEntries& candidates, size_t from_split,
                        const HolderMap& holders, uint32_t first_new_head);
  float TrueDistanceTo(const float* v, const float* head) const;

  // A head-graph search for n heads uses a beam (ef) of at least this many,
  // so that a search for few heads still explores the graph widely.
  static constexpr uint32_t kMinHeadBeam = 64;

  const State s_;
  const Params p_;
  // Heads written past the limit, for SplitOversized.
  std::vector<uint32_t> oversized_;
  // Heads removed from the graph whose postings stay readable until the
  // epoch passes (searches that picked them before the removal).
  std::vector<std::pair<uint32_t, uint64_t>> dead_heads_;

  mutable absl::Mutex store_stats_mu_;
  PostingStoreStats store_stats_ ABSL_GUARDED_BY(store_stats_mu_);
};

}  // namespace cairn

#endif  // CAIRN_INDEX_LIVE_POSTING_MAINTAINER_H_
