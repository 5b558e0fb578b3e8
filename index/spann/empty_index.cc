#include "index/spann/empty_index.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "index/spann/head_index.h"
#include "index/spann/spann_files.h"
#include "storage/posting_file.h"

namespace cairn {

absl::Status CreateEmptyIndex(Env* env, const std::string& dir, uint32_t dim,
                              StoredType stored_type, const SpannBuildOptions& options) {
  if (dim == 0 || dim > 65536) {
    return absl::InvalidArgumentError(absl::StrCat("dimension ", dim, " is not in [1, 65536]"));
  }
  CAIRN_RETURN_IF_ERROR(env->CreateDirs(dir));
  if (env->FileExists(dir + "/manifest")) {
    return absl::AlreadyExistsError(absl::StrCat(dir, ": already holds an index"));
  }
  HeadIndexOptions hio;
  hio.m = options.hnsw_m;
  hio.ef_construction = options.hnsw_ef_construction;
  hio.seed = options.seed + 100;
  CAIRN_ASSIGN_OR_RETURN(auto heads, HeadIndex::CreateEmpty(dim, options.metric, hio));
  const std::string heads_path = dir + "/heads.hnsw";
  CAIRN_RETURN_IF_ERROR(heads->Save(heads_path + ".tmp"));
  CAIRN_RETURN_IF_ERROR(env->RenameFile(heads_path + ".tmp", heads_path));

  PostingUserHeader user{};
  const uint32_t type = static_cast<uint32_t>(stored_type);
  const uint32_t metric_id = static_cast<uint32_t>(options.metric);
  std::memcpy(user.data(), &dim, 4);
  std::memcpy(user.data() + 4, &type, 4);
  std::memcpy(user.data() + 8, &metric_id, 4);
  const std::string postings_path = dir + "/postings.dat";
  CAIRN_ASSIGN_OR_RETURN(auto writer, PostingFileWriter::Create(env, postings_path, user));
  CAIRN_RETURN_IF_ERROR(writer->Finish());
  CAIRN_RETURN_IF_ERROR(WriteDirectory(env, dir + "/directory", {}));

  IndexManifest m;
  m.dim = dim;
  m.metric = options.metric;
  m.stored_type = stored_type;
  m.num_vectors = 0;
  m.num_heads = 0;
  m.total_entries = 0;
  m.build_params = options.ToJson();
  m.build_params["input"] = "(empty: grown by live inserts)";
  m.files = nlohmann::json::object();
  CAIRN_ASSIGN_OR_RETURN(m.files["heads.hnsw"], FileFingerprint(heads_path));
  CAIRN_ASSIGN_OR_RETURN(uint64_t posting_bytes, env->FileSize(postings_path));
  m.files["postings.dat"] = {{"bytes", posting_bytes}};
  CAIRN_RETURN_IF_ERROR(env->SyncDir(dir));
  return WriteManifest(env, dir, m);
}

}  // namespace cairn
