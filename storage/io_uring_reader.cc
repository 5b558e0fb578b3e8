// The io_uring BlockReader: one ring per reader, up to queue_depth reads in
// the kernel at once, further requests queued in user space and submitted as
// completions free their slots.
//
// Each read in the ring occupies a Slot (its sqe's user_data points at it)
// that remembers how many bytes have arrived, so a partial completion is
// continued and an -EAGAIN/-EINTR completion is retried in the same slot.
// There are exactly queue_depth slots and at least as many SQ entries, so
// io_uring_get_sqe cannot run out and the completion queue (twice the SQ
// size) cannot overflow.

#include <liburing.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "storage/block_reader.h"
#include "storage/block_reader_internal.h"
#include "storage/env.h"

namespace cairn::block_reader_internal {
namespace {

bool Retryable(int error_number) {
  return error_number == EAGAIN || error_number == EINTR ||
         error_number == EBUSY;
}

class IoUringReader final : public BlockReader {
 public:
  // The ring is set up in place (liburing's struct is not meant to be
  // copied); `file` is taken only on success.
  static absl::StatusOr<std::unique_ptr<BlockReader>> Create(ReaderFile&& file,
                                                             unsigned depth) {
    std::unique_ptr<IoUringReader> reader(new IoUringReader(depth));
    int ret = io_uring_queue_init(depth, &reader->ring_, 0);
    if (ret < 0) {
      return absl::UnavailableError(absl::StrCat("io_uring_queue_init(", depth,
                                                 "): ", std::strerror(-ret)));
    }
    reader->ring_ready_ = true;
    reader->file_ = std::move(file);
    return std::unique_ptr<BlockReader>(std::move(reader));
  }

  ~IoUringReader() override {
    if (!ring_ready_) return;
    // The kernel may still write into callers' buffers; wait for every read
    // it owns before tearing the ring down. Reads not yet given to the
    // kernel are simply dropped.
    size_t busy = slots_.size() - free_.size();
    while (busy > 0) {
      int ret = io_uring_submit_and_wait(&ring_, 1);
      if (ret < 0 && !Retryable(-ret)) break;
      io_uring_cqe* cqe;
      while (io_uring_peek_cqe(&ring_, &cqe) == 0) {
        io_uring_cqe_seen(&ring_, cqe);
        --busy;
      }
    }
    io_uring_queue_exit(&ring_);
  }

  absl::Status Submit(ReadRequest* reqs, size_t n) override {
    CAIRN_RETURN_IF_ERROR(file_.Validate(reqs, n));
    for (size_t i = 0; i < n; ++i) pending_.push_back(&reqs[i]);
    return Fill();
  }

  absl::StatusOr<ReadRequest*> WaitNext() override {
    if (InFlight() == 0) {
      return absl::FailedPreconditionError(
          absl::StrCat(file_.path(), ": WaitNext with no read in flight"));
    }
    while (true) {
      CAIRN_RETURN_IF_ERROR(Fill());
      io_uring_cqe* cqe = nullptr;
      int ret = io_uring_peek_cqe(&ring_, &cqe);
      if (ret == -EAGAIN) {  // nothing completed yet
        ret = io_uring_sq_ready(&ring_) > 0
                  ? io_uring_submit_and_wait(&ring_, 1)
                  : io_uring_wait_cqe(&ring_, &cqe);
        if (ret < 0 && !Retryable(-ret)) {
          return IOError(absl::StrCat(file_.path(), ": io_uring wait"), -ret);
        }
        continue;
      }
      if (ret < 0) {
        return IOError(absl::StrCat(file_.path(), ": io_uring peek"), -ret);
      }
      Slot* slot = static_cast<Slot*>(io_uring_cqe_get_data(cqe));
      const int res = cqe->res;
      io_uring_cqe_seen(&ring_, cqe);

      ReadRequest* r = slot->req;
      if (res < 0 && Retryable(-res)) {
        CAIRN_RETURN_IF_ERROR(Prepare(slot));
        continue;
      }
      if (res < 0) {
        Release(slot);
        r->result = res;
        return file_.ReadError(*r, -res);
      }
      slot->done += static_cast<uint32_t>(res);
      bytes_read_ += static_cast<uint64_t>(res);
      if (slot->done == r->length) {
        Release(slot);
        r->result = static_cast<int32_t>(r->length);
        return r;
      }
      if (res == 0 || !file_.CanResumeAt(slot->done)) {
        const uint32_t done = slot->done;
        Release(slot);
        r->result = static_cast<int32_t>(done);
        return file_.ShortRead(*r, done);
      }
      CAIRN_RETURN_IF_ERROR(Prepare(slot));  // continue a partial read
    }
  }

  size_t InFlight() const override {
    return (pending_.size() - pending_head_) + (slots_.size() - free_.size());
  }
  const char* kind() const override { return "io_uring"; }
  bool direct() const override { return file_.direct(); }
  const std::string& path() const override { return file_.path(); }
  uint64_t BytesRead() const override { return bytes_read_; }
  uint64_t ReadsIssued() const override { return reads_issued_; }

 private:
  explicit IoUringReader(unsigned depth) : slots_(depth) {
    free_.reserve(depth);
    for (Slot& s : slots_) free_.push_back(&s);
  }

  struct Slot {
    ReadRequest* req = nullptr;
    uint32_t done = 0;  // bytes already read into req->buffer
  };

  // Moves queued requests into free slots and hands everything prepared to
  // the kernel. A busy kernel (EAGAIN/EBUSY) is not an error: the prepared
  // entries stay in the SQ ring and go with the next submit.
  absl::Status Fill() {
    while (pending_head_ < pending_.size() && !free_.empty()) {
      Slot* slot = free_.back();
      free_.pop_back();
      slot->req = pending_[pending_head_++];
      slot->done = 0;
      ++reads_issued_;
      CAIRN_RETURN_IF_ERROR(Prepare(slot));
    }
    if (pending_head_ == pending_.size()) {
      pending_.clear();  // keeps capacity
      pending_head_ = 0;
    }
    if (io_uring_sq_ready(&ring_) > 0) {
      int ret = io_uring_submit(&ring_);
      if (ret < 0 && !Retryable(-ret)) {
        return IOError(absl::StrCat(file_.path(), ": io_uring submit"), -ret);
      }
    }
    return absl::OkStatus();
  }

  // Queues an SQE reading the rest of slot->req.
  absl::Status Prepare(Slot* slot) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) {
      return absl::InternalError(absl::StrCat(
          file_.path(), ": io_uring submission queue unexpectedly full"));
    }
    ReadRequest* r = slot->req;
    io_uring_prep_read(sqe, file_.fd(),
                       static_cast<char*>(r->buffer) + slot->done,
                       r->length - slot->done, r->offset + slot->done);
    io_uring_sqe_set_data(sqe, slot);
    return absl::OkStatus();
  }

  void Release(Slot* slot) {
    slot->req = nullptr;
    free_.push_back(slot);
  }

  ReaderFile file_;
  io_uring ring_;
  bool ring_ready_ = false;
  std::vector<Slot> slots_;  // fixed size: Slot addresses are sqe user_data
  std::vector<Slot*> free_;  // slots not in the ring
  std::vector<ReadRequest*> pending_;  // [pending_head_, size) await a slot
  size_t pending_head_ = 0;
  uint64_t bytes_read_ = 0;
  uint64_t reads_issued_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<BlockReader>> NewIoUringReader(
    ReaderFile&& file, unsigned queue_depth) {
  return IoUringReader::Create(std::move(file), queue_depth);
}

}  // namespace cairn::block_reader_internal
