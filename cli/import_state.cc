#include "cli/import_state.h"

#include <sys/stat.h>

#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "storage/checksum.h"
#include "storage/env.h"

namespace cairn {

namespace {

constexpr char kMagic[8] = {'C', 'A', 'I', 'R', 'N', 'I', 'M', 'P'};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderBytes = 64;

void Put64(std::string* out, uint64_t v) { out->append(reinterpret_cast<const char*>(&v), 8); }
void Put32(std::string* out, uint32_t v) { out->append(reinterpret_cast<const char*>(&v), 4); }
uint64_t Get64(const std::string& s, size_t at) {
  uint64_t v;
  std::memcpy(&v, s.data() + at, 8);
  return v;
}
uint32_t Get32(const std::string& s, size_t at) {
  uint32_t v;
  std::memcpy(&v, s.data() + at, 4);
  return v;
}

}  // namespace

ImportState::ImportState(uint64_t fingerprint, uint64_t batch_size, uint64_t batches,
                         uint64_t points_before)
    : fingerprint_(fingerprint),
      batch_size_(batch_size),
      batches_(batches),
      points_before_(points_before),
      bitmap_((batches + 7) / 8, 0) {}

ImportState::ImportState(ImportState&& other)
    : fingerprint_(other.fingerprint_),
      batch_size_(other.batch_size_),
      batches_(other.batches_),
      points_before_(other.points_before_) {
  absl::MutexLock lock(&other.mu_);
  bitmap_ = std::move(other.bitmap_);
  totals_ = other.totals_;
}

bool ImportState::Acked(uint64_t batch) const {
  absl::MutexLock lock(&mu_);
  return batch < batches_ && (bitmap_[batch / 8] >> (batch % 8)) & 1;
}

void ImportState::Ack(uint64_t batch, uint64_t points, uint64_t bad_lines) {
  absl::MutexLock lock(&mu_);
  if (batch >= batches_ || ((bitmap_[batch / 8] >> (batch % 8)) & 1)) return;
  bitmap_[batch / 8] |= static_cast<uint8_t>(1u << (batch % 8));
  ++totals_.acked_batches;
  totals_.acked_points += points;
  totals_.acked_bad_lines += bad_lines;
}

ImportProgressTotals ImportState::Totals() const {
  absl::MutexLock lock(&mu_);
  return totals_;
}

std::string ImportState::Encode() const {
  absl::MutexLock lock(&mu_);
  std::string out(kMagic, sizeof(kMagic));
  Put32(&out, kVersion);
  Put32(&out, 0);
  Put64(&out, fingerprint_);
  Put64(&out, batch_size_);
  Put64(&out, batches_);
  Put64(&out, points_before_);
  Put64(&out, totals_.acked_points);
  Put64(&out, totals_.acked_bad_lines);
  out.append(reinterpret_cast<const char*>(bitmap_.data()), bitmap_.size());
  Put64(&out, Checksum64(out.data(), out.size()));
  return out;
}

absl::Status ImportState::Save(const std::string& path) const {
  return WriteFileAtomically(Env::Default(), path, Encode());
}

absl::StatusOr<ImportState> ImportState::Load(const std::string& path) {
  Env* env = Env::Default();
  if (!env->FileExists(path)) return absl::NotFoundError(absl::StrCat(path, ": no state file"));
  CAIRN_ASSIGN_OR_RETURN(std::string s, env->ReadFile(path));
  auto damaged = [&](std::string_view why) {
    return absl::DataLossError(
        absl::StrCat(path, ": damaged import state: ", absl::string_view(why.data(), why.size())));
  };
  if (s.size() < kHeaderBytes + 8) return damaged("too short");
  if (std::memcmp(s.data(), kMagic, sizeof(kMagic)) != 0) return damaged("bad magic");
  if (Get32(s, 8) != kVersion) return damaged(absl::StrCat("version ", Get32(s, 8)));
  const uint64_t batches = Get64(s, 32);
  if (batches > (s.size() - kHeaderBytes - 8) * 8 ||
      s.size() != kHeaderBytes + (batches + 7) / 8 + 8) {
    return damaged("size does not match the batch count");
  }
  if (Get64(s, s.size() - 8) != Checksum64(s.data(), s.size() - 8)) return damaged("checksum");
  ImportState state(Get64(s, 16), Get64(s, 24), batches, Get64(s, 40));
  {
    absl::MutexLock lock(&state.mu_);
    std::memcpy(state.bitmap_.data(), s.data() + kHeaderBytes, state.bitmap_.size());
    uint64_t acked = 0;
    for (uint64_t b = 0; b < batches; ++b) acked += (state.bitmap_[b / 8] >> (b % 8)) & 1;
    state.totals_ = {acked, Get64(s, 48), Get64(s, 56)};
  }
  return state;
}

absl::StatusOr<uint64_t> ImportJobFingerprint(const std::vector<std::string>& inputs,
                                              const std::string& collection, uint64_t batch_size) {
  std::string id = absl::StrCat("collection=", collection, "\nbatch=", batch_size, "\n");
  for (const std::string& input : inputs) {
    struct stat st;
    if (::stat(input.c_str(), &st) != 0) {
      return absl::NotFoundError(absl::StrCat(input, ": ", std::strerror(errno)));
    }
    std::error_code ec;
    const std::string abs = std::filesystem::absolute(input, ec).lexically_normal().string();
    absl::StrAppend(&id, "input=", abs, " size=", st.st_size, " mtime=", st.st_mtim.tv_sec, ".",
                    st.st_mtim.tv_nsec, "\n");
  }
  return Checksum64(id.data(), id.size());
}

}  // namespace cairn
