// A posting file: one header page, then page-aligned records ("postings"),
// each read from disk in one contiguous, O_DIRECT-friendly extent. The index
// keeps each record's PostingLocation in its directory; this layer knows
// nothing of what the payload bytes mean. Layout: docs/formats.md, "Posting
// file".
//
// Reading a record on the query path: BlockReader reads `location.bytes` at
// `location.offset` into a 4096-aligned buffer, then ParseRecord verifies the
// frame and checksum and returns the payload.
//
// Thread-safety: a PostingFileWriter is not thread-safe (one writer, one
// thread). A PostingFileReader is immutable after Open and safe to share;
// ParseRecord is a pure function.
#ifndef CAIRN_STORAGE_POSTING_FILE_H_
#define CAIRN_STORAGE_POSTING_FILE_H_

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/block_reader.h"
#include "storage/env.h"

namespace cairn {

// Records start and end on these boundaries; page 0 is the file header.
inline constexpr uint32_t kPostingPageBytes = 4096;
static_assert(kPostingPageBytes % kDirectIoAlignment == 0);

inline constexpr char kPostingFileMagic[8] = {'C', 'A', 'I', 'R',
                                              'N', 'P', 'S', 'T'};
inline constexpr uint32_t kPostingFileVersion = 1;
// Bytes of the header page that carry data (the checksum is the last 8).
inline constexpr uint32_t kPostingFileHeaderBytes = 104;
inline constexpr uint32_t kPostingFrameMagic = 0x54534F50;  // "POST"
inline constexpr uint16_t kPostingFrameVersion = 1;
inline constexpr uint32_t kPostingFrameHeaderBytes = 24;
// So that a whole record fits one read (kMaxReadBytes).
inline constexpr uint32_t kMaxPostingPayloadBytes =
    kMaxReadBytes - kPostingPageBytes;

// Opaque to storage/: the index stores its dimension, element type etc. here.
using PostingUserHeader = std::array<uint8_t, 64>;

struct PostingLocation {
  uint64_t offset = 0;  // from the start of the file; a multiple of 4096
  uint32_t bytes = 0;   // frame + payload + padding; a multiple of 4096
};

// Size on disk of a record holding `payload_bytes` bytes (frame header plus
// payload, rounded up to a page).
uint64_t PostingRecordBytes(uint64_t payload_bytes);

// Validates a posting file's header page (magic, version, header size,
// checksum; not the data size) and copies out the user header if `user` is
// not null. DataLossError naming `path` otherwise.
absl::Status CheckPostingFileHeader(const std::string& path,
                                    const uint8_t* header,
                                    PostingUserHeader* user);

// Frames `payload` into `out`, which must hold PostingRecordBytes(bytes):
// frame header, payload, zero padding to the page.
void EncodePostingRecord(const void* payload, uint32_t bytes, uint8_t* out);

// Writes a new posting file as `path`.tmp and renames it over `path` in
// Finish; until then readers of `path` see the previous file, if any.
class PostingFileWriter {
 public:
  static absl::StatusOr<std::unique_ptr<PostingFileWriter>> Create(
      Env* env, const std::string& path, const PostingUserHeader& user_header);

  // An unfinished writer removes its temporary file (best effort).
  ~PostingFileWriter();
  PostingFileWriter(const PostingFileWriter&) = delete;
  PostingFileWriter& operator=(const PostingFileWriter&) = delete;

  // Appends one record; `bytes` may be 0. After any error the writer is
  // failed and every later call returns that error.
  absl::StatusOr<PostingLocation> Append(const void* payload, uint32_t bytes);

  // Writes the header page, syncs, renames into place and syncs the
  // directory. Call once.
  absl::Status Finish();

  uint64_t num_records() const { return num_records_; }
  uint64_t data_bytes() const { return data_bytes_; }

 private:
  PostingFileWriter(Env* env, std::string path,
                    const PostingUserHeader& user_header,
                    std::unique_ptr<WritableFile> file);

  Env* const env_;
  const std::string path_;
  const std::string tmp_path_;
  const PostingUserHeader user_header_;
  std::unique_ptr<WritableFile> file_;
  uint64_t num_records_ = 0;
  uint64_t data_bytes_ = 0;  // bytes after the header page
  bool finished_ = false;
  absl::Status status_;  // first error; sticky
};

// The validated header of a posting file. Does not keep the file open:
// records are read with a BlockReader (or ForEachRecord).
class PostingFileReader {
 public:
  // Checks magic, version, header checksum and that the file is exactly
  // 4096 + data_bytes long. DataLossError naming the file on any mismatch;
  // NotFound if it is missing.
  // allow_trailing_bytes: a live index appends records past the size the
  // header recorded at build time; they are accepted (and ignored) here.
  // `env` (not owned) must outlive the reader: ForEachRecord reads through it.
  static absl::StatusOr<std::unique_ptr<PostingFileReader>> Open(
      const std::string& path, bool allow_trailing_bytes = false,
      Env* env = Env::Default());

  const std::string& path() const { return path_; }
  const PostingUserHeader& user_header() const { return user_header_; }
  uint64_t num_records() const { return num_records_; }
  uint64_t data_bytes() const { return data_bytes_; }
  uint64_t file_size() const { return kPostingPageBytes + data_bytes_; }

  // InvalidArgument unless `location` is page-aligned, non-empty and inside
  // the data area; for checking a directory before issuing reads.
  absl::Status CheckLocation(const PostingLocation& location) const;

  // Verifies the record read from `offset` (`bytes_read` bytes in
  // `page_buffer`, normally PostingLocation::bytes): frame magic, version,
  // flags, that the payload length matches the bytes read, and the payload
  // checksum. Returns the payload, which points into `page_buffer`.
  // DataLossError naming `path_for_errors` and `offset` on any mismatch.
  static absl::StatusOr<std::span<const uint8_t>> ParseRecord(
      const std::string& path_for_errors, uint64_t offset,
      const uint8_t* page_buffer, uint32_t bytes_read);

  // For a record of `record_bytes` of which only the first `bytes_read`
  // (a page multiple) were read: checks the frame as ParseRecord does, except
  // the payload checksum, which covers bytes not read; the caller verifies
  // the prefix with checksums of its own (index/posting_format.h, coded
  // postings). Returns the payload bytes that were read.
  static absl::StatusOr<std::span<const uint8_t>> ParseRecordPrefix(
      const std::string& path_for_errors, uint64_t offset,
      const uint8_t* page_buffer, uint32_t bytes_read, uint64_t record_bytes);
  // Reads and verifies every record in file order with buffered reads; for
  // tools, tests and rebuilds, not the query path. Stops at the first error,
  // from the file or from `fn`.
  using RecordFn = std::function<absl::Status(
      const PostingLocation& location, std::span<const uint8_t> payload)>;
  absl::Status ForEachRecord(const RecordFn& fn) const;

 private:
  PostingFileReader() = default;

  Env* env_ = nullptr;
  std::string path_;
  PostingUserHeader user_header_{};
  uint64_t num_records_ = 0;
  uint64_t data_bytes_ = 0;
};

}  // namespace cairn

#endif  // CAIRN_STORAGE_POSTING_FILE_H_
