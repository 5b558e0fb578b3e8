#include "storage/posting_store.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace cairn {
namespace {

absl::Status Corrupt(const std::string& path, const std::string& what) {
  return absl::DataLossError(absl::StrCat(path, ": ", what));
}

}  // namespace

PostingStore::~PostingStore() {
  if (file_ != nullptr) (void)file_->Close();
}

absl::StatusOr<std::unique_ptr<PostingStore>> PostingStore::Open(
    Env* env, const std::string& path, uint64_t committed_bytes,
    std::vector<PostingLocation> referenced) {
  std::unique_ptr<PostingStore> store(new PostingStore());
  store->env_ = env;
  store->path_ = path;
  CAIRN_ASSIGN_OR_RETURN(store->reader_, env->NewRandomAccessFile(path));
  if (committed_bytes < kPostingPageBytes || committed_bytes % kPostingPageBytes != 0) {
    return Corrupt(path, absl::StrCat("bad committed size ", committed_bytes));
  }
  uint8_t header[kPostingFileHeaderBytes];
  CAIRN_RETURN_IF_ERROR(store->reader_->Read(0, sizeof(header), header));
  CAIRN_RETURN_IF_ERROR(CheckPostingFileHeader(path, header, &store->user_header_));
  CAIRN_ASSIGN_OR_RETURN(uint64_t size, env->FileSize(path));
  // The checkpoint's size is an upper bound: a free tail may have been cut
  // after it became durable. Every referenced extent must still be there
  // (checked below); bytes past it belong to writes no durable directory
  // points at and are dropped, so the file does not grow across crashes.
  const uint64_t end = std::min(size, committed_bytes) / kPostingPageBytes * kPostingPageBytes;
  if (end < kPostingPageBytes) {
    return Corrupt(path, absl::StrCat("truncated: ", size, " bytes"));
  }
  if (size > end) CAIRN_RETURN_IF_ERROR(env->TruncateFile(path, end));
  store->end_ = end;
  committed_bytes = end;

  std::sort(referenced.begin(), referenced.end(),
            [](const PostingLocation& a, const PostingLocation& b) { return a.offset < b.offset; });
  uint64_t cursor = kPostingPageBytes;
  for (const PostingLocation& loc : referenced) {
    if (loc.bytes == 0) continue;
    if (loc.offset % kPostingPageBytes != 0 || loc.bytes % kPostingPageBytes != 0 ||
        loc.offset < cursor || loc.offset + loc.bytes > committed_bytes) {
      return Corrupt(path, absl::StrCat("directory extent (offset ", loc.offset, ", bytes ",
                                        loc.bytes, ") is misaligned, overlaps another or lies "
                                        "past the file's ", committed_bytes, " bytes (truncated?)"));
    }
    if (loc.offset > cursor) store->AddFree(cursor, loc.offset - cursor, 0);
    cursor = loc.offset + loc.bytes;
    store->live_bytes_ += loc.bytes;
  }
  if (cursor < committed_bytes) store->AddFree(cursor, committed_bytes - cursor, 0);
  CAIRN_ASSIGN_OR_RETURN(store->file_, env->NewAppendableFile(path));
  if (store->file_->Size() != committed_bytes) {
    return absl::InternalError(absl::StrCat(path, ": reopened at ", store->file_->Size(),
                                            " bytes, expected ", committed_bytes));
  }
  return store;
}

void PostingStore::AddFree(uint64_t offset, uint64_t bytes, uint64_t epoch) {
  free_bytes_ += bytes;
  auto erase_size = [&](uint64_t off, uint64_t len) {
    auto range = by_size_.equal_range(len);
    for (auto it = range.first; it != range.second; ++it) {
      if (it->second == off) {
        by_size_.erase(it);
        return;
      }
    }
  };
  auto next = free_.lower_bound(offset);
  if (next != free_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second.bytes == offset) {
      erase_size(prev->first, prev->second.bytes);
      offset = prev->first;
      bytes += prev->second.bytes;
      epoch = std::max(epoch, prev->second.epoch);
      free_.erase(prev);
    }
  }
  if (next != free_.end() && offset + bytes == next->first) {
    erase_size(next->first, next->second.bytes);
    bytes += next->second.bytes;
    epoch = std::max(epoch, next->second.epoch);
    free_.erase(next);
  }
  free_[offset] = Hole{bytes, epoch};
  by_size_.emplace(bytes, offset);
}

bool PostingStore::TakeFree(uint64_t bytes, const std::function<bool(uint64_t)>& is_safe,
                            uint64_t* offset) {
  // Best fit among holes readers have left; a few unsafe ones are skipped.
  int skipped = 0;
  for (auto it = by_size_.lower_bound(bytes); it != by_size_.end() && skipped < 16; ++it) {
    auto hole = free_.find(it->second);
    if (!is_safe(hole->second.epoch)) {
      ++skipped;
      continue;
    }
    const uint64_t off = hole->first, len = hole->second.bytes, epoch = hole->second.epoch;
    by_size_.erase(it);
    free_.erase(hole);
    free_bytes_ -= len;
    if (len > bytes) {
      AddFree(off + bytes, len - bytes, epoch);
    }
    *offset = off;
    return true;
  }
  return false;
}

uint64_t PostingStore::LowestFit(uint64_t bytes,
                                 const std::function<bool(uint64_t)>& is_safe) const {
  for (const auto& [off, hole] : free_) {
    if (hole.bytes >= bytes && is_safe(hole.epoch)) return off;
  }
  return 0;
}

void PostingStore::TakeHole(uint64_t offset, uint64_t bytes) {
  auto hole = free_.find(offset);
  const uint64_t len = hole->second.bytes, epoch = hole->second.epoch;
  auto range = by_size_.equal_range(len);
  for (auto it = range.first; it != range.second; ++it) {
    if (it->second == offset) {
      by_size_.erase(it);
      break;
    }
  }
  free_.erase(hole);
  free_bytes_ -= len;
  if (len > bytes) AddFree(offset + bytes, len - bytes, epoch);
}

absl::StatusOr<PostingLocation> PostingStore::Write(const void* payload, uint32_t bytes,
                                                    const std::function<bool(uint64_t)>& is_safe,
                                                    bool lowest_first) {
  CAIRN_RETURN_IF_ERROR(status_);
  if (bytes > kMaxPostingPayloadBytes) {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": posting payload of ", bytes,
                                                   " bytes exceeds the limit"));
  }
  const uint64_t record_bytes = PostingRecordBytes(bytes);
  std::string record(record_bytes, '\0');
  EncodePostingRecord(payload, bytes, reinterpret_cast<uint8_t*>(record.data()));
  uint64_t offset = 0;
  bool reuse;
  if (lowest_first) {
    offset = LowestFit(record_bytes, is_safe);
    reuse = offset != 0;
    if (reuse) TakeHole(offset, record_bytes);
  } else {
    reuse = TakeFree(record_bytes, is_safe, &offset);
  }
  absl::Status status;
  if (reuse) {
    status = file_->WriteAt(offset, record.data(), record.size());
    if (status.ok()) reused_bytes_ += record_bytes;
  } else {
    offset = end_;
    status = file_->Append(record.data(), record.size());
    if (status.ok()) status = file_->Flush();
    if (status.ok()) end_ += record_bytes;
  }
  if (!status.ok()) {
    // A hole stays a hole: nothing references it, whatever part of the
    // record reached it. (Epoch 0: no reader can hold an extent nobody
    // referenced.)
    if (reuse) AddFree(offset, record_bytes, 0);
    return UndoFailedWrite(std::move(status));
  }
  live_bytes_ += record_bytes;
  uncommitted_.insert(offset);
  ++records_written_;
  return PostingLocation{offset, static_cast<uint32_t>(record_bytes)};
}

void PostingStore::Retire(const PostingLocation& location, uint64_t epoch) {
  if (location.bytes == 0) return;
  live_bytes_ -= location.bytes;
  if (uncommitted_.erase(location.offset) != 0) {
    AddFree(location.offset, location.bytes, epoch);
    return;
  }
  retired_.push_back(location);
  retired_bytes_ += location.bytes;
}

absl::StatusOr<std::span<const uint8_t>> PostingStore::Read(const PostingLocation& location,
                                                            AlignedBuffer* buffer) const {
  buffer->Resize(location.bytes);
  CAIRN_RETURN_IF_ERROR(reader_->Read(location.offset, location.bytes, buffer->data()));
  return PostingFileReader::ParseRecord(path_, location.offset,
                                        reinterpret_cast<const uint8_t*>(buffer->data()),
                                        location.bytes);
}

absl::Status PostingStore::Sync() {
  CAIRN_RETURN_IF_ERROR(status_);
  status_ = file_->Sync();
  return status_;
}

absl::Status PostingStore::CommitRetired(uint64_t epoch,
                                         const std::function<bool(uint64_t)>& is_safe) {
  CAIRN_RETURN_IF_ERROR(status_);
  for (const PostingLocation& loc : retired_) AddFree(loc.offset, loc.bytes, epoch);
  retired_.clear();
  uncommitted_.clear();  // the checkpoint just made durable references them
  retired_bytes_ = 0;
  // A free tail whose readers are gone is cut off.
  if (!free_.empty()) {
    auto last = std::prev(free_.end());
    if (last->first + last->second.bytes == end_ && is_safe(last->second.epoch)) {
      const uint64_t off = last->first, len = last->second.bytes;
      status_ = file_->Sync();  // the truncate must not race buffered bytes
      if (status_.ok()) status_ = env_->TruncateFile(path_, off);
      CAIRN_RETURN_IF_ERROR(status_);
      // Reopen so the writer's idea of the size matches the file.
      status_ = file_->Close();
      CAIRN_RETURN_IF_ERROR(status_);
      auto reopened = env_->NewAppendableFile(path_);
      if (!reopened.ok()) {
        status_ = reopened.status();
        return status_;
      }
      file_ = std::move(*reopened);
      auto range = by_size_.equal_range(len);
      for (auto it = range.first; it != range.second; ++it) {
        if (it->second == off) {
          by_size_.erase(it);
          break;
        }
      }
      free_.erase(last);
      free_bytes_ -= len;
      truncated_bytes_ += len;
      end_ = off;
    }
  }
  return absl::OkStatus();
}

absl::Status PostingStore::UndoFailedWrite(absl::Status cause) {
  if (!IsOutOfSpace(cause)) {
    status_ = cause;
    return cause;
  }
  // Bytes past end_ belong to no extent; the appender holds a sticky error
  // (and, after a failed append, an offset past end_), so it is replaced.
  // Its buffer is empty: every write is flushed or has failed.
  (void)file_->Close();
  absl::Status status = env_->TruncateFile(path_, end_);
  if (status.ok()) {
    absl::StatusOr<std::unique_ptr<WritableFile>> file = env_->NewAppendableFile(path_);
    if (file.ok() && (*file)->Size() != end_) {
      status = absl::InternalError(
          absl::StrCat(path_, ": reopened at ", (*file)->Size(), " bytes, expected ", end_));
    } else if (file.ok()) {
      file_ = *std::move(file);
    } else {
      status = file.status();
    }
  }
  if (!status.ok()) {
    // Not marked out-of-space: more room does not help, a reopen does.
    status_ =
        absl::InternalError(absl::StrCat(path_,
                                         ": needs a reopen: cutting back a failed "
                                         "write failed: ",
                                         status.message(), " (after: ", cause.message(), ")"));
  }
  return cause;
}

PostingStoreStats PostingStore::stats() const {
  PostingStoreStats s;
  s.file_bytes = end_;
  s.live_bytes = live_bytes_;
  s.free_bytes = free_bytes_;
  s.retired_bytes = retired_bytes_;
  s.reused_bytes = reused_bytes_;
  s.truncated_bytes = truncated_bytes_;
  s.records_written = records_written_;
  return s;
}

}  // namespace cairn
