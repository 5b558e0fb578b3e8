// Small whole-file formats (posting directory, head index, manifest) with the
// same protections as posting files: a header with an 8-byte magic, a format
// version, the body length and an XXH3 checksum of the body, replaced
// atomically (temporary file, fsync, rename, fsync directory). Layout:
// docs/formats.md, "Record file".
//
// Thread-safety: both functions are safe to call concurrently for different
// paths; concurrent writers of one path must be serialised by the caller.
#ifndef CAIRN_STORAGE_RECORD_FILE_H_
#define CAIRN_STORAGE_RECORD_FILE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/env.h"

namespace cairn {

inline constexpr uint32_t kRecordFileHeaderBytes = 32;

// Replaces `path` with a record file holding `body`. `magic` is exactly 8
// bytes (a NUL after them, as in a string literal, is ignored). `version`
// must be at least 1.
absl::Status WriteRecordFile(Env* env, const std::string& path,
                             const char magic[8], uint32_t version,
                             const std::string& body);

// Reads and verifies a record file and returns its body. Accepts versions
// 1..max_version and stores the file's in *version_out (if not null).
// DataLossError naming the file for a wrong magic, an unsupported version,
// truncation or trailing bytes, a nonzero reserved field or a checksum
// mismatch; NotFound (from the Env) if the file does not exist.
absl::StatusOr<std::string> ReadRecordFile(Env* env, const std::string& path,
                                           const char magic[8],
                                           uint32_t max_version,
                                           uint32_t* version_out);

}  // namespace cairn

#endif  // CAIRN_STORAGE_RECORD_FILE_H_
