// The synchronous BlockReader: each WaitNext performs the oldest queued read
// with pread(2). The fallback where io_uring is refused, and the reference
// the io_uring reader is tested against.

#include <unistd.h>

#include <cerrno>
#include <vector>

#include "common/status_macros.h"
#include "storage/block_reader.h"
#include "storage/block_reader_internal.h"

namespace cairn::block_reader_internal {
namespace {

class PreadReader final : public BlockReader {
 public:
  explicit PreadReader(ReaderFile file) : file_(std::move(file)) {}

  absl::Status Submit(ReadRequest* reqs, size_t n) override {
    CAIRN_RETURN_IF_ERROR(file_.Validate(reqs, n));
    for (size_t i = 0; i < n; ++i) queue_.push_back(&reqs[i]);
    return absl::OkStatus();
  }

  absl::StatusOr<ReadRequest*> WaitNext() override {
    if (InFlight() == 0) {
      return absl::FailedPreconditionError(
          absl::StrCat(file_.path(), ": WaitNext with no read in flight"));
    }
    ReadRequest* r = queue_[head_++];
    if (head_ == queue_.size()) {
      // Keeps capacity: no allocation on the next query.
      queue_.clear();
      head_ = 0;
    }
    ++reads_issued_;
    char* buffer = static_cast<char*>(r->buffer);
    uint32_t done = 0;
    while (done < r->length) {
      ssize_t got = ::pread(file_.fd(), buffer + done, r->length - done,
                            static_cast<off_t>(r->offset + done));
      if (got < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        r->result = -errno;
        return file_.ReadError(*r, errno);
      }
      done += static_cast<uint32_t>(got);
      bytes_read_ += static_cast<uint64_t>(got);
      if (got == 0 || (done < r->length && !file_.CanResumeAt(done))) {
        r->result = static_cast<int32_t>(done);
        return file_.ShortRead(*r, done);
      }
    }
    r->result = static_cast<int32_t>(done);
    return r;
  }

  size_t InFlight() const override { return queue_.size() - head_; }
  const char* kind() const override { return "pread"; }
  bool direct() const override { return file_.direct(); }
  const std::string& path() const override { return file_.path(); }
  uint64_t BytesRead() const override { return bytes_read_; }
  uint64_t ReadsIssued() const override { return reads_issued_; }

 private:
  ReaderFile file_;
  std::vector<ReadRequest*> queue_;  // [head_, size) not yet read
  size_t head_ = 0;
  uint64_t bytes_read_ = 0;
  uint64_t reads_issued_ = 0;
};

}  // namespace

std::unique_ptr<BlockReader> NewPreadReader(ReaderFile file) {
  return std::make_unique<PreadReader>(std::move(file));
}

}  // namespace cairn::block_reader_internal
