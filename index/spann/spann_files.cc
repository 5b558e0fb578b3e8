#include "index/spann/spann_files.h"

#include <xxhash.h>

#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/json_fields.h"
#include "common/status_macros.h"
#include "storage/record_file.h"

namespace cairn {

absl::Status WriteManifest(Env* env, const std::string& dir, const IndexManifest& m) {
  nlohmann::json j = {{"format", "cairn-spann"},
                      {"dim", m.dim},
                      {"metric", MetricName(m.metric)},
                      {"stored_type", StoredTypeName(m.stored_type)},
                      {"num_vectors", m.num_vectors},
                      {"num_heads", m.num_heads},
                      {"total_entries", m.total_entries},
                      {"build_params", m.build_params},
                      {"files", m.files}};
  if (m.codes != CodeFamily::kNone) {
    j["codes"] = {{"family", CodeFamilyName(m.codes)}, {"entry_bytes", m.code_entry_bytes}};
  }
  return WriteRecordFile(env, dir + "/manifest", kManifestMagic,
                         m.codes != CodeFamily::kNone ? 2 : 1, j.dump(1));
}

namespace {

// A manifest's unsigned field (common/json_fields.h), DataLoss naming the file.
absl::StatusOr<uint64_t> ManifestUint(const std::string& path, const nlohmann::json& j,
                                      const char* key, uint64_t max) {
  absl::StatusOr<uint64_t> v = JsonUint(j, key, max);
  if (!v.ok()) return absl::DataLossError(absl::StrCat(path, ": ", v.status().message()));
  return v;
}
absl::StatusOr<uint32_t> ManifestUint32(const std::string& path, const nlohmann::json& j,
                                        const char* key) {
  CAIRN_ASSIGN_OR_RETURN(uint64_t v, ManifestUint(path, j, key, UINT32_MAX));
  return static_cast<uint32_t>(v);
}

}  // namespace

absl::StatusOr<IndexManifest> ReadManifest(Env* env, const std::string& dir) {
  const std::string path = dir + "/manifest";
  uint32_t version = 0;
  CAIRN_ASSIGN_OR_RETURN(std::string body,
                         ReadRecordFile(env, path, kManifestMagic, kManifestVersion, &version));
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::DataLossError(absl::StrCat(path, ": manifest body is not JSON"));
  }
  IndexManifest m;
  try {
    CAIRN_ASSIGN_OR_RETURN(m.dim, ManifestUint32(path, j, "dim"));
    auto metric = ParseMetric(j.at("metric").get<std::string>());
    if (!metric.ok()) return absl::DataLossError(absl::StrCat(path, ": bad metric"));
    m.metric = *metric;
    const std::string t = j.at("stored_type").get<std::string>();
    if (t == "float32") m.stored_type = StoredType::kFloat32;
    else if (t == "uint8") m.stored_type = StoredType::kUInt8;
    else if (t == "int8") m.stored_type = StoredType::kInt8;
    else return absl::DataLossError(absl::StrCat(path, ": unknown stored type ", t));
    CAIRN_ASSIGN_OR_RETURN(m.num_vectors, ManifestUint(path, j, "num_vectors", UINT64_MAX));
    CAIRN_ASSIGN_OR_RETURN(m.num_heads, ManifestUint32(path, j, "num_heads"));
    CAIRN_ASSIGN_OR_RETURN(m.total_entries, ManifestUint(path, j, "total_entries", UINT64_MAX));
    m.build_params = j.value("build_params", nlohmann::json::object());
    m.files = j.at("files");
    if (j.contains("codes")) {
      if (version < 2) {
        return absl::DataLossError(absl::StrCat(path, ": version 1 manifest names codes"));
      }
      auto family = ParseCodeFamily(j["codes"].at("family").get<std::string>());
      if (!family.ok()) return absl::DataLossError(absl::StrCat(path, ": ", family.status().message()));
      m.codes = *family;
      CAIRN_ASSIGN_OR_RETURN(m.code_entry_bytes, ManifestUint32(path, j["codes"], "entry_bytes"));
      if ((m.codes == CodeFamily::kNone) != (m.code_entry_bytes == 0)) {
        return absl::DataLossError(absl::StrCat(path, ": codes and entry bytes disagree"));
      }
    }
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(absl::StrCat(path, ": manifest field missing or wrong: ", e.what()));
  }
  // Zero heads is an index created empty (index/empty_index.h); vectors
  // without heads would be unreachable.
  if (m.dim == 0 || (m.num_heads == 0 && m.num_vectors != 0)) {
    return absl::DataLossError(
        absl::StrCat(path, ": manifest has dimension 0, or vectors but no heads"));
  }
  return m;
}

absl::Status WriteCodeModel(Env* env, const std::string& path, const CodeModel& model) {
  std::string body;
  model.Serialize(&body);
  return WriteRecordFile(env, path, kCodeModelMagic, kCodeModelVersion, body);
}

absl::StatusOr<std::unique_ptr<CodeModel>> ReadCodeModel(Env* env, const std::string& path) {
  uint32_t version = 0;
  CAIRN_ASSIGN_OR_RETURN(std::string body,
                         ReadRecordFile(env, path, kCodeModelMagic, kCodeModelVersion, &version));
  return CodeModel::Deserialize(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(body.data()), body.size()), path);
}

absl::Status WriteDirectory(Env* env, const std::string& path,
                            const std::vector<DirectoryEntry>& entries) {
  std::string body(entries.size() * sizeof(DirectoryEntry), '\0');
  if (!entries.empty()) std::memcpy(body.data(), entries.data(), body.size());
  return WriteRecordFile(env, path, kDirectoryMagic, kDirectoryVersion, body);
}

absl::StatusOr<std::vector<DirectoryEntry>> ReadDirectory(Env* env, const std::string& path) {
  uint32_t version = 0;
  CAIRN_ASSIGN_OR_RETURN(std::string body,
                         ReadRecordFile(env, path, kDirectoryMagic, kDirectoryVersion, &version));
  if (body.size() % sizeof(DirectoryEntry) != 0) {
    return absl::DataLossError(absl::StrCat(path, ": directory body of ", body.size(),
                                            " bytes is not a whole number of entries"));
  }
  std::vector<DirectoryEntry> entries(body.size() / sizeof(DirectoryEntry));
  if (!entries.empty()) std::memcpy(entries.data(), body.data(), body.size());
  return entries;
}

absl::StatusOr<nlohmann::json> FileFingerprint(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  std::vector<char> buf(1 << 20);
  uint64_t total = 0;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) {
    XXH3_64bits_update(state, buf.data(), n);
    total += n;
  }
  const bool error = std::ferror(f) != 0;
  std::fclose(f);
  const uint64_t h = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  if (error) return absl::DataLossError(absl::StrCat(path, ": read error"));
  return nlohmann::json{{"bytes", total}, {"xxh3", absl::StrCat(absl::Hex(h, absl::kZeroPad16))}};
}

}  // namespace cairn
