// Write-ahead log: an append-only file of numbered, checksummed records that
// survive a crash once synced. The payload and the record type are opaque to
// storage/; the caller (the engine) gives them meaning. Layout:
// docs/formats.md, "Write-ahead log".
//
// Sequence numbers: the header stores S, the number the log starts after;
// its records carry S+1, S+2, ... with no gaps. A log is written by one
// WalWriter at a time and read back with ReadWal during recovery, which
// reports where the valid records end so that OpenForAppend can cut off a
// torn tail and continue the numbering.
//
// Durability: Append(..., sync=true) returns only after its record (and
// every record before it) is fsynced. Records appended with sync=false have
// reached the kernel when the call returns (a process crash keeps them), but
// a power cut can lose them until a later synced Append, Sync() or Close().
//
// Thread-safety: every WalWriter method may be called concurrently from many
// threads. Concurrent appenders are committed in groups (one file write and
// at most one fsync per group); sequence numbers are assigned in the order
// the calls take the writer's internal lock, which is also the order of the
// records in the file. ReadWal is a pure function of the file. The writer
// holds one mutex and takes no other lock while holding it (the Env's file
// operations run outside it).
#ifndef CAIRN_STORAGE_WAL_H_
#define CAIRN_STORAGE_WAL_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "storage/env.h"

namespace cairn {

inline constexpr uint32_t kWalFormatVersion = 1;
inline constexpr uint64_t kWalHeaderBytes = 32;
// Per record: 16-byte header (length, type, 3 zero bytes, sequence) and an
// 8-byte checksum after the payload.
inline constexpr uint64_t kWalRecordOverheadBytes = 24;
inline constexpr uint64_t kWalMaxPayloadBytes = uint64_t{64} << 20;

// Errors: a full disk (IsOutOfSpace, env.h) is recoverable. The group
// whose write or fsync failed is cut off the file: the file is truncated
// back to the end of the last group written (after a failed write) or the
// last group fsynced (after a failed fsync, whose data the kernel may have
// dropped; records appended with sync=false since then are cut too), that
// is fsynced, and numbering continues from there. Every call of the failed
// group and every call queued behind it gets the error (their sequence
// numbers were taken past the cut); later calls are written normally. So
// no record is acknowledged unless it is in the file, and no fsync is
// retried on data it failed to write. Any other failed write or fsync, or a
// failed cut, poisons the writer: that call and every later one (Close
// included) return the same error, and nothing is written or synced again.
// The records not acknowledged as synced may or may not be in the file;
// recovery (ReadWal) decides. Argument errors (InvalidArgument) do not
// poison.
class WalWriter {
 public:
  // Creates the log at `path`, replacing any file already there (the caller
  // decides whether a file may be replaced: an existing log's records are
  // lost). Writes and syncs the header and syncs the directory, so that a
  // returned writer names a durable, empty log. The first record gets
  // sequence number first_sequence + 1 (so first_sequence must be below
  // 2^64 - 1). On failure the partial file is removed (best effort).
  static absl::StatusOr<std::unique_ptr<WalWriter>> Create(
      Env* env, const std::string& path, uint64_t first_sequence);

  // Reopens an existing log after ReadWal: truncates it to `valid_bytes`
  // (WalReadResult::valid_bytes; drops a torn tail), syncs that, and appends
  // from there. `next_sequence` is the number the next record gets
  // (WalReadResult::next_sequence()); it is not checked against the file.
  // InvalidArgument if valid_bytes is shorter than the header or longer than
  // the file, or next_sequence is 0.
  static absl::StatusOr<std::unique_ptr<WalWriter>> OpenForAppend(
      Env* env, const std::string& path, uint64_t valid_bytes,
      uint64_t next_sequence);

  WalWriter(const WalWriter&) = delete;
  WalWriter& operator=(const WalWriter&) = delete;
  // Closes (syncing) and ignores errors; call Close() to see them. No call
  // may be in progress.
  ~WalWriter();

  // Appends one record and returns its sequence number. `type` must be
  // nonzero and the payload at most kWalMaxPayloadBytes (else
  // InvalidArgument, and the writer stays usable). With sync == true returns
  // only after the record is durable.
  absl::StatusOr<uint64_t> Append(uint8_t type, std::string_view payload,
                                  bool sync);

  // Appends records with consecutive sequence numbers in one write and
  // returns the first. InvalidArgument for an empty batch or a bad record
  // (then nothing is written).
  absl::StatusOr<uint64_t> AppendBatch(
      const std::vector<std::pair<uint8_t, std::string>>& records, bool sync);

  // Makes every record appended so far durable.
  absl::Status Sync();

  // Waits for calls already in progress, syncs and closes the file. Later
  // calls fail with FailedPrecondition (or the poisoning error); Close again
  // returns the first Close's result.
  absl::Status Close();

  // The sequence number the next appended record will get.
  uint64_t next_sequence() const;
  // Bytes in the file (header included) after the records written so far;
  // records still queued for a group commit are not counted.
  uint64_t bytes() const;
  // The poisoning error (see Errors), OK while the writer takes appends.
  absl::Status status() const;

 private:
  // One pending Append, AppendBatch or Sync call, queued in sequence order.
  struct Pending;

  WalWriter(Env* env, std::string path, std::unique_ptr<WritableFile> file, uint64_t next_sequence,
            uint64_t bytes);

  // Queues `n` records whose bytes `encode` appends to its string (given
  // the first sequence number; run outside the lock), waits until a group
  // commit covers them and returns the first sequence number.
  absl::StatusOr<uint64_t> Commit(
      uint64_t n, bool sync,
      absl::FunctionRef<void(uint64_t first, std::string* out)> encode);
  // Waits until `p`, already queued and ready, is committed, leading the
  // group commit itself when it reaches the front of the queue.
  void AwaitCommit(Pending* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes and (if any member asked) syncs the ready writers at the front of
  // the queue, then wakes them. Releases mu_ during the IO.
  void LeadGroup(Pending* leader) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The IO of LeadGroup, with mu_ released. *sync_failed tells a failed
  // fsync from a failed write.
  absl::Status WriteGroup(uint64_t bytes, bool sync, bool* sync_failed);
  // After a full disk: truncates the file to `size`, reopens and fsyncs it
  // (with mu_ released, by the leader).
  absl::Status CutBack(uint64_t size);
  // Under mu_ after a successful CutBack to `size`: fails the rest of the
  // queue and renumbers from `next_sequence`.
  void AfterCutBack(uint64_t size, uint64_t next_sequence, const absl::Status& error)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Env* const env_;
  const std::string path_;

  mutable absl::Mutex mu_;
  std::deque<Pending*> queue_ ABSL_GUARDED_BY(mu_);
  uint64_t next_sequence_ ABSL_GUARDED_BY(mu_);
  uint64_t bytes_ ABSL_GUARDED_BY(mu_);
  // Bytes written but not yet fsynced.
  bool unsynced_ ABSL_GUARDED_BY(mu_) = false;
  // Where a cut after a full disk goes back to: the end of the records
  // written (bytes_) and of those fsynced, with the sequence number that
  // follows each.
  uint64_t written_sequence_ ABSL_GUARDED_BY(mu_);
  uint64_t synced_bytes_ ABSL_GUARDED_BY(mu_);
  uint64_t synced_sequence_ ABSL_GUARDED_BY(mu_);
  // The first write or sync error; once set every call returns it, because
  // the file's tail is unknown and a failed fsync may have discarded the
  // dirty pages (retrying it could report lost data as durable).
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  // Set by the first Close, which refuses later calls; close_done_ once the
  // file is closed and close_status_ holds the result.
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool close_done_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status close_status_ ABSL_GUARDED_BY(mu_);

  // Used only by the current group leader (the queue's front, which runs
  // with mu_ released), so never by two threads at once.
  std::unique_ptr<WritableFile> file_;
  std::vector<Pending*> group_;
  std::string group_buffer_;
};

struct WalRecord {
  uint8_t type;
  uint64_t sequence;
  // Points into ReadWal's buffer: valid only during the callback.
  std::string_view payload;
  // Byte offset of the record's header in the file.
  uint64_t offset;
};

struct WalReadResult {
  // From the header: the sequence number the log starts after.
  uint64_t first_sequence = 0;
  // Of the last valid record; 0 if there is none.
  uint64_t last_sequence = 0;
  uint64_t records = 0;
  // Offset just after the last valid record (the header's end if none):
  // what OpenForAppend truncates to.
  uint64_t valid_bytes = 0;
  bool torn_tail = false;
  std::string torn_reason;

  // The sequence number for OpenForAppend.
  uint64_t next_sequence() const {
    return records == 0 ? first_sequence + 1 : last_sequence + 1;
  }
};

// Reads the log at `path` and calls `fn` for each valid record in order.
// Stops at the first of:
//  - end of file: OK;
//  - a torn tail, i.e. the bytes after the last valid record are an
//    incomplete record, a damaged record reaching the end of the file, all
//    zeros, or garbage from which no valid record follows: OK with
//    result->torn_tail set and one line on stderr;
//  - a damaged record followed by other data, or a record (checksum valid)
//    whose sequence number is not the previous one plus 1: DataLossError
//    naming the file and the record's byte offset;
//  - a bad header (short, magic, version, reserved field, checksum):
//    DataLossError naming the file;
//  - an error from `fn`, returned as is.
// NotFound (from the Env) if the file does not exist. `result` may be null;
// on error it describes the records delivered before the error.
absl::Status ReadWal(Env* env, const std::string& path,
                     const std::function<absl::Status(const WalRecord&)>& fn,
                     WalReadResult* result);

}  // namespace cairn

#endif  // CAIRN_STORAGE_WAL_H_
