#include "storage/posting_file.h"

#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "storage/checksum.h"
#include "storage/coding.h"

namespace cairn {
namespace {

// File header fields (byte offsets in page 0).
constexpr size_t kMagicOffset = 0;
constexpr size_t kVersionOffset = 8;
constexpr size_t kHeaderSizeOffset = 12;
constexpr size_t kNumRecordsOffset = 16;
constexpr size_t kDataBytesOffset = 24;
constexpr size_t kUserHeaderOffset = 32;
constexpr size_t kHeaderChecksumOffset = 96;
static_assert(kHeaderChecksumOffset + 8 == kPostingFileHeaderBytes);

// Frame header fields (byte offsets in a record).
constexpr size_t kFrameMagicOffset = 0;
constexpr size_t kFrameVersionOffset = 4;
constexpr size_t kFrameFlagsOffset = 6;
constexpr size_t kFramePayloadBytesOffset = 8;
constexpr size_t kFrameReservedOffset = 12;
constexpr size_t kFrameChecksumOffset = 16;
static_assert(kFrameChecksumOffset + 8 == kPostingFrameHeaderBytes);

// Padding source for records and the placeholder header page.
constexpr uint8_t kZeroPage[kPostingPageBytes] = {};

absl::Status Corrupt(const std::string& path, const std::string& what) {
  return absl::DataLossError(absl::StrCat(path, ": ", what));
}

absl::Status RecordCorrupt(const std::string& path, uint64_t offset,
                           const std::string& what) {
  return absl::DataLossError(
      absl::StrCat(path, ": posting record at offset ", offset, ": ", what));
}

// Magic, version, flags and reserved word of a record's frame header.
absl::Status CheckFrameHeader(const std::string& path, uint64_t offset,
                              const uint8_t* frame, uint32_t* payload_bytes) {
  if (DecodeFixed32(frame + kFrameMagicOffset) != kPostingFrameMagic) {
    return RecordCorrupt(path, offset,
                         "bad frame magic (corrupt, or the offset does not "
                         "start a record)");
  }
  const uint16_t version = DecodeFixed16(frame + kFrameVersionOffset);
  if (version != kPostingFrameVersion) {
    return RecordCorrupt(path, offset,
                         absl::StrCat("unsupported frame version ", version));
  }
  // Version 1 defines no flags and no use for the reserved word; requiring
  // zeros means no header byte goes unchecked.
  const uint16_t flags = DecodeFixed16(frame + kFrameFlagsOffset);
  const uint32_t reserved = DecodeFixed32(frame + kFrameReservedOffset);
  if (flags != 0 || reserved != 0) {
    return RecordCorrupt(
        path, offset,
        absl::StrCat("unknown frame flags ", flags, " / reserved ", reserved));
  }
  *payload_bytes = DecodeFixed32(frame + kFramePayloadBytesOffset);
  return absl::OkStatus();
}


}  // namespace

uint64_t PostingRecordBytes(uint64_t payload_bytes) {
  const uint64_t raw = kPostingFrameHeaderBytes + payload_bytes;
  return (raw + kPostingPageBytes - 1) / kPostingPageBytes * kPostingPageBytes;
}

// --- Writer -----------------------------------------------------------------

PostingFileWriter::PostingFileWriter(Env* env, std::string path,
                                     const PostingUserHeader& user_header,
                                     std::unique_ptr<WritableFile> file)
    : env_(env),
      path_(std::move(path)),
      tmp_path_(path_ + ".tmp"),
      user_header_(user_header),
      file_(std::move(file)) {}

absl::StatusOr<std::unique_ptr<PostingFileWriter>> PostingFileWriter::Create(
    Env* env, const std::string& path, const PostingUserHeader& user_header) {
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file,
                         env->NewWritableFile(path + ".tmp"));
  std::unique_ptr<PostingFileWriter> writer(
      new PostingFileWriter(env, path, user_header, std::move(file)));
  // Page 0 stays zero (no valid magic) until Finish fills it in, so a file
  // abandoned half-way never passes for a posting file.
  absl::Status status = writer->file_->Append(kZeroPage, kPostingPageBytes);
  if (!status.ok()) {
    writer->status_ = status;
    return status;  // the destructor removes the temporary file
  }
  return writer;
}

PostingFileWriter::~PostingFileWriter() {
  if (finished_) return;
  (void)file_->Close();
  if (env_->FileExists(tmp_path_)) (void)env_->RemoveFile(tmp_path_);
}

absl::StatusOr<PostingLocation> PostingFileWriter::Append(const void* payload,
                                                          uint32_t bytes) {
  CAIRN_RETURN_IF_ERROR(status_);
  if (finished_) {
    return absl::FailedPreconditionError(
        absl::StrCat(path_, ": Append after Finish"));
  }
  if (bytes > kMaxPostingPayloadBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ": posting payload of ", bytes,
                     " bytes exceeds the limit of ", kMaxPostingPayloadBytes));
  }
  const uint64_t record_bytes = PostingRecordBytes(bytes);
  PostingLocation location{kPostingPageBytes + data_bytes_,
                           static_cast<uint32_t>(record_bytes)};

  uint8_t frame[kPostingFrameHeaderBytes] = {};
  EncodeFixed32(frame + kFrameMagicOffset, kPostingFrameMagic);
  EncodeFixed16(frame + kFrameVersionOffset, kPostingFrameVersion);
  EncodeFixed16(frame + kFrameFlagsOffset, 0);
  EncodeFixed32(frame + kFramePayloadBytesOffset, bytes);
  EncodeFixed32(frame + kFrameReservedOffset, 0);
  EncodeFixed64(frame + kFrameChecksumOffset, Checksum64(payload, bytes));

  const uint64_t padding = record_bytes - kPostingFrameHeaderBytes - bytes;
  status_ = file_->Append(frame, sizeof(frame));
  if (status_.ok() && bytes > 0) status_ = file_->Append(payload, bytes);
  if (status_.ok() && padding > 0) status_ = file_->Append(kZeroPage, padding);
  CAIRN_RETURN_IF_ERROR(status_);
  data_bytes_ += record_bytes;
  ++num_records_;
  return location;
}

absl::Status PostingFileWriter::Finish() {
  CAIRN_RETURN_IF_ERROR(status_);
  if (finished_) {
    return absl::FailedPreconditionError(
        absl::StrCat(path_, ": Finish called twice"));
  }
  uint8_t header[kPostingPageBytes] = {};
  std::memcpy(header + kMagicOffset, kPostingFileMagic, 8);
  EncodeFixed32(header + kVersionOffset, kPostingFileVersion);
  EncodeFixed32(header + kHeaderSizeOffset, kPostingFileHeaderBytes);
  EncodeFixed64(header + kNumRecordsOffset, num_records_);
  EncodeFixed64(header + kDataBytesOffset, data_bytes_);
  std::memcpy(header + kUserHeaderOffset, user_header_.data(),
              user_header_.size());
  EncodeFixed64(header + kHeaderChecksumOffset,
                Checksum64(header, kHeaderChecksumOffset));

  status_ = [&]() -> absl::Status {
    CAIRN_RETURN_IF_ERROR(file_->WriteAt(0, header, sizeof(header)));
    CAIRN_RETURN_IF_ERROR(file_->Sync());
    CAIRN_RETURN_IF_ERROR(file_->Close());
    return env_->RenameFile(tmp_path_, path_);
  }();
  CAIRN_RETURN_IF_ERROR(status_);
  // From here the new file is in place: nothing for the destructor to undo.
  finished_ = true;
  status_ = env_->SyncDir(DirName(path_));
  return status_;
}

// --- Reader -----------------------------------------------------------------

absl::Status CheckPostingFileHeader(const std::string& path,
                                    const uint8_t* header,
                                    PostingUserHeader* user) {
  // Magic and version first, so that a newer file is reported as such
  // rather than as a checksum mismatch of a layout this build cannot parse.
  if (std::memcmp(header + kMagicOffset, kPostingFileMagic, 8) != 0) {
    return Corrupt(path, "not a Cairn posting file (bad magic)");
  }
  const uint32_t version = DecodeFixed32(header + kVersionOffset);
  if (version != kPostingFileVersion) {
    return Corrupt(path, absl::StrCat("unsupported posting file version ",
                                      version, " (this build reads version ",
                                      kPostingFileVersion, ")"));
  }
  const uint32_t header_size = DecodeFixed32(header + kHeaderSizeOffset);
  if (header_size != kPostingFileHeaderBytes) {
    return Corrupt(path,
                   absl::StrCat("bad posting file header size ", header_size,
                                " (expected ", kPostingFileHeaderBytes, ")"));
  }
  if (DecodeFixed64(header + kHeaderChecksumOffset) !=
      Checksum64(header, kHeaderChecksumOffset)) {
    return Corrupt(path, "posting file header checksum mismatch");
  }

  if (user != nullptr) {
    std::memcpy(user->data(), header + kUserHeaderOffset, user->size());
  }
  return absl::OkStatus();
}

void EncodePostingRecord(const void* payload, uint32_t bytes, uint8_t* out) {
  const uint64_t record_bytes = PostingRecordBytes(bytes);
  EncodeFixed32(out + kFrameMagicOffset, kPostingFrameMagic);
  EncodeFixed16(out + kFrameVersionOffset, kPostingFrameVersion);
  EncodeFixed16(out + kFrameFlagsOffset, 0);
  EncodeFixed32(out + kFramePayloadBytesOffset, bytes);
  EncodeFixed32(out + kFrameReservedOffset, 0);
  EncodeFixed64(out + kFrameChecksumOffset, Checksum64(payload, bytes));
  if (bytes > 0) std::memcpy(out + kPostingFrameHeaderBytes, payload, bytes);
  std::memset(out + kPostingFrameHeaderBytes + bytes, 0,
              record_bytes - kPostingFrameHeaderBytes - bytes);
}

absl::StatusOr<std::unique_ptr<PostingFileReader>> PostingFileReader::Open(
    const std::string& path, bool allow_trailing_bytes, Env* env) {
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<RandomAccessFile> file,
                         env->NewRandomAccessFile(path));
  CAIRN_ASSIGN_OR_RETURN(const uint64_t file_size, env->FileSize(path));
  if (file_size < kPostingPageBytes) {
    return Corrupt(path, absl::StrCat("truncated posting file: ", file_size,
                                      " bytes, shorter than its ",
                                      kPostingPageBytes, "-byte header"));
  }
  uint8_t header[kPostingFileHeaderBytes];
  CAIRN_RETURN_IF_ERROR(file->Read(0, sizeof(header), header));

  CAIRN_RETURN_IF_ERROR(CheckPostingFileHeader(path, header, nullptr));

  auto reader = std::unique_ptr<PostingFileReader>(new PostingFileReader());
  reader->env_ = env;
  reader->path_ = path;
  reader->num_records_ = DecodeFixed64(header + kNumRecordsOffset);
  reader->data_bytes_ = DecodeFixed64(header + kDataBytesOffset);
  std::memcpy(reader->user_header_.data(), header + kUserHeaderOffset,
              reader->user_header_.size());
  if (reader->data_bytes_ % kPostingPageBytes != 0 ||
      reader->num_records_ > reader->data_bytes_ / kPostingPageBytes) {
    return Corrupt(
        path, absl::StrCat("inconsistent header: ", reader->num_records_,
                           " records in ", reader->data_bytes_, " data bytes"));
  }
  if (file_size != reader->file_size() &&
      !(allow_trailing_bytes && file_size > reader->file_size())) {
    return Corrupt(
        path, absl::StrCat(file_size < reader->file_size() ? "truncated"
                                                           : "trailing bytes",
                           ": file is ", file_size, " bytes, header says ",
                           reader->file_size()));
  }
  return reader;
}

absl::Status PostingFileReader::CheckLocation(
    const PostingLocation& location) const {
  if (location.offset % kPostingPageBytes != 0 || location.bytes == 0 ||
      location.bytes % kPostingPageBytes != 0 ||
      location.offset < kPostingPageBytes || location.offset > file_size() ||
      location.bytes > file_size() - location.offset) {
    return absl::InvalidArgumentError(absl::StrCat(
        path_, ": posting location (offset ", location.offset, ", bytes ",
        location.bytes, ") is not a page-aligned extent of the ", data_bytes_,
        "-byte data area"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::span<const uint8_t>> PostingFileReader::ParseRecordPrefix(
    const std::string& path, uint64_t offset, const uint8_t* page_buffer,
    uint32_t bytes_read, uint64_t record_bytes) {
  if (bytes_read < kPostingPageBytes || bytes_read % kPostingPageBytes != 0 ||
      bytes_read > record_bytes) {
    return RecordCorrupt(path, offset,
                         absl::StrCat(bytes_read, " bytes read is not a prefix of a ",
                                      record_bytes, "-byte record"));
  }
  const uint8_t* frame = page_buffer;
  uint32_t payload_bytes = 0;
  absl::Status frame_ok = CheckFrameHeader(path, offset, frame, &payload_bytes);
  if (!frame_ok.ok()) return frame_ok;
  if (PostingRecordBytes(payload_bytes) != record_bytes) {
    return RecordCorrupt(
        path, offset,
        absl::StrCat("frame says ", payload_bytes, " payload bytes (a ",
                     PostingRecordBytes(payload_bytes),
                     "-byte record) but the directory says ", record_bytes));
  }
  return std::span<const uint8_t>(frame + kPostingFrameHeaderBytes,
                                  bytes_read - kPostingFrameHeaderBytes);
}

absl::StatusOr<std::span<const uint8_t>> PostingFileReader::ParseRecord(
    const std::string& path_for_errors, uint64_t offset,
    const uint8_t* page_buffer, uint32_t bytes_read) {
  const std::string& path = path_for_errors;
  if (bytes_read < kPostingFrameHeaderBytes ||
      bytes_read % kPostingPageBytes != 0) {
    return RecordCorrupt(
        path, offset,
        absl::StrCat(bytes_read, " bytes read is not a whole record"));
  }
  const uint8_t* frame = page_buffer;
  uint32_t payload_bytes = 0;
  absl::Status frame_ok = CheckFrameHeader(path, offset, frame, &payload_bytes);
  if (!frame_ok.ok()) return frame_ok;
  if (PostingRecordBytes(payload_bytes) != bytes_read) {
    return RecordCorrupt(
        path, offset,
        absl::StrCat("frame says ", payload_bytes, " payload bytes (a ",
                     PostingRecordBytes(payload_bytes), "-byte record) but ",
                     bytes_read, " bytes were read"));
  }
  const uint8_t* payload = frame + kPostingFrameHeaderBytes;
  if (DecodeFixed64(frame + kFrameChecksumOffset) !=
      Checksum64(payload, payload_bytes)) {
    return RecordCorrupt(path, offset, "payload checksum mismatch");
  }
  return std::span<const uint8_t>(payload, payload_bytes);
}

absl::Status PostingFileReader::ForEachRecord(const RecordFn& fn) const {
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<RandomAccessFile> file,
                         env_->NewRandomAccessFile(path_));
  std::vector<uint8_t> buffer(kPostingPageBytes);
  uint64_t offset = kPostingPageBytes;
  for (uint64_t i = 0; i < num_records_; ++i) {
    if (offset >= file_size()) {
      return Corrupt(path_, absl::StrCat("record ", i, " of ", num_records_,
                                         " starts past the data area"));
    }
    CAIRN_RETURN_IF_ERROR(file->Read(offset, kPostingPageBytes, buffer.data()));
    // The length is trusted only far enough to size the read; ParseRecord
    // then checks the whole frame.
    const uint64_t record_bytes = PostingRecordBytes(
        DecodeFixed32(buffer.data() + kFramePayloadBytesOffset));
    if (DecodeFixed32(buffer.data()) != kPostingFrameMagic ||
        record_bytes > file_size() - offset) {
      return RecordCorrupt(path_, offset,
                           "bad frame magic or length past the end");
    }
    if (record_bytes > kPostingPageBytes) {
      buffer.resize(record_bytes);
      CAIRN_RETURN_IF_ERROR(file->Read(offset + kPostingPageBytes,
                                       record_bytes - kPostingPageBytes,
                                       buffer.data() + kPostingPageBytes));
    }
    CAIRN_ASSIGN_OR_RETURN(std::span<const uint8_t> payload,
                           ParseRecord(path_, offset, buffer.data(),
                                       static_cast<uint32_t>(record_bytes)));
    CAIRN_RETURN_IF_ERROR(
        fn(PostingLocation{offset, static_cast<uint32_t>(record_bytes)},
           payload));
    offset += record_bytes;
  }
  if (offset != file_size()) {
    return Corrupt(path_,
                   absl::StrCat(num_records_, " records end at ", offset,
                                " but the data area ends at ", file_size()));
  }
  return absl::OkStatus();
}

}  // namespace cairn
