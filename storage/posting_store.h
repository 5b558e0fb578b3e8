// A posting file opened for live updates: records are written copy-on-write
// into free extents (or at the end of the file), never over an extent that a
// durable checkpoint may still reference. Same file format as a bulk-built
// posting file (posting_file.h); only the header's record count and data size
// go stale, so the committed size lives in the caller's manifest instead.
//
// Extent life cycle:
//   Write()        allocates an extent (best fit among free ones, else the
//                  tail), writes the framed record and flushes it to the
//                  kernel so that O_DIRECT readers see it.
//   Retire(loc, e) the caller's directory no longer points at loc. An extent
//                  written since the last checkpoint is referenced by no
//                  durable directory, so it is free at once (reusable when
//                  is_safe(e)); an older one stays untouchable until the
//                  next checkpoint is durable, because the previous
//                  checkpoint references it. Without the first rule a file
//                  under heavy churn grew 25x between checkpoints (measured).
//   Checkpoint:    Sync(); persist the caller's directory; then
//                  CommitRetired(epoch) moves every extent retired before the
//                  checkpoint into the free list, tagged with a reader epoch
//                  (common/epoch.h); Write() reuses it only once
//                  `is_safe(epoch)` says no reader can still be reading it.
//   Open:          everything in [4096, committed_bytes) that the caller's
//                  directory does not reference is free; bytes past
//                  committed_bytes (written after the last checkpoint) are cut.
//
// Errors: a Write that fails for a full disk (IsOutOfSpace, env.h) leaves
// the store as it was (a tail append is cut off again, a reused hole stays
// free) and takes writes again. Any other failed write, a failed Sync (the
// kernel may have dropped the pages of extents the directory already
// points at) and a failure to cut back are sticky: every later write, Sync
// and CommitRetired returns that error, and only reopening the index (from
// its last checkpoint) recovers.
//
// Thread-safety: one writer thread (the index's maintenance thread) calls
// every method; readers never touch this object (they read the file with
// their own BlockReader).
#ifndef CAIRN_STORAGE_POSTING_STORE_H_
#define CAIRN_STORAGE_POSTING_STORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "common/aligned_buffer.h"
#include "storage/env.h"
#include "storage/posting_file.h"

namespace cairn {

struct PostingStoreStats {
  uint64_t file_bytes = 0;       // data area end (header page included)
  uint64_t live_bytes = 0;       // extents referenced by the directory
  uint64_t free_bytes = 0;       // reusable holes
  uint64_t retired_bytes = 0;    // waiting for a checkpoint
  uint64_t reused_bytes = 0;     // total bytes written into reclaimed holes
  uint64_t truncated_bytes = 0;  // total bytes given back by cutting the tail
  uint64_t records_written = 0;
};

class PostingStore {
 public:
  // `referenced` lists the extents the checkpointed directory points at.
  // DataLossError naming the file if the header is bad, the file is shorter
  // than committed_bytes, or an extent lies outside [4096, committed_bytes)
  // or overlaps another.
  static absl::StatusOr<std::unique_ptr<PostingStore>> Open(
      Env* env, const std::string& path, uint64_t committed_bytes,
      std::vector<PostingLocation> referenced);

  const PostingUserHeader& user_header() const { return user_header_; }
  const std::string& path() const { return path_; }

  // Writes `payload` as a record; returns where. `is_safe(epoch)` decides
  // whether a freed hole may be reused yet.
  // lowest_first: take the lowest-offset hole that fits (compaction moves
  // postings towards the start so the tail can be cut); otherwise best fit.
  absl::StatusOr<PostingLocation> Write(const void* payload, uint32_t bytes,
                                        const std::function<bool(uint64_t)>& is_safe,
                                        bool lowest_first = false);
  // The lowest-offset reusable hole that fits `bytes` (0 if none).
  uint64_t LowestFit(uint64_t bytes, const std::function<bool(uint64_t)>& is_safe) const;
  // `epoch`: reusable once is_safe(epoch) (readers that may hold loc left).
  void Retire(const PostingLocation& location, uint64_t epoch);
  // Reads and verifies one record through the Env (maintenance path).
  absl::StatusOr<std::span<const uint8_t>> Read(const PostingLocation& location,
                                                AlignedBuffer* buffer) const;

  absl::Status Sync();
  // The end of the data area, for the checkpoint manifest.
  uint64_t committed_candidate() const { return end_; }
  // After a checkpoint is durable: extents retired before it become free
  // (reusable once is_safe(epoch)), and a free tail is cut off the file.
  absl::Status CommitRetired(uint64_t epoch, const std::function<bool(uint64_t)>& is_safe);

  PostingStoreStats stats() const;

 private:
  PostingStore() = default;
  void AddFree(uint64_t offset, uint64_t bytes, uint64_t epoch);
  bool TakeFree(uint64_t bytes, const std::function<bool(uint64_t)>& is_safe, uint64_t* offset);
  void TakeHole(uint64_t offset, uint64_t bytes);
  // After a failed Write: recovers from a full disk (see Errors) or makes
  // the error sticky. Returns `cause`.
  absl::Status UndoFailedWrite(absl::Status cause);

  Env* env_ = nullptr;
  std::string path_;
  PostingUserHeader user_header_{};
  std::unique_ptr<WritableFile> file_;
  std::unique_ptr<RandomAccessFile> reader_;
  uint64_t end_ = kPostingPageBytes;  // data area end; the file's size
  struct Hole {
    uint64_t bytes;
    uint64_t epoch;  // reusable once no reader entered at or before it
  };
  std::map<uint64_t, Hole> free_;              // offset -> hole, coalesced
  absl::btree_multimap<uint64_t, uint64_t> by_size_;  // bytes -> offset
  std::vector<PostingLocation> retired_;
  absl::flat_hash_set<uint64_t> uncommitted_;  // offsets written since the last checkpoint
  uint64_t live_bytes_ = 0, retired_bytes_ = 0, free_bytes_ = 0;
  uint64_t reused_bytes_ = 0, truncated_bytes_ = 0, records_written_ = 0;
  absl::Status status_;  // sticky first write error

 public:
  ~PostingStore();
};

}  // namespace cairn

#endif  // CAIRN_STORAGE_POSTING_STORE_H_
