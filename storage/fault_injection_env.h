// An Env for tests that forwards to a real Env and can make chosen
// operations fail, to prove that writers leave either the old state or the
// new one, and that errors (of writes and of reads) reach the caller as a
// Status with a useful message.
//
// Mutating operations are numbered 1, 2, ... in the order they are attempted
// (since construction or ResetCounter): NewWritableFile, NewAppendableFile,
// Append, WriteAt, Flush, Sync, Close (of a file created here), RenameFile, SyncDir,
// RemoveFile, TruncateFile, CreateDirs. An injected failure happens before
// the operation reaches the base Env (except a partial Append, below), so the
// base file system is left as it was.
//
// A full disk (ENOSPC or EDQUOT armed with FailFrom or FailWritesOf) fails
// only the operations that need space: creating files and directories,
// Append, WriteAt, Flush, and Sync of a file with bytes written since its
// last Sync. Truncation, removal, renames, directory syncs, opening for
// append, closing and a Sync with nothing new still succeed, as they do on a
// real full file system; that is what lets writers undo a failed write.
// FailNth fails its one operation whatever it is.
//
// Reads (NewRandomAccessFile, Read of a file opened here, ReadFile) are
// numbered on a counter of their own, so that arming a read fault does not
// renumber the writes a test steps through, and they are not in
// operation_log(). They fail only when a read fault is armed (FailNthRead,
// FailReadsOf). FileExists, FileSize and ListDir are never counted or failed.
//
// Thread-safety: all methods may be called concurrently; operation numbers
// are then assigned in lock order. Files it returns follow their classes'
// rules and must not outlive the FaultInjectionEnv.
#ifndef CAIRN_STORAGE_FAULT_INJECTION_ENV_H_
#define CAIRN_STORAGE_FAULT_INJECTION_ENV_H_

#include <cerrno>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "storage/env.h"

namespace cairn {

class FaultInjectionEnv final : public Env {
 public:
  // `base` is not owned and must outlive this object.
  explicit FaultInjectionEnv(Env* base);

  // Operation `n` (1-based) fails once with `error_number` (EIO by default;
  // ENOSPC produces a "disk full" error). n == 0 disarms.
  void FailNth(uint64_t n, int error_number = EIO);
  // Operations n, n+1, ... all fail: a disk that went away or filled up.
  void FailFrom(uint64_t n, int error_number = EIO);
  // Every counted operation on `path` (writes, syncs, truncation... of that
  // file, or naming it) fails with `error_number` until ClearFaults: one
  // file's disk full, while the others still take writes.
  void FailWritesOf(const std::string& path, int error_number = EIO);
  // Read `n` (1-based, on the read counter) fails once with `error_number`.
  // n == 0 disarms.
  void FailNthRead(uint64_t n, int error_number = EIO);
  // Every read of `path` (opening it, reading a file opened on it, ReadFile)
  // fails with `error_number` until ClearFaults; files already open included.
  void FailReadsOf(const std::string& path, int error_number = EIO);
  // Disarms every write and read fault.
  void ClearFaults();
  // Restarts both operation numberings at 1 and clears the log; faults stay
  // armed.
  void ResetCounter();

  // When set, a failed Append first passes the first half of its bytes to
  // the base file, as a short write on a full disk does.
  void set_partial_appends(bool partial);

  uint64_t operation_count() const;
  uint64_t read_count() const;
  // Write and read failures together.
  uint64_t failures_injected() const;
  // One line per counted operation, e.g. "5 rename /d/m.tmp -> /d/m FAILED";
  // for test failure messages.
  std::vector<std::string> operation_log() const;

  // Simulates a power cut for appended data: every file created or appended
  // through this Env is truncated to its size at its last successful Sync (a
  // created file never synced becomes empty). Call it after the writers'
  // files are closed or destroyed. Overwrites (WriteAt) and directory
  // entries are not rolled back.
  absl::Status DropUnsyncedData();

  // Env:
  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::string& path) override;
  absl::StatusOr<std::unique_ptr<WritableFile>> NewAppendableFile(
      const std::string& path) override;
  absl::Status RenameFile(const std::string& from,
                          const std::string& to) override;
  absl::Status SyncDir(const std::string& dir) override;
  absl::Status RemoveFile(const std::string& path) override;
  absl::Status TruncateFile(const std::string& path, uint64_t size) override;
  absl::Status CreateDirs(const std::string& dir) override;
  absl::StatusOr<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) override;
  bool FileExists(const std::string& path) override;
  absl::StatusOr<uint64_t> FileSize(const std::string& path) override;
  absl::StatusOr<std::string> ReadFile(const std::string& path) override;
  absl::StatusOr<std::vector<std::string>> ListDir(
      const std::string& dir) override;

 private:
  friend class FaultInjectionWritableFile;
  friend class FaultInjectionRandomAccessFile;

  // Counts one operation described by `what` (for the log) on `path` and
  // returns the injected error if this one is to fail.
  // `allocates`: the operation needs free space (see "A full disk" above).
  absl::Status BeginOperation(const std::string& what, const std::string& path,
                              bool allocates = true);
  // Whether `path` has bytes beyond its last Sync (size: its current size).
  bool HasUnsyncedBytes(const std::string& path, uint64_t size) const;
  // The same for a read, on the read counter.
  absl::Status BeginRead(const std::string& what, const std::string& path);
  bool partial_appends() const;
  void RecordSync(const std::string& path, uint64_t size);

  Env* const base_;
  mutable absl::Mutex mu_;
  uint64_t count_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t fail_at_ ABSL_GUARDED_BY(mu_) = 0;
  bool fail_sticky_ ABSL_GUARDED_BY(mu_) = false;
  int error_number_ ABSL_GUARDED_BY(mu_) = EIO;
  bool partial_appends_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t failures_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t read_count_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t fail_read_at_ ABSL_GUARDED_BY(mu_) = 0;
  std::set<std::string> fail_read_paths_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> fail_write_paths_ ABSL_GUARDED_BY(mu_);
  int path_error_number_ ABSL_GUARDED_BY(mu_) = EIO;
  int read_error_number_ ABSL_GUARDED_BY(mu_) = EIO;
  std::vector<std::string> log_ ABSL_GUARDED_BY(mu_);
  // Path -> durable size, for DropUnsyncedData.
  std::map<std::string, uint64_t> synced_size_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cairn

#endif  // CAIRN_STORAGE_FAULT_INJECTION_ENV_H_
