// The seam between Cairn and the file system (LevelDB's Env): creating,
// appending, syncing, renaming and removing files, and buffered reads.
// Readers and writers take an Env* so that tests can substitute
// FaultInjectionEnv and fail any single operation. The query path's O_DIRECT
// reads do not go through here; they use BlockReader (block_reader.h), whose
// io_uring batching an interface per read would defeat.
//
// Errors: ENOENT becomes NotFound, ENOSPC/EDQUOT become ResourceExhausted with
// "disk full" in the message and the out-of-space mark (IsOutOfSpace below),
// EACCES/EPERM/EROFS become PermissionDenied, and anything else Internal.
// Every message names the file and the operation.
//
// Thread-safety: an Env is safe to use from many threads at once, and so is a
// RandomAccessFile. A WritableFile is not: one owner at a time.
#ifndef CAIRN_STORAGE_ENV_H_
#define CAIRN_STORAGE_ENV_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cairn {

// A file open for writing. Appends go to the end; WriteAt overwrites bytes
// already written (used to fill in a header reserved at creation). Writes may
// be buffered in user space until Sync or Close.
class WritableFile {
 public:
  virtual ~WritableFile() = default;

  virtual absl::Status Append(const void* data, size_t n) = 0;
  // Overwrites [offset, offset + n), which must lie within Size().
  virtual absl::Status WriteAt(uint64_t offset, const void* data, size_t n) = 0;
  // Makes everything written so far durable (fdatasync).
  virtual absl::Status Sync() = 0;
  // Hands buffered bytes to the kernel (no fsync), so that other readers of
  // the file (an O_DIRECT BlockReader) see them.
  virtual absl::Status Flush() = 0;
  // Flushes and closes; later calls other than Close and Size fail. Closing
  // twice is OK. The destructor closes without reporting errors.
  virtual absl::Status Close() = 0;
  // Bytes written so far, including any still buffered.
  virtual uint64_t Size() const = 0;
  virtual const std::string& path() const = 0;
};

// A file open for positioned reads (pread). It stays readable after the file
// is renamed or removed: it reads the file it opened.
class RandomAccessFile {
 public:
  virtual ~RandomAccessFile() = default;

  // Reads exactly `n` bytes at `offset` into `buf`. A file that ends first is
  // DataLossError naming the file, the offset where it ended and the read
  // asked for; other failures are IO errors as described above.
  virtual absl::Status Read(uint64_t offset, size_t n, void* buf) const = 0;
  virtual const std::string& path() const = 0;
};

class Env {
 public:
  virtual ~Env() = default;

  // The process-wide POSIX implementation. Never deleted.
  static Env* Default();

  // Creates or truncates `path`.
  virtual absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::string& path) = 0;
  // Opens `path` (created if missing) for appending after its current end;
  // for logs that grow across restarts.
  virtual absl::StatusOr<std::unique_ptr<WritableFile>> NewAppendableFile(
      const std::string& path) = 0;
  // Atomically replaces `to` (rename(2)); durable only after SyncDir.
  virtual absl::Status RenameFile(const std::string& from,
                                  const std::string& to) = 0;
  // fsyncs a directory so that creations, renames and removals in it survive
  // a crash.
  virtual absl::Status SyncDir(const std::string& dir) = 0;
  virtual absl::Status RemoveFile(const std::string& path) = 0;
  // Shortens (or extends with zeros) a file to `size` bytes; for cutting a
  // torn tail off a log during recovery.
  virtual absl::Status TruncateFile(const std::string& path, uint64_t size) = 0;
  // mkdir -p. OK if the directory exists.
  virtual absl::Status CreateDirs(const std::string& dir) = 0;

  virtual absl::StatusOr<std::unique_ptr<RandomAccessFile>>
  NewRandomAccessFile(const std::string& path) = 0;

  virtual bool FileExists(const std::string& path) = 0;
  virtual absl::StatusOr<uint64_t> FileSize(const std::string& path) = 0;
  // Whole-file read, for small files (manifests, directories).
  virtual absl::StatusOr<std::string> ReadFile(const std::string& path) = 0;
  // Names (not paths) of the entries of `dir`, without "." and "..", sorted.
  virtual absl::StatusOr<std::vector<std::string>> ListDir(
      const std::string& dir) = 0;
};

// Replaces `path` with `contents` so that a crash at any point leaves either
// the old file or the new one: writes `path`.tmp, syncs it, renames it over
// `path` and syncs the directory. On failure before the rename the temporary
// file is removed (best effort). A failure after the rename (directory sync)
// is reported although the new contents are already in place.
absl::Status WriteFileAtomically(Env* env, const std::string& path,
                                 std::string_view contents);
// The same for a file written piece by piece: `write` appends to the
// temporary file (it may be called with a file of any size, so a large file
// need not be held in memory).
absl::Status WriteFileAtomically(
    Env* env, const std::string& path,
    absl::FunctionRef<absl::Status(WritableFile*)> write);

// The second half of the above, for writers that keep `tmp` (created by
// env->NewWritableFile(TempPathFor(path))) open across calls: syncs and
// closes it, renames it over `path` and syncs the directory. On failure
// before the rename the temporary file is removed (best effort).
absl::Status CommitTempFile(Env* env, std::unique_ptr<WritableFile> tmp,
                            const std::string& path);
// Where the above write the new contents of `path`: `path`.tmp.
std::string TempPathFor(const std::string& path);

// The directory part of `path` ("." if it has none); what SyncDir needs after
// a rename into `path`.
std::string DirName(const std::string& path);

// Maps an errno value to a Status as described at the top of this file;
// `context` should name the file and the operation ("/a/b: fsync").
absl::Status IOError(const std::string& context, int error_number);

// A full disk (or quota) is the one IO error a writer can recover from
// without a reopen: nothing is wrong with what is stored, only nothing more
// fits. ResourceExhausted alone does not say so (running out of ids or of
// memory is ResourceExhausted too), so such errors carry a status payload,
// which copies of the Status keep; a layer that rewraps an error in a new
// Status loses it, so the write path passes these errors on as they are.
absl::Status OutOfSpaceError(std::string_view message);
bool IsOutOfSpace(const absl::Status& status);

}  // namespace cairn

#endif  // CAIRN_STORAGE_ENV_H_
