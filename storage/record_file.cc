#include "storage/record_file.h"

#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "storage/checksum.h"
#include "storage/coding.h"

namespace cairn {
namespace {

constexpr size_t kMagicOffset = 0;
constexpr size_t kVersionOffset = 8;
constexpr size_t kReservedOffset = 12;
constexpr size_t kBodyBytesOffset = 16;
constexpr size_t kChecksumOffset = 24;
static_assert(kChecksumOffset + 8 == kRecordFileHeaderBytes);

absl::Status Corrupt(const std::string& path, const std::string& what) {
  return absl::DataLossError(absl::StrCat(path, ": ", what));
}

// For messages: the magic as printable text.
std::string MagicText(const char* magic) {
  return absl::CEscape(std::string(magic, 8));
}

}  // namespace

absl::Status WriteRecordFile(Env* env, const std::string& path,
                             const char magic[8], uint32_t version,
                             const std::string& body) {
  if (version == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": record file version must be at least 1"));
  }
  std::string contents(kRecordFileHeaderBytes, '\0');
  uint8_t* header = reinterpret_cast<uint8_t*>(contents.data());
  std::memcpy(header + kMagicOffset, magic, 8);
  EncodeFixed32(header + kVersionOffset, version);
  EncodeFixed32(header + kReservedOffset, 0);
  EncodeFixed64(header + kBodyBytesOffset, body.size());
  EncodeFixed64(header + kChecksumOffset, Checksum64(body.data(), body.size()));
  contents += body;
  return WriteFileAtomically(env, path, contents);
}

absl::StatusOr<std::string> ReadRecordFile(Env* env, const std::string& path,
                                           const char magic[8],
                                           uint32_t max_version,
                                           uint32_t* version_out) {
  CAIRN_ASSIGN_OR_RETURN(std::string contents, env->ReadFile(path));
  if (contents.size() < kRecordFileHeaderBytes) {
    return Corrupt(path, absl::StrCat("truncated: ", contents.size(),
                                      " bytes, shorter than the ",
                                      kRecordFileHeaderBytes, "-byte header"));
  }
  const uint8_t* header = reinterpret_cast<const uint8_t*>(contents.data());
  if (std::memcmp(header + kMagicOffset, magic, 8) != 0) {
    return Corrupt(path,
                   absl::StrCat("bad magic \"", MagicText(contents.data()),
                                "\" (expected \"", MagicText(magic), "\")"));
  }
  const uint32_t version = DecodeFixed32(header + kVersionOffset);
  if (version == 0 || version > max_version) {
    return Corrupt(
        path,
        absl::StrCat("unsupported ", MagicText(magic), " version ", version,
                     " (this build reads 1 to ", max_version, ")"));
  }
  if (DecodeFixed32(header + kReservedOffset) != 0) {
    return Corrupt(path, "nonzero reserved header field");
  }
  const uint64_t body_bytes = DecodeFixed64(header + kBodyBytesOffset);
  const uint64_t actual = contents.size() - kRecordFileHeaderBytes;
  if (body_bytes != actual) {
    return Corrupt(
        path, absl::StrCat(body_bytes > actual ? "truncated" : "trailing bytes",
                           ": header says ", body_bytes,
                           " body bytes, file has ", actual));
  }
  const char* body = contents.data() + kRecordFileHeaderBytes;
  if (DecodeFixed64(header + kChecksumOffset) != Checksum64(body, body_bytes)) {
    return Corrupt(path, "body checksum mismatch");
  }
  if (version_out != nullptr) *version_out = version;
  contents.erase(0, kRecordFileHeaderBytes);
  return contents;
}

}  // namespace cairn
