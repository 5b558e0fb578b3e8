#include "storage/point_log.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "storage/coding.h"
#include "storage/file_header.h"
#include "storage/record_frame.h"

namespace cairn {
namespace {

constexpr FileHeaderKind kPointLogHeader = {"CAIRNPTS", kPointLogFormatVersion,
                                            "point log"};
static_assert(kFileHeaderBytes == kPointLogHeaderBytes);

// The WAL's record frame (storage/record_frame.h).
static_assert(kFrameOverheadBytes == kWalRecordOverheadBytes);

// Recovery reads the log in pieces of this size (more for a larger record).
constexpr uint64_t kScanChunkBytes = uint64_t{1} << 20;

absl::Status Corrupt(const std::string& path, const std::string& what) {
  return absl::DataLossError(absl::StrCat(path, ": ", what));
}

// Empty if the header is good.
std::string HeaderProblem(std::string_view header, uint64_t generation) {
  uint64_t g = 0;
  std::string problem = FileHeaderProblem(kPointLogHeader, header, &g);
  if (problem.empty() && g != generation) {
    problem = absl::StrCat("header says generation ", g, ", file name says ",
                           generation);
  }
  return problem;
}

// Checks a body whose frame is intact; empty if it is well formed.
std::string ParseBody(uint8_t type, std::string_view body,
                      PointRecordView* view) {
  const uint8_t op = type & ~kPointCommitBit;
  if (op != static_cast<uint8_t>(PointOp::kPut) &&
      op != static_cast<uint8_t>(PointOp::kDelete)) {
    return absl::StrCat("unknown record type ", int{op},
                        " (written by a newer version?)");
  }
  if (body.size() < kPointBodyHeaderBytes) {
    return absl::StrCat("record body of ", body.size(), " bytes is too short");
  }
  const auto* p = reinterpret_cast<const uint8_t*>(body.data());
  const uint64_t key_bytes = DecodeFixed16(p);
  const uint64_t payload_bytes = DecodeFixed32(p + 4);
  if (DecodeFixed16(p + 2) != 0) return "nonzero record body flags";
  if (key_bytes == 0 || key_bytes > kPointMaxKeyBytes) {
    return absl::StrCat("key of ", key_bytes, " bytes (1 to ",
                        kPointMaxKeyBytes, " allowed)");
  }
  const uint64_t room = body.size() - kPointBodyHeaderBytes;
  if (key_bytes + payload_bytes > room) {
    return absl::StrCat("key and payload (", key_bytes, " + ", payload_bytes,
                        " bytes) exceed the record body (", room, " bytes)");
  }
  view->op = static_cast<PointOp>(op);
  view->commit = (type & kPointCommitBit) != 0;
  view->key = body.substr(kPointBodyHeaderBytes, key_bytes);
  view->payload = body.substr(kPointBodyHeaderBytes + key_bytes, payload_bytes);
  view->vector = body.substr(kPointBodyHeaderBytes + key_bytes + payload_bytes);
  if (view->op == PointOp::kDelete &&
      (!view->payload.empty() || !view->vector.empty())) {
    return "delete record with a payload or vector";
  }
  return "";
}

// Consecutive byte ranges of a file through one reusable buffer.
class FileWindow {
 public:
  FileWindow(const RandomAccessFile& file, uint64_t file_bytes)
      : file_(file), file_bytes_(file_bytes) {}

  // Bytes [offset, offset + n), which the caller knows to lie within the
  // file; valid until the next call.
  absl::StatusOr<const uint8_t*> Get(uint64_t offset, uint64_t n) {
    if (offset < start_ || offset + n > start_ + buffer_.size()) {
      buffer_.resize(
          std::min(std::max(n, kScanChunkBytes), file_bytes_ - offset));
      start_ = offset;
      CAIRN_RETURN_IF_ERROR(
          file_.Read(offset, buffer_.size(), buffer_.data()));
    }
    return reinterpret_cast<const uint8_t*>(buffer_.data()) + (offset - start_);
  }

 private:
  const RandomAccessFile& file_;
  const uint64_t file_bytes_;
  std::string buffer_;
  uint64_t start_ = 0;
};

// The outcome of decoding the record at one offset (as in wal.cc).
struct RecordCheck {
  bool ok = false;
  bool bad_sequence = false;  // intact frame with the wrong number
  // The record's size if its length field is usable (it lies within the
  // file), else 0.
  uint64_t bytes = 0;
  std::string reason;
  const uint8_t* data = nullptr;  // the whole record when bytes > 0
};

// `expected` 0 accepts any sequence number.
absl::StatusOr<RecordCheck> CheckRecord(FileWindow& window, uint64_t offset,
                                        uint64_t file_bytes,
                                        uint64_t expected) {
  const uint64_t avail = file_bytes - offset;
  if (avail < kFrameHeaderBytes) {
    return RecordCheck{
        .reason = absl::StrCat("incomplete record header (", avail, " bytes)")};
  }
  CAIRN_ASSIGN_OR_RETURN(const uint8_t* h,
                         window.Get(offset, kFrameHeaderBytes));
  const uint64_t length = DecodeFixed32(h);
  if (length > kPointMaxBodyBytes) {
    return RecordCheck{
        .reason = absl::StrCat("record length ", length, " too large")};
  }
  if (kWalRecordOverheadBytes + length > avail) {
    return RecordCheck{
        .reason = absl::StrCat("record of ", length,
                               " body bytes extends past the end of the file (",
                               avail, " bytes left)")};
  }
  RecordCheck c;
  c.bytes = kWalRecordOverheadBytes + length;
  CAIRN_ASSIGN_OR_RETURN(c.data, window.Get(offset, c.bytes));
  FrameCheck f = CheckFrame(c.data, length, expected);
  c.ok = f.ok;
  c.bad_sequence = f.bad_sequence;
  c.reason = std::move(f.reason);
  return c;
}

absl::StatusOr<bool> AllZero(FileWindow& window, uint64_t from, uint64_t to) {
  for (uint64_t off = from; off < to;) {
    const uint64_t n = std::min(kScanChunkBytes, to - off);
    CAIRN_ASSIGN_OR_RETURN(const uint8_t* p, window.Get(off, n));
    for (uint64_t i = 0; i < n; ++i) {
      if (p[i] != 0) return false;
    }
    off += n;
  }
  return true;
}

// Offset of the first intact record after `from` whose sequence number could
// follow `expected`, or 0: as wal.cc's FindIntactRecord, it tells a torn
// tail from a damaged length field in the middle of the log.
absl::StatusOr<uint64_t> FindIntactRecord(const RandomAccessFile& file,
                                          uint64_t file_bytes, uint64_t from,
                                          uint64_t expected) {
  FileWindow scan(file, file_bytes);
  FileWindow verify(file, file_bytes);
  const uint64_t max_gap = (file_bytes - from) / kWalRecordOverheadBytes;
  for (uint64_t off = from; off + kWalRecordOverheadBytes <= file_bytes;
       ++off) {
    CAIRN_ASSIGN_OR_RETURN(const uint8_t* p, scan.Get(off, kFrameHeaderBytes));
    const uint64_t seq = DecodeFixed64(p + kFrameSequenceOffset);
    if (seq < expected || seq - expected > max_gap) continue;
    CAIRN_ASSIGN_OR_RETURN(RecordCheck c,
                           CheckRecord(verify, off, file_bytes, seq));
    if (c.ok) return off;
  }
  return 0;
}

}  // namespace

std::string EncodePointLogHeader(uint64_t generation) {
  return EncodeFileHeader(kPointLogHeader, generation);
}

void EncodePointRecord(PointOp op, bool commit, uint64_t sequence,
                       std::string_view key, std::string_view payload,
                       std::string_view vector, std::string* out) {
  const size_t body =
      kPointBodyHeaderBytes + key.size() + payload.size() + vector.size();
  const size_t start = out->size();
  out->resize(start + kWalRecordOverheadBytes + body);
  uint8_t* p = reinterpret_cast<uint8_t*>(out->data()) + start;
  EncodeFrameHeader(p, static_cast<uint32_t>(body),
                    static_cast<uint8_t>(op) | (commit ? kPointCommitBit : uint8_t{0}),
                    sequence);
  uint8_t* b = p + kFrameHeaderBytes;
  EncodeFixed16(b, static_cast<uint16_t>(key.size()));
  EncodeFixed16(b + 2, 0);
  EncodeFixed32(b + 4, static_cast<uint32_t>(payload.size()));
  b += kPointBodyHeaderBytes;
  for (std::string_view part : {key, payload, vector}) {
    if (!part.empty()) std::memcpy(b, part.data(), part.size());
    b += part.size();
  }
  SealFrame(p, static_cast<uint32_t>(body));
}

absl::StatusOr<PointRecordView> ReadPointRecord(const RandomAccessFile& file,
                                                const std::string& path,
                                                PointLocation location,
                                                std::string* buffer) {
  const auto where = [&](const std::string& what) {
    return Corrupt(
        path, absl::StrCat("record at offset ", location.offset, ": ", what));
  };
  if (location.bytes < kPointRecordOverheadBytes ||
      location.bytes > kWalRecordOverheadBytes + kPointMaxBodyBytes) {
    return where(absl::StrCat("bad record size ", location.bytes));
  }
  buffer->resize(location.bytes);
  auto* p = reinterpret_cast<uint8_t*>(buffer->data());
  CAIRN_RETURN_IF_ERROR(file.Read(location.offset, location.bytes, p));
  const uint64_t length = DecodeFixed32(p);
  if (length + kWalRecordOverheadBytes != location.bytes) {
    return where(absl::StrCat("length field ", length, " does not match the ",
                              location.bytes, "-byte record expected"));
  }
  if (FrameCheck f = CheckFrame(p, length, 0); !f.ok) return where(f.reason);
  PointRecordView view;
  view.sequence = DecodeFixed64(p + kFrameSequenceOffset);
  const std::string problem = ParseBody(
      p[kFrameTypeOffset],
      std::string_view(*buffer).substr(kFrameHeaderBytes, length), &view);
  if (!problem.empty()) return where(problem);
  return view;
}

absl::Status ScanPointLog(
    const RandomAccessFile& file, uint64_t file_bytes, uint64_t generation,
    const std::function<absl::Status(const std::vector<PointLogOp>&)>& on_batch,
    PointLogScan* result) {
  PointLogScan local;
  PointLogScan& r = result != nullptr ? *result : local;
  r = PointLogScan();
  const std::string& path = file.path();
  FileWindow window(file, file_bytes);
  {
    const uint64_t n = std::min(file_bytes, kPointLogHeaderBytes);
    CAIRN_ASSIGN_OR_RETURN(const uint8_t* h, window.Get(0, n));
    if (std::string problem = HeaderProblem(
            std::string_view(reinterpret_cast<const char*>(h), n), generation);
        !problem.empty()) {
      return Corrupt(path, problem);
    }
  }
  uint64_t off = kPointLogHeaderBytes;
  r.valid_bytes = off;
  uint64_t expected = 1;
  std::vector<PointLogOp> batch;
  while (off < file_bytes) {
    CAIRN_ASSIGN_OR_RETURN(RecordCheck c,
                           CheckRecord(window, off, file_bytes, expected));
    if (c.ok) {
      PointRecordView view;
      const std::string problem =
          ParseBody(c.data[kFrameTypeOffset],
                    std::string_view(reinterpret_cast<const char*>(c.data) +
                                         kFrameHeaderBytes,
                                     c.bytes - kWalRecordOverheadBytes),
                    &view);
      if (!problem.empty()) {
        return Corrupt(path,
                       absl::StrCat("record at offset ", off, " (sequence ",
                                    expected, "): ", problem));
      }
      batch.push_back({view.op,
                       std::string(view.key),
                       {off, static_cast<uint32_t>(c.bytes)}});
      off += c.bytes;
      ++expected;
      if (view.commit) {
        CAIRN_RETURN_IF_ERROR(on_batch(batch));
        ++r.batches;
        r.records += batch.size();
        batch.clear();
        r.valid_bytes = off;
        r.next_sequence = expected;
      }
      continue;
    }
    // A torn write is the last thing in the file (wal.cc's rules): nonzero
    // bytes after the damaged record's end, or an intact record anywhere
    // after its start, mean that data was written after it.
    std::string evidence;
    if (c.bad_sequence) {
      evidence = " in an otherwise intact record";
    } else {
      CAIRN_ASSIGN_OR_RETURN(const bool zeros,
                             AllZero(window, off, file_bytes));
      bool zeros_after = true;
      if (zeros) {
        c.reason = absl::StrCat(file_bytes - off,
                                " zero bytes to the end of the file");
      } else if (c.bytes > 0) {
        CAIRN_ASSIGN_OR_RETURN(zeros_after,
                               AllZero(window, off + c.bytes, file_bytes));
      }
      if (!zeros_after) {
        evidence = absl::StrCat(", followed by ", file_bytes - off - c.bytes,
                                " more bytes");
      } else if (!zeros) {
        CAIRN_ASSIGN_OR_RETURN(
            const uint64_t next,
            FindIntactRecord(file, file_bytes, off + 1, expected));
        if (next != 0) {
          evidence =
              absl::StrCat("; an intact record follows at offset ", next);
        }
      }
    }
    if (!evidence.empty()) {
      return Corrupt(
          path, absl::StrCat("corrupt record at offset ", off, " (sequence ",
                             expected, "): ", c.reason, evidence));
    }
    r.torn_tail = true;
    r.torn_reason =
        absl::StrCat("damaged record at offset ", off, ": ", c.reason);
    break;
  }
  if (!batch.empty()) {
    r.dropped_records = batch.size();
    if (!r.torn_tail) {
      r.torn_tail = true;
      r.torn_reason = absl::StrCat("unfinished batch of ", batch.size(),
                                   " records without its commit record");
    } else {
      absl::StrAppend(&r.torn_reason, ", after ", batch.size(),
                      " records of an unfinished batch");
    }
  }
  return absl::OkStatus();
}

std::string PointLogName(uint64_t generation) {
  return absl::StrCat("points.", generation, ".log");
}

std::string PointLogTempName(uint64_t generation) {
  return absl::StrCat("points.", generation, ".tmp");
}

uint64_t ParsePointLogName(std::string_view name, bool* temp) {
  constexpr std::string_view kPrefix = "points.";
  if (name.size() < kPrefix.size() + 5 ||
      name.substr(0, kPrefix.size()) != kPrefix) {
    return 0;
  }
  const std::string_view suffix = name.substr(name.size() - 4);
  if (suffix != ".log" && suffix != ".tmp") return 0;
  const std::string_view digits =
      name.substr(kPrefix.size(), name.size() - kPrefix.size() - 4);
  if (digits.empty() || digits[0] == '0' ||
      !std::all_of(digits.begin(), digits.end(),
                   [](char c) { return c >= '0' && c <= '9'; })) {
    return 0;
  }
  uint64_t generation = 0;
  if (!absl::SimpleAtoi(absl::string_view(digits.data(), digits.size()), &generation)) return 0;
  *temp = suffix == ".tmp";
  return generation;
}

}  // namespace cairn
