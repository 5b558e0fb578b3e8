// The 32-byte header that starts a write-ahead log (wal.h) and a point log
// (point_log.h): docs/formats.md, "Write-ahead log" and "Point store". One
// layout, so that both are checked the same way and in the same order:
//
//   offset size field
//        0    8 magic, 8 ASCII bytes chosen per kind of file
//        8    4 uint32 format version
//       12    4 uint32 reserved, 0
//       16    8 uint64 a value of the kind's (WAL: first sequence; point
//                log: generation)
//       24    8 uint64 XXH3-64 (Checksum64) of bytes [0, 24)
//
// Integers are little-endian (coding.h).
#ifndef CAIRN_STORAGE_FILE_HEADER_H_
#define CAIRN_STORAGE_FILE_HEADER_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace cairn {

inline constexpr uint64_t kFileHeaderBytes = 32;

// What tells one kind of file from another.
struct FileHeaderKind {
  const char* magic;  // exactly 8 characters
  uint32_t version;
  const char* name;  // for messages: "WAL", "point log"
};

std::string EncodeFileHeader(const FileHeaderKind& kind, uint64_t value);

// Checks, in this order: that `bytes` holds a whole header, magic, version,
// checksum (after magic and version, so that a newer file is reported as
// such rather than as a checksum mismatch) and reserved field. Returns what
// is wrong ("WAL header checksum mismatch") or, if nothing is, an empty
// string and the header's value in *value.
std::string FileHeaderProblem(const FileHeaderKind& kind,
                              std::string_view bytes, uint64_t* value);

}  // namespace cairn

#endif  // CAIRN_STORAGE_FILE_HEADER_H_
