#include "storage/file_header.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "storage/checksum.h"
#include "storage/coding.h"

namespace cairn {
namespace {

constexpr size_t kVersionOffset = 8;
constexpr size_t kReservedOffset = 12;
constexpr size_t kValueOffset = 16;
constexpr size_t kChecksumOffset = 24;
static_assert(kChecksumOffset + 8 == kFileHeaderBytes);

}  // namespace

std::string EncodeFileHeader(const FileHeaderKind& kind, uint64_t value) {
  std::string header(kFileHeaderBytes, '\0');
  auto* p = reinterpret_cast<uint8_t*>(header.data());
  std::memcpy(p, kind.magic, 8);
  EncodeFixed32(p + kVersionOffset, kind.version);
  EncodeFixed64(p + kValueOffset, value);
  EncodeFixed64(p + kChecksumOffset, Checksum64(p, kChecksumOffset));
  return header;
}

std::string FileHeaderProblem(const FileHeaderKind& kind,
                              std::string_view bytes, uint64_t* value) {
  if (bytes.size() < kFileHeaderBytes) {
    return absl::StrCat(kind.name, " header truncated (", bytes.size(),
                        " bytes)");
  }
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  if (std::memcmp(p, kind.magic, 8) != 0) {
    return absl::StrCat("not a ", kind.name, " (bad magic)");
  }
  if (const uint32_t v = DecodeFixed32(p + kVersionOffset); v != kind.version) {
    return absl::StrCat("unsupported ", kind.name, " version ", v,
                        " (this build reads ", kind.version, ")");
  }
  if (DecodeFixed64(p + kChecksumOffset) != Checksum64(p, kChecksumOffset)) {
    return absl::StrCat(kind.name, " header checksum mismatch");
  }
  if (DecodeFixed32(p + kReservedOffset) != 0) {
    return absl::StrCat("nonzero reserved ", kind.name, " header field");
  }
  *value = DecodeFixed64(p + kValueOffset);
  return "";
}

}  // namespace cairn
