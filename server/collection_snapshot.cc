#include "server/collection_snapshot.h"

#include <chrono>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "index/spann/empty_index.h"
#include "storage/snapshot_archive.h"

namespace cairn {

namespace {

namespace fs = std::filesystem;

constexpr char kConfigEntry[] = "collection.json";
constexpr char kSchemaEntry[] = "payload_index.json";
constexpr char kPointsPrefix[] = "points/";

std::string TimeName(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d-%H-%M-%S-%E6f", t, absl::UTCTimeZone());
}

}  // namespace

std::string SnapshotDirOf(const std::string& data_dir, const std::string& collection) {
  return absl::StrCat(data_dir, "/snapshots/", collection);
}

absl::Status ValidateSnapshotName(const std::string& name) {
  if (name.empty() || name.size() > 255 || name[0] == '.' || name.find('/') != std::string::npos ||
      !absl::EndsWith(name, ".snapshot")) {
    return absl::InvalidArgumentError(absl::StrCat("bad snapshot name \"", name, "\""));
  }
  return absl::OkStatus();
}

absl::StatusOr<SnapshotInfo> CreateSnapshot(Env* env, const Collection& c,
                                            const std::string& collection_name,
                                            const std::string& dir) {
  CAIRN_RETURN_IF_ERROR(env->CreateDirs(dir));
  const absl::Time now = absl::Now();
  // The time to the microsecond keeps names unique (a second one in the
  // same microsecond gets a suffix).
  SnapshotInfo info;
  info.name = absl::StrCat(collection_name, "-", TimeName(now), ".snapshot");
  for (int i = 1; env->FileExists(dir + "/" + info.name); ++i) {
    info.name = absl::StrCat(collection_name, "-", TimeName(now), "-", i, ".snapshot");
  }
  info.creation_time = absl::FormatTime("%Y-%m-%dT%H:%M:%S", now, absl::UTCTimeZone());
  // The log first: the point in time. The config and schema files change
  // only by atomic replacement, so each is read whole.
  std::string log_name;
  std::string log;
  CAIRN_RETURN_IF_ERROR(c.CopyPointLog(&log_name, [&](std::string_view chunk) {
    log.append(chunk);
    return absl::OkStatus();
  }));
  CAIRN_ASSIGN_OR_RETURN(std::string config, env->ReadFile(c.dir() + "/" + kConfigEntry));
  const std::string path = dir + "/" + info.name;
  CAIRN_ASSIGN_OR_RETURN(auto w, SnapshotArchiveWriter::Create(env, path));
  CAIRN_RETURN_IF_ERROR(w->Add(kConfigEntry, config));
  if (env->FileExists(c.dir() + "/" + kSchemaEntry)) {
    CAIRN_ASSIGN_OR_RETURN(std::string schema, env->ReadFile(c.dir() + "/" + kSchemaEntry));
    CAIRN_RETURN_IF_ERROR(w->Add(kSchemaEntry, schema));
  }
  CAIRN_RETURN_IF_ERROR(w->Add(kPointsPrefix + log_name, log));
  CAIRN_RETURN_IF_ERROR(w->Finish(&info.checksum));
  CAIRN_RETURN_IF_ERROR(WriteFileAtomically(env, path + ".checksum", info.checksum));
  CAIRN_ASSIGN_OR_RETURN(info.size, env->FileSize(path));
  return info;
}

absl::StatusOr<std::vector<SnapshotInfo>> ListSnapshots(Env* env, const std::string& dir) {
  std::vector<SnapshotInfo> out;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return out;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!ValidateSnapshotName(name).ok() || !entry.is_regular_file()) continue;
    SnapshotInfo info;
    info.name = name;
    info.size = entry.file_size(ec);
    const auto mtime = fs::last_write_time(entry.path(), ec);
    const auto sys = std::chrono::file_clock::to_sys(mtime);
    info.creation_time =
        absl::FormatTime("%Y-%m-%dT%H:%M:%S", absl::FromChrono(sys), absl::UTCTimeZone());
    auto sum = env->ReadFile(entry.path().string() + ".checksum");
    if (sum.ok()) info.checksum = *sum;
    out.push_back(std::move(info));
  }
  if (ec) return absl::UnavailableError(absl::StrCat(dir, ": ", ec.message()));
  std::sort(out.begin(), out.end(),
            [](const SnapshotInfo& a, const SnapshotInfo& b) { return a.name < b.name; });
  return out;
}

absl::Status DeleteSnapshot(Env* env, const std::string& dir, const std::string& name) {
  CAIRN_RETURN_IF_ERROR(ValidateSnapshotName(name));
  const std::string path = dir + "/" + name;
  if (!env->FileExists(path)) {
    return absl::NotFoundError(absl::StrCat("Snapshot ", name, " not found"));
  }
  CAIRN_RETURN_IF_ERROR(env->RemoveFile(path));
  if (env->FileExists(path + ".checksum"))
    CAIRN_RETURN_IF_ERROR(env->RemoveFile(path + ".checksum"));
  return env->SyncDir(dir);
}

absl::Status RestoreSnapshot(Env* env, std::string_view archive, const std::string& dir) {
  CAIRN_ASSIGN_OR_RETURN(auto entries, ReadSnapshotArchive(archive));
  std::string log_entry;
  for (const auto& [name, data] : entries) {
    if (name == kConfigEntry || name == kSchemaEntry) continue;
    const std::string file = name.substr(std::string(kPointsPrefix).size());
    if (!absl::StartsWith(name, kPointsPrefix) || !log_entry.empty() ||
        !absl::StartsWith(file, "points.") || !absl::EndsWith(file, ".log") ||
        file.find('/') != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("snapshot: unexpected entry ", name));
    }
    log_entry = name;
  }
  if (!entries.contains(kConfigEntry) || log_entry.empty()) {
    return absl::InvalidArgumentError("snapshot: no collection config or no point log");
  }
  CAIRN_RETURN_IF_ERROR(env->CreateDirs(dir + "/points"));
  for (const auto& [name, data] : entries) {
    CAIRN_RETURN_IF_ERROR(WriteFileAtomically(env, dir + "/" + name, data));
  }
  auto config = ReadConfigFile(env, dir);
  if (!config.ok()) return absl::InvalidArgumentError(config.status().message());
  SpannBuildOptions bo;
  bo.metric = IndexMetricOf(config->distance);
  return CreateEmptyIndex(env, dir + "/index", config->size, StoredType::kFloat32, bo);
}

}  // namespace cairn
