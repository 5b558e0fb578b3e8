// An exclusive, advisory lock on a directory, held for as long as the
// object lives (LevelDB's LOCK file): `cairn serve` holds its data directory
// and every live index holds its own directory, so that a second server, or
// a `cairn build --out` into a directory being served, refuses at start
// instead of writing under a process that owns the files.
//
// The lock is flock(2) on DIR/LOCK. The kernel drops it when the process
// dies, kill -9 included, so a crash never leaves a directory locked. The
// file also records the holder's pid and role, for the error message of the
// process that is refused.
//
// Thread-safety: one owner; the lock is per open file, so two DirLocks on
// the same directory in one process also exclude each other.
#ifndef CAIRN_STORAGE_FILE_LOCK_H_
#define CAIRN_STORAGE_FILE_LOCK_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace cairn {

class DirLock {
 public:
  // Locks `dir` (which must exist). FailedPrecondition naming the holder
  // when another process, or another DirLock, holds it.
  static absl::StatusOr<std::unique_ptr<DirLock>> Acquire(const std::string& dir,
                                                          const std::string& holder);
  ~DirLock();
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

  const std::string& path() const { return path_; }

 private:
  DirLock(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_;
  std::string path_;
};

}  // namespace cairn

#endif  // CAIRN_STORAGE_FILE_LOCK_H_
