#include "storage/wal.h"

#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "storage/coding.h"
#include "storage/file_header.h"
#include "storage/record_frame.h"

namespace cairn {
namespace {

constexpr FileHeaderKind kWalHeader = {"CAIRNWAL", kWalFormatVersion, "WAL"};
static_assert(kFileHeaderBytes == kWalHeaderBytes);

static_assert(kFrameOverheadBytes == kWalRecordOverheadBytes);

// A group stops growing here (unless its first record alone is larger), so
// that one big group does not delay the appenders queued behind it for long.
constexpr uint64_t kMaxGroupBytes = uint64_t{4} << 20;

void EncodeRecord(uint8_t type, uint64_t sequence, std::string_view payload,
                  std::string* out) {
  const size_t start = out->size();
  out->resize(start + kWalRecordOverheadBytes + payload.size());
  uint8_t* p = reinterpret_cast<uint8_t*>(out->data()) + start;
  EncodeFrameHeader(p, static_cast<uint32_t>(payload.size()), type, sequence);
  if (!payload.empty())
    std::memcpy(p + kFrameHeaderBytes, payload.data(), payload.size());
  SealFrame(p, static_cast<uint32_t>(payload.size()));
}

absl::Status CheckRecordArgs(const std::string& path, uint8_t type,
                             size_t payload_bytes) {
  if (type != 0 && payload_bytes <= kWalMaxPayloadBytes) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      path, ": bad WAL record: type ", int{type}, " (0 is reserved), ",
      payload_bytes, " payload bytes (limit ", kWalMaxPayloadBytes, ")"));
}

}  // namespace

struct WalWriter::Pending {
  std::string data;  // encoded records; empty for Sync and Close
  bool sync = false;
  bool ready = false;  // data is complete (it is filled outside the lock)
  uint64_t end_sequence = 0;  // the number after this call's records
  bool done = false;
  absl::Status status;
  absl::CondVar cv;
};

WalWriter::WalWriter(Env* env, std::string path, std::unique_ptr<WritableFile> file,
                     uint64_t next_sequence, uint64_t bytes)
    : env_(env),
      path_(std::move(path)),
      next_sequence_(next_sequence),
      bytes_(bytes),
      written_sequence_(next_sequence),
      synced_bytes_(bytes),
      synced_sequence_(next_sequence),
      file_(std::move(file)) {}

WalWriter::~WalWriter() { (void)Close(); }

absl::StatusOr<std::unique_ptr<WalWriter>> WalWriter::Create(
    Env* env, const std::string& path, uint64_t first_sequence) {
  if (first_sequence == ~uint64_t{0}) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": WAL first_sequence leaves no sequence numbers"));
  }
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file,
                         env->NewWritableFile(path));
  const std::string header = EncodeFileHeader(kWalHeader, first_sequence);
  absl::Status status = file->Append(header.data(), header.size());
  if (status.ok()) status = file->Sync();
  // Without the directory sync a power cut could lose the file's name even
  // though its header was synced.
  if (status.ok()) status = env->SyncDir(DirName(path));
  if (!status.ok()) {
    file.reset();
    (void)env->RemoveFile(path);
    return status;
  }
  return std::unique_ptr<WalWriter>(
      new WalWriter(env, path, std::move(file), first_sequence + 1, kWalHeaderBytes));
}

absl::StatusOr<std::unique_ptr<WalWriter>> WalWriter::OpenForAppend(
    Env* env, const std::string& path, uint64_t valid_bytes,
    uint64_t next_sequence) {
  CAIRN_ASSIGN_OR_RETURN(uint64_t size, env->FileSize(path));
  if (valid_bytes < kWalHeaderBytes || valid_bytes > size ||
      next_sequence == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": cannot append sequence ", next_sequence, " after byte ",
        valid_bytes, " of a ", size, "-byte WAL (header is ", kWalHeaderBytes,
        " bytes; sequences start at 1)"));
  }
  if (valid_bytes < size) {
    CAIRN_RETURN_IF_ERROR(env->TruncateFile(path, valid_bytes));
  }
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file,
                         env->NewAppendableFile(path));
  // The truncation must be durable before new records overwrite the dropped
  // tail, or a crash could leave new records followed by old garbage, which
  // reads as corruption. It also makes durable what recovery just replayed,
  // which a crashed process may have left only in the page cache.
  CAIRN_RETURN_IF_ERROR(file->Sync());
  return std::unique_ptr<WalWriter>(
      new WalWriter(env, path, std::move(file), next_sequence, valid_bytes));
}

absl::StatusOr<uint64_t> WalWriter::Append(uint8_t type,
                                           std::string_view payload,
                                           bool sync) {
  CAIRN_RETURN_IF_ERROR(CheckRecordArgs(path_, type, payload.size()));
  return Commit(1, sync, [&](uint64_t first, std::string* out) {
    EncodeRecord(type, first, payload, out);
  });
}

absl::StatusOr<uint64_t> WalWriter::AppendBatch(
    const std::vector<std::pair<uint8_t, std::string>>& records, bool sync) {
  if (records.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": empty WAL batch"));
  }
  size_t total = 0;
  for (const auto& [type, payload] : records) {
    CAIRN_RETURN_IF_ERROR(CheckRecordArgs(path_, type, payload.size()));
    total += kWalRecordOverheadBytes + payload.size();
  }
  return Commit(records.size(), sync, [&](uint64_t first, std::string* out) {
    out->reserve(total);
    for (size_t i = 0; i < records.size(); ++i) {
      EncodeRecord(records[i].first, first + i, records[i].second, out);
    }
  });
}

absl::Status WalWriter::Sync() {
  return Commit(0, true, [](uint64_t, std::string*) {}).status();
}

absl::StatusOr<uint64_t> WalWriter::Commit(
    uint64_t n, bool sync,
    absl::FunctionRef<void(uint64_t first, std::string* out)> encode) {
  Pending p;
  p.sync = sync;
  uint64_t first;
  {
    absl::MutexLock lock(&mu_);
    CAIRN_RETURN_IF_ERROR(error_);
    if (closed_) {
      return absl::FailedPreconditionError(
          absl::StrCat(path_, ": WAL writer is closed"));
    }
    // Numbers are taken in queue order, so the file holds them in order.
    first = next_sequence_;
    next_sequence_ += n;
    p.end_sequence = next_sequence_;
    queue_.push_back(&p);
  }
  // Encoding (copy and checksum) runs unlocked so appenders overlap it; the
  // leader only takes ready writers, stopping at the first one still here.
  encode(first, &p.data);
  absl::MutexLock lock(&mu_);
  p.ready = true;
  AwaitCommit(&p);
  CAIRN_RETURN_IF_ERROR(p.status);
  return first;
}

void WalWriter::AwaitCommit(Pending* p) {
  while (!p->done && queue_.front() != p) p->cv.Wait(&mu_);
  if (!p->done) LeadGroup(p);
}

void WalWriter::LeadGroup(Pending* leader) {
  group_.clear();
  uint64_t group_bytes = 0;
  bool sync = false;
  for (Pending* p : queue_) {
    if (!p->ready) break;
    if (!group_.empty() && group_bytes + p->data.size() > kMaxGroupBytes) {
      break;
    }
    group_.push_back(p);
    group_bytes += p->data.size();
    sync = sync || p->sync;
  }
  absl::Status status = error_;
  bool cut = false;
  if (status.ok()) {
    const bool do_sync = sync && (unsynced_ || group_bytes > 0);
    bool sync_failed = false;
    // A failed fsync may have dropped every page written since the last
    // good one, so the cut goes back that far; a failed write only loses
    // its own group.
    const uint64_t written = bytes_, synced = synced_bytes_;
    // The queue's front stays in place while mu_ is released, so no other
    // thread can become leader and touch file_ meanwhile.
    mu_.Unlock();
    status = WriteGroup(group_bytes, do_sync, &sync_failed);
    const uint64_t cut_to = sync_failed ? synced : written;
    if (!status.ok() && IsOutOfSpace(status)) cut = CutBack(cut_to).ok();
    mu_.Lock();
    if (status.ok()) {
      bytes_ += group_bytes;
      written_sequence_ = group_.back()->end_sequence;
      unsynced_ = !do_sync && (unsynced_ || group_bytes > 0);
      if (!unsynced_) {
        synced_bytes_ = bytes_;
        synced_sequence_ = written_sequence_;
      }
    } else if (cut) {
      AfterCutBack(cut_to, sync_failed ? synced_sequence_ : written_sequence_, status);
    } else if (IsOutOfSpace(status)) {
      // The cut failed: not marked out-of-space, since more room does not
      // help; a reopen (ReadWal, OpenForAppend) does.
      error_ = absl::InternalError(
          absl::StrCat(path_, ": WAL needs a reopen: cutting back after a full disk failed (",
                       status.message(), ")"));
    } else {
      error_ = status;
    }
  }
  for (Pending* p : group_) {
    queue_.pop_front();
    p->status = status;
    p->done = true;
    if (p != leader) p->cv.Signal();
  }
  if (cut) {
    // Queued behind the group with numbers past the cut: they cannot be
    // written with them, and renumbering would reorder them after later
    // calls. They fail with the group.
    for (Pending* p : queue_) {
      p->status = status;
      p->done = true;
      p->cv.Signal();
    }
    queue_.clear();
  }
  if (!queue_.empty()) queue_.front()->cv.Signal();
}

void WalWriter::AfterCutBack(uint64_t size, uint64_t next_sequence, const absl::Status& error) {
  std::fprintf(stderr,
               "wal: %s: %s; cut back to %" PRIu64 " bytes, continuing at sequence %" PRIu64 "\n",
               path_.c_str(), std::string(error.message()).c_str(), size, next_sequence);
  bytes_ = size;
  next_sequence_ = next_sequence;
  written_sequence_ = next_sequence;
  // CutBack fsynced the file at this size.
  synced_bytes_ = size;
  synced_sequence_ = next_sequence;
  unsynced_ = false;
}

absl::Status WalWriter::CutBack(uint64_t size) {
  // The old appender holds a sticky error and an offset past `size`.
  (void)file_->Close();
  absl::Status status = env_->TruncateFile(path_, size);
  absl::StatusOr<std::unique_ptr<WritableFile>> file;
  if (status.ok()) {
    file = env_->NewAppendableFile(path_);
    status = file.status();
  }
  // The cut must be durable before new records land where the cut ones
  // were (as in OpenForAppend).
  if (status.ok()) status = (*file)->Sync();
  if (status.ok() && (*file)->Size() != size) {
    status = absl::InternalError(
        absl::StrCat(path_, ": reopened at ", (*file)->Size(), " bytes, expected ", size));
  }
  if (!status.ok()) {
    std::fprintf(stderr, "wal: %s: cannot cut back after a full disk: %s\n", path_.c_str(),
                 status.ToString().c_str());
    return status;
  }
  file_ = *std::move(file);
  return absl::OkStatus();
}

absl::Status WalWriter::WriteGroup(uint64_t bytes, bool sync, bool* sync_failed) {
  if (bytes > 0) {
    const std::string* data = &group_.front()->data;
    if (group_.size() > 1) {
      group_buffer_.clear();
      for (const Pending* p : group_) group_buffer_ += p->data;
      data = &group_buffer_;
    }
    CAIRN_RETURN_IF_ERROR(file_->Append(data->data(), data->size()));
    // Unsynced records reach the kernel too, so that a full disk shows up
    // in the group whose records did not fit, not in a later one.
    if (!sync) CAIRN_RETURN_IF_ERROR(file_->Flush());
  }
  if (sync) {
    absl::Status status = file_->Sync();
    *sync_failed = !status.ok();
    return status;
  }
  return absl::OkStatus();
}

absl::Status WalWriter::Close() {
  Pending p;
  p.sync = true;
  p.ready = true;
  {
    absl::MutexLock lock(&mu_);
    if (closed_) {
      mu_.Await(absl::Condition(&close_done_));
      return close_status_;
    }
    closed_ = true;
    p.end_sequence = next_sequence_;
    queue_.push_back(&p);
    AwaitCommit(&p);
  }
  // p was queued last and later calls are refused, so nothing else uses
  // file_ now. A poisoned writer still closes its descriptor.
  absl::Status status = p.status;
  absl::Status closed = file_->Close();
  if (status.ok()) status = closed;
  absl::MutexLock lock(&mu_);
  close_status_ = status;
  close_done_ = true;
  return status;
}

uint64_t WalWriter::next_sequence() const {
  absl::MutexLock lock(&mu_);
  return next_sequence_;
}

uint64_t WalWriter::bytes() const {
  absl::MutexLock lock(&mu_);
  return bytes_;
}

absl::Status WalWriter::status() const {
  absl::MutexLock lock(&mu_);
  return error_;
}

namespace {

absl::Status Corrupt(const std::string& path, const std::string& what) {
  return absl::DataLossError(absl::StrCat(path, ": ", what));
}

// The outcome of decoding the record at one offset.
struct RecordCheck {
  bool ok = false;
  bool bad_sequence = false;  // intact record with the wrong number
  // The record's size if its length field is usable (the record lies within
  // the file), else 0.
  uint64_t bytes = 0;
  std::string reason;
};

RecordCheck CheckRecord(const uint8_t* p, uint64_t avail, uint64_t expected) {
  if (avail < kFrameHeaderBytes) {
    return {.reason =
                absl::StrCat("incomplete record header (", avail, " bytes)")};
  }
  const uint64_t length = DecodeFixed32(p);
  if (length > kWalMaxPayloadBytes) {
    return {.reason = absl::StrCat("payload length ", length, " too large")};
  }
  if (kWalRecordOverheadBytes + length > avail) {
    return {.reason = absl::StrCat("record of ", length,
                                   " payload bytes extends past the end of "
                                   "the file (",
                                   avail, " bytes left)")};
  }
  RecordCheck c;
  c.bytes = kWalRecordOverheadBytes + length;
  FrameCheck f = CheckFrame(p, length, expected);
  c.ok = f.ok;
  c.bad_sequence = f.bad_sequence;
  c.reason = std::move(f.reason);
  return c;
}

bool AllZero(const uint8_t* p, uint64_t n) {
  for (uint64_t i = 0; i < n; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

// Offset of the first intact record after `from` whose sequence number could
// follow `expected` (that filter makes payload bytes that happen to look like
// a record, like a WAL embedded in a payload, very unlikely to match), or 0.
// Tells a torn tail from a corrupted length field in the middle of the log.
uint64_t FindIntactRecord(const uint8_t* base, uint64_t size, uint64_t from,
                          uint64_t expected) {
  for (uint64_t off = from; off + kWalRecordOverheadBytes <= size; ++off) {
    const uint8_t* p = base + off;
    const uint64_t seq = DecodeFixed64(p + kFrameSequenceOffset);
    const bool plausible =
        seq >= expected &&
        seq - expected <= (size - from) / kWalRecordOverheadBytes;
    if (plausible && CheckRecord(p, size - off, seq).ok) return off;
  }
  return 0;
}

}  // namespace

absl::Status ReadWal(Env* env, const std::string& path,
                     const std::function<absl::Status(const WalRecord&)>& fn,
                     WalReadResult* result) {
  WalReadResult local;
  WalReadResult& r = result != nullptr ? *result : local;
  r = WalReadResult();
  CAIRN_ASSIGN_OR_RETURN(const std::string contents, env->ReadFile(path));
  const uint8_t* base = reinterpret_cast<const uint8_t*>(contents.data());
  const uint64_t size = contents.size();
  if (std::string problem =
          FileHeaderProblem(kWalHeader, contents, &r.first_sequence);
      !problem.empty()) {
    return Corrupt(path, problem);
  }

  uint64_t off = kWalHeaderBytes;
  r.valid_bytes = off;
  uint64_t expected = r.first_sequence + 1;
  while (off < size) {
    const uint8_t* p = base + off;
    RecordCheck c = CheckRecord(p, size - off, expected);
    if (c.ok) {
      const WalRecord record{
          p[kFrameTypeOffset], expected,
          std::string_view(contents).substr(off + kFrameHeaderBytes,
                                            c.bytes - kWalRecordOverheadBytes),
          off};
      CAIRN_RETURN_IF_ERROR(fn(record));
      r.last_sequence = expected++;
      ++r.records;
      off += c.bytes;
      r.valid_bytes = off;
      continue;
    }
    // A torn write is the last thing in the file. Nonzero bytes after the
    // damaged record's end, or an intact record anywhere after its start
    // (its length field may be the damage), mean data was written after it.
    const uint64_t rest = size - off;
    std::string evidence;
    if (c.bad_sequence) {
      evidence = " in an otherwise intact record";
    } else if (AllZero(p, rest)) {
      c.reason = absl::StrCat(rest, " zero bytes to the end of the file");
    } else if (c.bytes > 0 && !AllZero(p + c.bytes, rest - c.bytes)) {
      evidence = absl::StrCat(", followed by ", rest - c.bytes, " more bytes");
    } else if (uint64_t next = FindIntactRecord(base, size, off + 1, expected);
               next != 0) {
      evidence = absl::StrCat("; an intact record follows at offset ", next);
    }
    if (!evidence.empty()) {
      return Corrupt(
          path, absl::StrCat("corrupt record at offset ", off, " (sequence ",
                             expected, "): ", c.reason, evidence));
    }
    r.torn_tail = true;
    r.torn_reason = c.reason;
    std::fprintf(stderr,
                 "wal: dropping torn tail at %s offset %" PRIu64 ": %s\n",
                 path.c_str(), off, c.reason.c_str());
    return absl::OkStatus();
  }
  return absl::OkStatus();
}

}  // namespace cairn
