#include "storage/block_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "storage/block_reader_internal.h"
#include "storage/env.h"

namespace cairn {

namespace block_reader_internal {

absl::StatusOr<ReaderFile> ReaderFile::Open(const std::string& path,
                                            bool want_direct) {
  const int flags = O_RDONLY | O_CLOEXEC;
  int fd = -1;
  bool direct = false;
  if (want_direct) {
    fd = ::open(path.c_str(), flags | O_DIRECT);
    if (fd >= 0) {
      direct = true;
    } else if (errno != EINVAL) {
      return IOError(absl::StrCat(path, ": open"), errno);
    }
  }
  if (fd < 0) {
    fd = ::open(path.c_str(), flags);
    if (fd < 0) return IOError(absl::StrCat(path, ": open"), errno);
  }
  return ReaderFile(path, fd, direct, want_direct);
}

ReaderFile::ReaderFile(ReaderFile&& other) noexcept
    : path_(std::move(other.path_)),
      fd_(std::exchange(other.fd_, -1)),
      direct_(other.direct_),
      aligned_(other.aligned_) {}

ReaderFile& ReaderFile::operator=(ReaderFile&& other) noexcept {
  std::swap(path_, other.path_);
  std::swap(fd_, other.fd_);
  std::swap(direct_, other.direct_);
  std::swap(aligned_, other.aligned_);
  return *this;
}

ReaderFile::~ReaderFile() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status ReaderFile::Validate(const ReadRequest* reqs, size_t n) const {
  for (size_t i = 0; i < n; ++i) {
    const ReadRequest& r = reqs[i];
    const char* problem = nullptr;
    if (r.buffer == nullptr) {
      problem = "null buffer";
    } else if (r.length == 0) {
      problem = "zero length";
    } else if (r.length > kMaxReadBytes) {
      problem = "length above 1 GiB";
    } else if (r.offset > static_cast<uint64_t>(INT64_MAX) - r.length) {
      problem = "offset beyond any file";
    } else if (aligned_ && (r.offset % kDirectIoAlignment != 0 ||
                            r.length % kDirectIoAlignment != 0)) {
      problem = "offset and length must be multiples of 4096 for direct I/O";
    } else if (aligned_ &&
               reinterpret_cast<uintptr_t>(r.buffer) % kDirectIoAlignment !=
                   0) {
      problem = "buffer must be 4096-byte aligned for direct I/O";
    }
    if (problem != nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(path_, ": read request ", i, " (offset ", r.offset,
                       ", length ", r.length, "): ", problem));
    }
  }
  return absl::OkStatus();
}

absl::Status ReaderFile::ReadError(const ReadRequest& req,
                                   int error_number) const {
  return IOError(absl::StrCat(path_, ": read of ", req.length,
                              " bytes at offset ", req.offset),
                 error_number);
}

absl::Status ReaderFile::ShortRead(const ReadRequest& req, uint64_t got) const {
  return absl::OutOfRangeError(
      absl::StrCat(path_, ": short read at offset ", req.offset, ": got ", got,
                   " of ", req.length, " bytes (beyond the end of the file?)"));
}

}  // namespace block_reader_internal

absl::Status BlockReaderOptions::Validate() const {
  if (queue_depth < 1 || queue_depth > 4096) {
    return absl::InvalidArgumentError(absl::StrCat(
        "block reader queue_depth must be in 1..4096, got ", queue_depth));
  }
  if (kind != kAuto && kind != kIoUring && kind != kPread) {
    return absl::InvalidArgumentError("block reader kind is not a known value");
  }
  return absl::OkStatus();
}

namespace {

// CAIRN_IO, if set, overrides the kind chosen in code.
absl::StatusOr<BlockReaderOptions::Kind> EffectiveKind(
    BlockReaderOptions::Kind requested) {
  const char* value = std::getenv("CAIRN_IO");
  if (value == nullptr || *value == '\0') return requested;
  if (std::strcmp(value, "pread") == 0) return BlockReaderOptions::kPread;
  if (std::strcmp(value, "io_uring") == 0) return BlockReaderOptions::kIoUring;
  if (std::strcmp(value, "auto") == 0) return BlockReaderOptions::kAuto;
  return absl::InvalidArgumentError(absl::StrCat(
      "CAIRN_IO must be pread, io_uring or auto; got '", value, "'"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<BlockReader>> OpenBlockReader(
    const std::string& path, const BlockReaderOptions& opts) {
  using block_reader_internal::ReaderFile;
  CAIRN_RETURN_IF_ERROR(opts.Validate());
  CAIRN_ASSIGN_OR_RETURN(BlockReaderOptions::Kind kind,
                         EffectiveKind(opts.kind));
  CAIRN_ASSIGN_OR_RETURN(ReaderFile file, ReaderFile::Open(path, opts.direct));
  if (kind == BlockReaderOptions::kPread) {
    return block_reader_internal::NewPreadReader(std::move(file));
  }
  auto reader = block_reader_internal::NewIoUringReader(std::move(file),
                                                        opts.queue_depth);
  if (reader.ok()) return reader;
  if (kind == BlockReaderOptions::kIoUring) {
    return absl::UnavailableError(
        absl::StrCat("io_uring was requested (CAIRN_IO=io_uring or "
                     "kind=kIoUring) but is unavailable: ",
                     reader.status().message()));
  }
  // Seccomp profiles (Docker's default before 2023, gVisor) refuse
  // io_uring_setup; pread is slower at depth but correct.
  static std::atomic<bool> logged{false};
  if (!logged.exchange(true)) {
    std::fprintf(stderr, "cairn: io_uring unavailable (%s); using pread\n",
                 std::string(reader.status().message()).c_str());
  }
  return block_reader_internal::NewPreadReader(std::move(file));
}

}  // namespace cairn
