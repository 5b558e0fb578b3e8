// The durable store of one collection's points: key -> (payload, vector),
// all three opaque byte strings (the server gives them meaning: an
// external-id key, JSON payload, vector elements). Only a sorted map
// key -> location lives in RAM; payloads and vectors are read back from the
// log (through the Env) on every Get, and their checksum verified.
//
// Files, in the collection's directory (formats: point_log.h and
// docs/formats.md, "Point store"):
//   points.<g>.log  the log of generation g: a header, then PUT and DELETE
//                   records; the last record of each batch has a COMMIT bit.
//   points.<g>.tmp  generation g while compaction writes it.
// The live generation is the highest-numbered points.<g>.log. Open deletes
// temporary files and lower generations (leftovers of a crash).
//
// Crash safety:
//  - Apply writes a batch's records in one append, then fsyncs (or, with
//    PointStoreOptions::sync == false, only hands them to the kernel), and
//    only then publishes them to readers and returns. Recovery applies a
//    batch only if it reads its COMMIT record intact, so a crash leaves all
//    of a batch or none. Whatever follows the last committed batch (an
//    unfinished batch, a damaged record with nothing after it) is a torn
//    tail: Open drops it with a line on stderr, truncates the file and
//    fsyncs before appending. Damage with data after it is corruption:
//    DataLossError naming the file and offset, never a silent repair.
//  - Compaction writes the live records into points.<g+1>.tmp, fsyncs and
//    closes it, renames it to points.<g+1>.log, fsyncs the directory, and
//    only then appends to it and deletes points.<g>.log. No batch is applied
//    while it runs, so both generations hold the same points; a crash leaves
//    either name durable, each a complete log. Once the rename has happened,
//    writes never go to generation g again: if the directory fsync or
//    reopening the new log fails, the store refuses writes (see Errors).
//
// Errors: bad arguments are InvalidArgument and change nothing. A write or
// fsync in Apply that fails for a full disk (IsOutOfSpace, env.h), and a
// batch refused by before_publish, are undone: the log is truncated back to
// where the batch began, that truncation is fsynced, and the store takes
// writes again (so a store on a full disk accepts batches once space
// returns). The records cut were never published nor acknowledged, and
// what precedes them was made durable by earlier Applies, so no failed
// fsync is ever retried on data it covered. Any other failed write or fsync,
// a failed undo, or a failure after compaction's rename poisons the store:
// that call and every later Apply and Compact return an error, because the
// log's tail (or the durability of its name) is unknown; reads keep working
// on the last published state, and reopening recovers (the batch is then
// either cut as a torn tail or, committed, present whole). A compaction that fails before
// its rename only removes its temporary file. An automatic compaction's
// failure does not fail the Apply that triggered it (the batch is durable);
// it is logged, shown in stats(), and retried after more garbage
// accumulates.
//
// Thread-safety: Get, Contains, Keys, ForEachKey, size and stats may be
// called from any number of threads, also while Apply or Compact run. Apply
// and Compact may be called from several threads: they take turns (one
// writer at a time), and an Apply waits for a running compaction. A reader
// sees every batch entirely or not at all. Locking order: write_mu_, then
// mu_. Readers hold mu_ (shared) only to look up the map; their read runs
// unlocked, on a file kept open by reference counting, so a compaction may
// replace the file under a reader.
#ifndef CAIRN_STORAGE_POINT_STORE_H_
#define CAIRN_STORAGE_POINT_STORE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "storage/env.h"
#include "storage/point_log.h"

namespace cairn {

struct PointRecord {
  std::string payload;
  std::string vector;

  friend bool operator==(const PointRecord&, const PointRecord&) = default;
};

struct PointStoreOptions {
  // fsync every batch before Apply returns. When false a returned batch has
  // reached the kernel (readers see it; it survives a process crash) but a
  // power cut may lose it; and since unsynced pages may reach the disk out
  // of order, recovery may then report DataLoss instead of a torn tail.
  bool sync = true;
  // Compact after an Apply once garbage (bytes of overwritten and deleted
  // records, and of delete records) is more than this fraction of the log's
  // records and at least compaction_min_garbage_bytes.
  bool auto_compact = true;
  double compaction_garbage_fraction = 0.5;  // in [0, 1)
  uint64_t compaction_min_garbage_bytes = uint64_t{16} << 20;

  absl::Status Validate() const;
};

struct PointStoreStats {
  uint64_t points = 0;
  uint64_t generation = 0;
  uint64_t file_bytes = 0;     // the live log, header included
  uint64_t live_bytes = 0;     // records the map points at (frames included)
  uint64_t garbage_bytes = 0;  // file_bytes - header - live_bytes
  // RAM of the key map: its nodes (counted by its allocator) plus keys too
  // long for std::string's inline buffer (15 bytes in libstdc++; malloc's
  // own overhead not included). A point takes a 48-byte slot (32-byte
  // string + 16-byte location) in 256-byte btree nodes of 5 slots: measured
  // 53 bytes per point for 9-byte keys inserted in order, 67 in random
  // order; 17-byte (UUID) keys add 18 bytes of heap.
  uint64_t ram_bytes = 0;
  double ram_bytes_per_point = 0;
  uint64_t compactions = 0;         // since Open
  uint64_t torn_bytes_dropped = 0;  // by Open's recovery
  // The error of the latest automatic compaction if it failed, else empty.
  std::string last_compaction_error;
  // Set once the store refuses writes (see Errors above).
  bool failed = false;
};

class PointStore {
 public:
  using Put = std::pair<std::string, PointRecord>;

  // Opens the store in `dir`, creating the directory and an empty log if
  // there is none. DataLossError naming the file for corruption (see above);
  // InvalidArgument for bad options; Env errors as they come.
  static absl::StatusOr<std::unique_ptr<PointStore>> Open(
      Env* env, const std::string& dir, const PointStoreOptions& options);

  PointStore(const PointStore&) = delete;
  PointStore& operator=(const PointStore&) = delete;
  // No call may be in progress.
  ~PointStore();

  // Applies a batch all-or-nothing: puts insert or replace, deletes remove
  // (a missing key is fine and costs nothing). Durable (see sync) and
  // visible to readers when it returns OK. InvalidArgument, and nothing
  // changes, if a key is empty or longer than kPointMaxKeyBytes, a put's key,
  // payload and vector exceed kPointMaxBodyBytes - 8 together, or a key
  // appears twice in the batch.
  //
  // `before_publish`, if given, runs once the batch is durable and before
  // readers see it, with the store's writer lock held: the place for a
  // caller to update a second structure (the server's index) so that the
  // two change together. OK publishes the batch; an error undoes it as a
  // failed write would, and Apply returns that error.
  using BeforePublish = std::function<absl::Status()>;
  absl::Status Apply(const std::vector<Put>& puts, const std::vector<std::string>& deletes,
                     const BeforePublish& before_publish = nullptr);

  // nullopt if absent. DataLossError naming the file and offset if the
  // record read back is damaged.
  absl::StatusOr<std::optional<PointRecord>> Get(std::string_view key) const;
  bool Contains(std::string_view key) const;
  // At most `limit` keys >= `start` in byte order (a snapshot): a page of a
  // scroll. The next page starts at the key after the last one returned
  // (ask for limit + 1 to learn it).
  std::vector<std::string> Keys(std::string_view start, size_t limit) const;
  // Calls fn for every key in byte order until it returns false. Reads the
  // map in pages without holding a lock during fn (which may call any
  // method): each key present throughout is visited exactly once; keys
  // added or removed meanwhile may or may not be.
  void ForEachKey(const std::function<bool(const std::string&)>& fn) const;
  uint64_t size() const;
  // The keys put by the most recent batch: the last committed batch found by
  // Open (empty if that batch only deleted), then each Apply's. A caller that
  // keeps a second structure in step after each Apply (the server's index)
  // re-applies these after a crash, since a crash between the two writes
  // leaves exactly this batch ahead; an overwrite cut there is invisible to a
  // presence check. Compaction writes these keys last, as one batch, so the
  // answer survives it.
  std::vector<std::string> LastBatchPuts() const;

  // Rewrites the live records into a new generation (see above), whatever
  // the garbage. Returns the poisoning error on a poisoned store.
  absl::Status Compact();

  PointStoreStats stats() const;
  const std::string& dir() const { return dir_; }

  // A point-in-time copy of the store (the server's snapshots): sets *name
  // to the live log's file name (points.<g>.log) and calls `sink` with its
  // bytes, in order and in chunks, up to the end of the last batch
  // published when it starts: a log that Open recovers to exactly the
  // points readers saw at that moment. Writes go on meanwhile: later
  // batches are not copied, and a compaction replacing the file does not
  // disturb the copy, which reads through its own reference to the old one.
  absl::Status CopyLog(std::string* name,
                       const std::function<absl::Status(std::string_view)>& sink) const;

 private:
  // An open generation, shared with readers that are still using it.
  struct LogFile {
    LogFile(std::string path, uint64_t generation,
            std::unique_ptr<RandomAccessFile> file)
        : path(std::move(path)), generation(generation), file(std::move(file)) {}
    const std::string path;
    const uint64_t generation;
    // Opened before compaction's rename, so it may name the temporary file;
    // `path` is the log's name.
    const std::unique_ptr<RandomAccessFile> file;
  };

  // Counts the bytes the map allocates for its nodes into *bytes, which
  // is only changed together with the map (under mu_, exclusively).
  template <typename T>
  struct CountingAllocator {
    using value_type = T;
    explicit CountingAllocator(uint64_t* b) : bytes(b) {}
    template <typename U>
    CountingAllocator(const CountingAllocator<U>& other) : bytes(other.bytes) {}
    T* allocate(size_t n) {
      *bytes += n * sizeof(T);
      return std::allocator<T>().allocate(n);
    }
    void deallocate(T* p, size_t n) {
      *bytes -= n * sizeof(T);
      std::allocator<T>().deallocate(p, n);
    }
    template <typename U>
    bool operator==(const CountingAllocator<U>& other) const {
      return bytes == other.bytes;
    }
    uint64_t* bytes;
  };
  using Map = absl::btree_map<
      std::string, PointLocation, std::less<>,
      CountingAllocator<std::pair<const std::string, PointLocation>>>;

  PointStore(Env* env, std::string dir, const PointStoreOptions& options);

  std::string PathOf(const std::string& name) const;
  absl::Status Recover(uint64_t generation)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Writes the live records into generation `generation` and switches to it
  // (the file-level protocol above). With no current file (a new store) it
  // creates generation `generation` empty.
  absl::Status SwitchGeneration(uint64_t generation)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Writes generation `generation` under its temporary name, holding the
  // live records of `old_file` (none when it is null), and renames it into
  // place. On failure the temporary file is removed and nothing changed.
  absl::StatusOr<std::shared_ptr<const LogFile>> WriteGeneration(
      uint64_t generation, const std::shared_ptr<const LogFile>& old_file,
      std::vector<PointLocation>* locations, uint64_t* sequence)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Appends the header and a put of every live key, read from `old_file`;
  // (*locations)[i] is where the i-th key of the map went.
  absl::Status CopyLiveRecords(const LogFile& old_file, uint64_t generation,
                               WritableFile* out,
                               std::vector<PointLocation>* locations,
                               uint64_t* sequence)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  void MaybeAutoCompact() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Cuts the log back to `size` bytes after a batch that must not stay
  // (failed or refused), fsyncs that and reopens the appender. Returns
  // `cause`; poisons the store with it if the log cannot be restored.
  absl::Status UndoBatch(uint64_t size, absl::Status cause)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Poisons the store with `status` and returns it.
  absl::Status Fail(absl::Status status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  void PutLocked(std::string_view key, PointLocation location)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EraseLocked(std::string_view key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Env* const env_;
  const std::string dir_;
  const PointStoreOptions options_;

  // Serialises Apply and Compact; held across their IO.
  absl::Mutex write_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  // Appends to the live generation; null after a failure to reopen it.
  std::unique_ptr<WritableFile> log_ ABSL_GUARDED_BY(write_mu_);
  uint64_t next_sequence_ ABSL_GUARDED_BY(write_mu_) = 1;
  absl::Status error_ ABSL_GUARDED_BY(write_mu_);
  // After a failed automatic compaction, garbage must exceed this before
  // the next attempt, so that a full disk is not retried on every Apply.
  uint64_t auto_compact_floor_ ABSL_GUARDED_BY(write_mu_) = 0;

  // Guards what readers see. The map only changes with write_mu_ held too,
  // so the writer may read it under a shared lock.
  mutable absl::Mutex mu_;
  uint64_t node_bytes_ = 0;  // see CountingAllocator
  Map map_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const LogFile> file_ ABSL_GUARDED_BY(mu_);
  uint64_t file_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t live_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t key_heap_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t compactions_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t torn_bytes_dropped_ ABSL_GUARDED_BY(mu_) = 0;
  std::string last_compaction_error_ ABSL_GUARDED_BY(mu_);
  bool failed_ ABSL_GUARDED_BY(mu_) = false;
  // LastBatchPuts(); changed with write_mu_ held too.
  std::vector<std::string> last_batch_puts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cairn

#endif  // CAIRN_STORAGE_POINT_STORE_H_
