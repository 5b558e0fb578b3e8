// The files of a Cairn SPANN index directory and their (de)serialisation:
//
//   manifest      record file "CAIRNMAN" v1: JSON with the index's shape,
//                 build parameters, and the size + XXH3 of every other file.
//                 Written last (temp, fsync, rename, fsync dir): an index
//                 directory without a manifest is not an index.
//   heads.hnsw    the head graph (hnswlib's format); verified against the
//                 manifest's checksum before hnswlib parses it.
//   postings.dat  storage/posting_file.h records, one per head, in head order.
//   directory     record file "CAIRNDIR" v1: per head {u64 offset, u32 bytes,
//                 u32 count, f32 radius, u32 reserved} (24 bytes).
//   codes.model   record file "CAIRNCOD" v1 (indexes built with --codes):
//                 the trained code model (index/code_model.h). Its manifest
//                 is version 2 and names the code family and entry bytes, so
//                 a Cairn without codes refuses the index instead of
//                 misreading its postings.
//   build/        intermediate stage outputs of an unfinished build.
#ifndef CAIRN_INDEX_SPANN_SPANN_FILES_H_
#define CAIRN_INDEX_SPANN_SPANN_FILES_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "index/codes/code_model.h"
#include "kernels/metric.h"
#include "index/spann/posting_format.h"
#include "nlohmann/json.hpp"
#include "storage/env.h"

namespace cairn {

inline constexpr char kManifestMagic[8] = {'C', 'A', 'I', 'R', 'N', 'M', 'A', 'N'};
inline constexpr char kDirectoryMagic[8] = {'C', 'A', 'I', 'R', 'N', 'D', 'I', 'R'};
inline constexpr char kCodeModelMagic[8] = {'C', 'A', 'I', 'R', 'N', 'C', 'O', 'D'};
// Version 1: no codes; version 2: adds "codes" (written only when present).
inline constexpr uint32_t kManifestVersion = 2;
inline constexpr uint32_t kCodeModelVersion = 1;
inline constexpr uint32_t kDirectoryVersion = 1;

struct DirectoryEntry {
  uint64_t offset = 0;  // in postings.dat
  uint32_t bytes = 0;   // on disk, page multiple
  uint32_t count = 0;   // entries
  float radius = 0;     // max true distance of an entry to its head
  uint32_t reserved = 0;
};
static_assert(sizeof(DirectoryEntry) == 24);

struct IndexManifest {
  uint32_t dim = 0;
  Metric metric = Metric::kL2;
  StoredType stored_type = StoredType::kFloat32;
  uint64_t num_vectors = 0;
  uint32_t num_heads = 0;
  uint64_t total_entries = 0;  // with replicas
  nlohmann::json build_params;   // what built it, for reports
  nlohmann::json files;          // name -> {bytes, xxh3}
  CodeFamily codes = CodeFamily::kNone;
  uint32_t code_entry_bytes = 0;  // per posting entry; 0 without codes
};

absl::Status WriteManifest(Env* env, const std::string& dir, const IndexManifest& m);
absl::StatusOr<IndexManifest> ReadManifest(Env* env, const std::string& dir);

absl::Status WriteDirectory(Env* env, const std::string& path,
                            const std::vector<DirectoryEntry>& entries);
absl::StatusOr<std::vector<DirectoryEntry>> ReadDirectory(Env* env, const std::string& path);

// codes.model: the model's serialised body in a record file.
absl::Status WriteCodeModel(Env* env, const std::string& path, const CodeModel& model);
absl::StatusOr<std::unique_ptr<CodeModel>> ReadCodeModel(Env* env, const std::string& path);
// Size and XXH3 of a whole file (streamed), for the manifest.
absl::StatusOr<nlohmann::json> FileFingerprint(const std::string& path);

}  // namespace cairn

#endif  // CAIRN_INDEX_SPANN_SPANN_FILES_H_
