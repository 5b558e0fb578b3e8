// The snapshot archive (docs/formats.md, "Snapshot archive"): named files
// in one file, each with its own checksum, and a footer with a checksum of
// everything before it, so that a truncated or damaged archive is refused
// before anything is restored from it. Knows nothing of what the files
// hold (the server's snapshots put a collection's config, payload schema
// and point log in one).
//
//   header   "CAIRNSNP" (8) | u32 version (1) | u32 reserved (0)
//   entry    u32 name bytes | u32 reserved (0) | u64 data bytes |
//            name | data | u64 XXH3(name, data)   (repeated)
//   footer   "CAIRNEND" (8) | u64 entry count | u64 XXH3 of every byte
//            before this field
// Integers little-endian. Names are 1..255 bytes of [A-Za-z0-9._/-], no
// "..", and unique.
//
// Thread-safety: one writer per object; ReadSnapshotArchive is a pure
// function of the file.
#ifndef CAIRN_STORAGE_SNAPSHOT_ARCHIVE_H_
#define CAIRN_STORAGE_SNAPSHOT_ARCHIVE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "storage/env.h"
#include "storage/sha256.h"

namespace cairn {

inline constexpr uint32_t kSnapshotArchiveVersion = 1;

// Writes an archive to `path`.tmp and, on Finish, syncs it and renames it
// into place (a reader never sees a partial archive under `path`).
class SnapshotArchiveWriter {
 public:
  static absl::StatusOr<std::unique_ptr<SnapshotArchiveWriter>> Create(Env* env,
                                                                       const std::string& path);
  ~SnapshotArchiveWriter();
  // One entry whose data `fill` produces by calling its sink (any number of
  // times); `size` must be the total it will produce.
  absl::Status Add(
      const std::string& name, uint64_t size,
      const std::function<absl::Status(const std::function<absl::Status(std::string_view)>&)>&
          fill);
  absl::Status Add(const std::string& name, std::string_view data);
  // Writes the footer and commits; *sha256 gets the whole file's digest.
  absl::Status Finish(std::string* sha256);

 private:
  SnapshotArchiveWriter() = default;
  absl::Status Write(std::string_view bytes);
  Env* env_ = nullptr;
  std::string path_;
  std::unique_ptr<WritableFile> file_;
  void* total_state_ = nullptr;  // XXH3 state of every byte written
  Sha256 sha_;
  uint64_t entries_ = 0;
  bool finished_ = false;
};

// The entries of a valid archive, name -> data. InvalidArgument naming the
// problem (wrong magic or version, truncation, a checksum mismatch, a bad
// name, trailing bytes) for anything else.
absl::StatusOr<std::map<std::string, std::string>> ReadSnapshotArchive(std::string_view bytes);

}  // namespace cairn

#endif  // CAIRN_STORAGE_SNAPSHOT_ARCHIVE_H_
