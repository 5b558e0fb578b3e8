// Batched positional reads of one file, for fetching posting lists: the
// caller submits a batch of extents and consumes them in completion order
// while the rest are still in flight. Two implementations return identical
// bytes: io_uring (one ring per reader) and synchronous pread (the fallback,
// and the reference in tests).
//
// Alignment: when BlockReaderOptions::direct is requested, every offset,
// length and buffer address must be a multiple of kDirectIoAlignment (4096),
// whether or not the file system actually granted O_DIRECT; so code that
// works on a test machine's tmpfs also works on the production SSD.
//
// Thread-safety: a BlockReader is NOT thread-safe; use one per thread (per
// search worker). Readers of the same file in different threads are
// independent.
#ifndef CAIRN_STORAGE_BLOCK_READER_H_
#define CAIRN_STORAGE_BLOCK_READER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cairn {

// O_DIRECT granularity: logical block size of every SSD we target.
inline constexpr uint32_t kDirectIoAlignment = 4096;
// Largest single read; keeps `result` (bytes or -errno) within int32.
inline constexpr uint32_t kMaxReadBytes = 1u << 30;

struct ReadRequest {
  // Set by the caller.
  uint64_t offset = 0;
  uint32_t length = 0;
  void* buffer = nullptr;
  // Set when the request completes: bytes read (== length on success) or
  // -errno.
  int32_t result = 0;
  // Not touched by the reader; for the caller to find its context.
  uint64_t user_data = 0;
};

struct BlockReaderOptions {
  enum Kind { kAuto, kIoUring, kPread };
  // kAuto: io_uring, falling back to pread (with one note on stderr) when
  // the kernel refuses a ring (seccomp, old kernel, locked-memory limit).
  // The environment variable CAIRN_IO=pread|io_uring|auto overrides this.
  Kind kind = kAuto;
  // Open with O_DIRECT (bypass the page cache). Falls back to buffered reads
  // when the file system refuses O_DIRECT; see BlockReader::direct().
  bool direct = true;
  // io_uring submission queue entries = reads in the kernel at once; larger
  // batches are queued and submitted as slots free up. 1..4096.
  unsigned queue_depth = 64;

  absl::Status Validate() const;
};

class BlockReader {
 public:
  virtual ~BlockReader() = default;

  // Queues reads of reqs[0..n). The requests and their buffers must stay
  // valid, and must not be touched, until WaitNext returns them. All n are
  // checked first (bounds, alignment): on InvalidArgument none is queued.
  virtual absl::Status Submit(ReadRequest* reqs, size_t n) = 0;

  // Blocks until one submitted request completes and returns it, with
  // `result` == length. Order is completion order for io_uring and
  // submission order for pread. A failed or short read (e.g. beyond the end
  // of the file) is returned as an error naming the file and offset (with
  // the request's `result` set to -errno or the bytes read); that request is
  // then done, while others may still be in flight: drain them with WaitNext
  // before reusing their buffers. FailedPrecondition if nothing is in flight.
  virtual absl::StatusOr<ReadRequest*> WaitNext() = 0;

  // Requests submitted and not yet returned by WaitNext.
  virtual size_t InFlight() const = 0;

  virtual const char* kind() const = 0;  // "io_uring" or "pread"
  virtual bool direct() const = 0;       // true if O_DIRECT is in effect
  virtual const std::string& path() const = 0;

  // Totals since the reader was opened, for per-query IO statistics (take
  // the difference across a query): bytes delivered into buffers, and
  // requests started (a request retried after EAGAIN or continued after a
  // partial read counts once).
  virtual uint64_t BytesRead() const = 0;
  virtual uint64_t ReadsIssued() const = 0;
};

// Opens `path` for reading with the implementation chosen by `opts` and
// CAIRN_IO. Errors: NotFound if the file is missing, InvalidArgument for bad
// options or CAIRN_IO values, Unavailable if io_uring was demanded but the
// kernel refuses it.
absl::StatusOr<std::unique_ptr<BlockReader>> OpenBlockReader(
    const std::string& path, const BlockReaderOptions& opts = {});

}  // namespace cairn

#endif  // CAIRN_STORAGE_BLOCK_READER_H_
