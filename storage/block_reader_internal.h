// What the io_uring and pread readers share: the open file (descriptor,
// whether O_DIRECT was granted), request validation and error messages.
// Private to storage/; include block_reader.h instead.
//
// Thread-safety: ReaderFile is immutable after Open; its methods are safe to
// call concurrently.
#ifndef CAIRN_STORAGE_BLOCK_READER_INTERNAL_H_
#define CAIRN_STORAGE_BLOCK_READER_INTERNAL_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/block_reader.h"

namespace cairn::block_reader_internal {

// Owns a read-only descriptor. Movable, not copyable.
class ReaderFile {
 public:
  // Opens with O_DIRECT if `want_direct`, falling back to buffered I/O if the
  // file system answers EINVAL. Alignment is required iff `want_direct`.
  static absl::StatusOr<ReaderFile> Open(const std::string& path,
                                         bool want_direct);

  ReaderFile() = default;  // no file; a target to move into
  ReaderFile(ReaderFile&& other) noexcept;
  ReaderFile& operator=(ReaderFile&& other) noexcept;
  ReaderFile(const ReaderFile&) = delete;
  ReaderFile& operator=(const ReaderFile&) = delete;
  ~ReaderFile();

  int fd() const { return fd_; }
  bool direct() const { return direct_; }
  const std::string& path() const { return path_; }

  // InvalidArgument naming the first bad request, if any.
  absl::Status Validate(const ReadRequest* reqs, size_t n) const;
  // For a read that failed with errno `error_number`.
  absl::Status ReadError(const ReadRequest& req, int error_number) const;
  // For a read that ended after `got` < length bytes (end of file).
  absl::Status ShortRead(const ReadRequest& req, uint64_t got) const;
  // Whether a read that has delivered `done` bytes may continue where it
  // stopped: O_DIRECT cannot resume at an unaligned position, which only a
  // read reaching the end of the file produces.
  bool CanResumeAt(uint64_t done) const {
    return !direct_ || done % kDirectIoAlignment == 0;
  }

 private:
  ReaderFile(std::string path, int fd, bool direct, bool aligned)
      : path_(std::move(path)), fd_(fd), direct_(direct), aligned_(aligned) {}

  std::string path_;
  int fd_ = -1;
  bool direct_ = false;
  bool aligned_ = false;
};

// Takes ownership of `file` only on success, so that the caller can fall
// back to pread with it. Unavailable if the kernel refuses a ring.
absl::StatusOr<std::unique_ptr<BlockReader>> NewIoUringReader(
    ReaderFile&& file, unsigned queue_depth);

std::unique_ptr<BlockReader> NewPreadReader(ReaderFile file);

}  // namespace cairn::block_reader_internal

#endif  // CAIRN_STORAGE_BLOCK_READER_INTERNAL_H_
