// The point store's log file (docs/formats.md, "Point store"): a 32-byte
// header naming the file's generation, then records in the write-ahead log's
// framing (wal.h: length, type, sequence, payload, XXH3) whose payloads
// ("bodies") are PUT (key, payload, vector) or DELETE (key). The last record of
// every batch has the COMMIT bit in its type byte; recovery applies a batch
// only once it has read that record, so a crash applies all of a batch or none.
// This file encodes, reads back and scans such logs; point_store.h gives them
// meaning and owns the files.
//
// Reads go through a RandomAccessFile the caller opened from its Env, so a
// test can fail them (FaultInjectionEnv).
//
// Thread-safety: every function is safe to call concurrently, also on one
// RandomAccessFile.
#ifndef CAIRN_STORAGE_POINT_LOG_H_
#define CAIRN_STORAGE_POINT_LOG_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/env.h"
#include "storage/wal.h"

namespace cairn {

inline constexpr uint32_t kPointLogFormatVersion = 1;
inline constexpr uint64_t kPointLogHeaderBytes = 32;
// Keys are 1 to 1024 bytes.
inline constexpr size_t kPointMaxKeyBytes = 1024;
// Body header: u16 key bytes, u16 flags (0), u32 payload bytes.
inline constexpr uint64_t kPointBodyHeaderBytes = 8;
// A body (key, payload, vector and its 8-byte header) is at most the WAL's
// payload limit, 64 MiB.
inline constexpr uint64_t kPointMaxBodyBytes = kWalMaxPayloadBytes;
// Framing plus body header: a record's size is this plus key, payload and
// vector bytes.
inline constexpr uint64_t kPointRecordOverheadBytes =
    kWalRecordOverheadBytes + kPointBodyHeaderBytes;

// The low 7 bits of a record's type byte.
enum class PointOp : uint8_t { kPut = 1, kDelete = 2 };
// Set on the last record of a batch.
inline constexpr uint8_t kPointCommitBit = 0x80;

// A whole framed record in the current log: what the store's map holds.
struct PointLocation {
  uint64_t offset = 0;
  uint32_t bytes = 0;
};

// Bytes of a PUT record's whole frame (a DELETE is a PUT with empty payload
// and vector).
inline uint64_t PointRecordBytes(size_t key, size_t payload, size_t vector) {
  return kPointRecordOverheadBytes + key + payload + vector;
}

std::string EncodePointLogHeader(uint64_t generation);

// Appends one framed record to *out. The caller has checked the limits
// (1 <= key <= kPointMaxKeyBytes, body <= kPointMaxBodyBytes); a DELETE
// takes empty payload and vector.
void EncodePointRecord(PointOp op, bool commit, uint64_t sequence,
                       std::string_view key, std::string_view payload,
                       std::string_view vector, std::string* out);

struct PointRecordView {
  PointOp op = PointOp::kPut;
  bool commit = false;
  uint64_t sequence = 0;
  // Point into the buffer given to ReadPointRecord.
  std::string_view key;
  std::string_view payload;
  std::string_view vector;
};

// Reads the record at `location` of the log open as `file` into *buffer and
// verifies its frame (length, checksum, zero padding) and body. DataLossError
// naming `path` (the log's name, which `file` may have been opened under
// before a rename) and the offset on any mismatch or a short file.
absl::StatusOr<PointRecordView> ReadPointRecord(const RandomAccessFile& file,
                                                const std::string& path,
                                                PointLocation location,
                                                std::string* buffer);

// One record of a committed batch, as recovery replays it.
struct PointLogOp {
  PointOp op;
  std::string key;
  PointLocation location;
};

struct PointLogScan {
  uint64_t batches = 0;  // committed batches delivered
  uint64_t records = 0;  // records in them
  // End of the last committed batch (the header's end if none): the file is
  // to be truncated here before appending.
  uint64_t valid_bytes = 0;
  // Sequence number of the next record to append.
  uint64_t next_sequence = 1;
  // Bytes after valid_bytes were dropped; torn_reason says why.
  bool torn_tail = false;
  std::string torn_reason;
  // Intact records of the unfinished last batch (dropped with it).
  uint64_t dropped_records = 0;
};

// Reads the log of `file_bytes` bytes open as `file` from the start, calling
// `on_batch` once per committed batch, in order. Reads in chunks: memory is
// bounded by the largest record plus one chunk, not by the file. Returns:
//  - OK at the end of the file; an unfinished last batch (intact records
//    without a commit) and a damaged record with nothing after it (no
//    nonzero byte after its end, no intact record after its start) are a torn
//    tail: OK with result->torn_tail set;
//  - DataLossError naming file.path() and the offset for a bad header (magic,
//    version, checksum, reserved field, or a generation other than
//    `generation`), a damaged record with data after it, an intact record
//    with the wrong sequence number, an unknown type or a malformed body;
//  - an error from `on_batch` as is, or an IO error.
// `result` may be null.
absl::Status ScanPointLog(
    const RandomAccessFile& file, uint64_t file_bytes, uint64_t generation,
    const std::function<absl::Status(const std::vector<PointLogOp>&)>& on_batch,
    PointLogScan* result);

// Directory entries: generation g's log is "points.<g>.log" (decimal, no
// leading zeros), and "points.<g>.tmp" while compaction writes it.
std::string PointLogName(uint64_t generation);
std::string PointLogTempName(uint64_t generation);
// The generation (>= 1) of a log or temporary file name, else 0. Sets *temp
// for a temporary file.
uint64_t ParsePointLogName(std::string_view name, bool* temp);

}  // namespace cairn

#endif  // CAIRN_STORAGE_POINT_LOG_H_
