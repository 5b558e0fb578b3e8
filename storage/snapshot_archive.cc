#include "storage/snapshot_archive.h"

#include <xxhash.h>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "storage/checksum.h"

namespace cairn {

namespace {

constexpr char kMagic[] = "CAIRNSNP";
constexpr char kEndMagic[] = "CAIRNEND";

bool ValidName(std::string_view name) {
  if (name.empty() || name.size() > 255 || name.find("..") != std::string_view::npos ||
      name.front() == '/') {
    return false;
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '/' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string U32(uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[i] = static_cast<char>(v >> (8 * i));
  return s;
}

std::string U64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(v >> (8 * i));
  return s;
}

uint64_t GetU64(std::string_view b, size_t at) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | static_cast<uint8_t>(b[at + i]);
  return v;
}

uint32_t GetU32(std::string_view b, size_t at) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = v << 8 | static_cast<uint8_t>(b[at + i]);
  return v;
}

absl::Status Bad(const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat("snapshot archive is damaged: ", why));
}

}  // namespace

absl::StatusOr<std::unique_ptr<SnapshotArchiveWriter>> SnapshotArchiveWriter::Create(
    Env* env, const std::string& path) {
  std::unique_ptr<SnapshotArchiveWriter> w(new SnapshotArchiveWriter());
  w->env_ = env;
  w->path_ = path;
  CAIRN_ASSIGN_OR_RETURN(w->file_, env->NewWritableFile(TempPathFor(path)));
  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  w->total_state_ = state;
  CAIRN_RETURN_IF_ERROR(
      w->Write(absl::StrCat(std::string(kMagic, 8), U32(kSnapshotArchiveVersion), U32(0))));
  return w;
}

SnapshotArchiveWriter::~SnapshotArchiveWriter() {
  XXH3_freeState(static_cast<XXH3_state_t*>(total_state_));
  if (!finished_ && file_ != nullptr) {
    (void)file_->Close();
    (void)env_->RemoveFile(TempPathFor(path_));
  }
}

absl::Status SnapshotArchiveWriter::Write(std::string_view bytes) {
  XXH3_64bits_update(static_cast<XXH3_state_t*>(total_state_), bytes.data(), bytes.size());
  sha_.Update(bytes);
  return file_->Append(bytes.data(), bytes.size());
}

absl::Status SnapshotArchiveWriter::Add(
    const std::string& name, uint64_t size,
    const std::function<absl::Status(const std::function<absl::Status(std::string_view)>&)>& fill) {
  if (!ValidName(name)) return absl::InvalidArgumentError(absl::StrCat("bad entry name ", name));
  CAIRN_RETURN_IF_ERROR(
      Write(absl::StrCat(U32(static_cast<uint32_t>(name.size())), U32(0), U64(size), name)));
  XXH3_state_t* entry = XXH3_createState();
  XXH3_64bits_reset(entry);
  XXH3_64bits_update(entry, name.data(), name.size());
  uint64_t written = 0;
  absl::Status s = fill([&](std::string_view data) {
    XXH3_64bits_update(entry, data.data(), data.size());
    written += data.size();
    return Write(data);
  });
  const uint64_t sum = XXH3_64bits_digest(entry);
  XXH3_freeState(entry);
  CAIRN_RETURN_IF_ERROR(s);
  if (written != size) {
    return absl::InternalError(absl::StrCat(name, ": wrote ", written, " bytes, announced ", size));
  }
  ++entries_;
  return Write(U64(sum));
}

absl::Status SnapshotArchiveWriter::Add(const std::string& name, std::string_view data) {
  return Add(name, data.size(), [&](const auto& sink) { return sink(data); });
}

absl::Status SnapshotArchiveWriter::Finish(std::string* sha256) {
  CAIRN_RETURN_IF_ERROR(Write(absl::StrCat(std::string(kEndMagic, 8), U64(entries_))));
  CAIRN_RETURN_IF_ERROR(Write(U64(XXH3_64bits_digest(static_cast<XXH3_state_t*>(total_state_)))));
  finished_ = true;
  *sha256 = sha_.HexDigest();
  return CommitTempFile(env_, std::move(file_), path_);
}

absl::StatusOr<std::map<std::string, std::string>> ReadSnapshotArchive(std::string_view b) {
  if (b.size() < 16 + 24) return Bad("too short");
  if (b.substr(0, 8) != std::string_view(kMagic, 8)) return Bad("not a Cairn snapshot");
  if (GetU32(b, 8) != kSnapshotArchiveVersion || GetU32(b, 12) != 0) {
    return Bad(absl::StrCat("unsupported version ", GetU32(b, 8)));
  }
  const size_t footer = b.size() - 24;
  if (b.substr(footer, 8) != std::string_view(kEndMagic, 8)) return Bad("no footer (truncated?)");
  if (Checksum64(b.data(), b.size() - 8) != GetU64(b, b.size() - 8)) {
    return Bad("checksum mismatch");
  }
  std::map<std::string, std::string> out;
  size_t at = 16;
  while (at < footer) {
    if (footer - at < 16) return Bad("entry header cut");
    const uint32_t name_bytes = GetU32(b, at);
    const uint64_t data_bytes = GetU64(b, at + 8);
    if (GetU32(b, at + 4) != 0 || name_bytes > footer - at - 16 ||
        data_bytes > footer - at - 16 - name_bytes ||
        footer - at - 16 - name_bytes - data_bytes < 8) {
      return Bad(absl::StrCat("entry at ", at, " overruns the archive"));
    }
    const std::string_view name = b.substr(at + 16, name_bytes);
    const std::string_view data = b.substr(at + 16 + name_bytes, data_bytes);
    const size_t sum_at = at + 16 + name_bytes + data_bytes;
    // Name and data are adjacent: one checksum covers both.
    if (Checksum64(name.data(), name.size() + data.size()) != GetU64(b, sum_at)) {
      return Bad(absl::StrCat("entry ", std::string(name), ": checksum mismatch"));
    }
    if (!ValidName(name) || out.contains(std::string(name))) {
      return Bad(absl::StrCat("bad or repeated entry name at ", at));
    }
    out.emplace(std::string(name), std::string(data));
    at = sum_at + 8;
  }
  if (out.size() != GetU64(b, footer + 8)) return Bad("entry count mismatch");
  return out;
}

}  // namespace cairn
