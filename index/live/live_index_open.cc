// LiveIndex: open, recovery (checkpoint + WAL replay) and checkpoints. Files
// and their formats: docs/formats.md ("Live index"); protocol:
// docs/live_updates.md.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/json_fields.h"
#include "common/status_macros.h"
#include "index/live/live_index.h"
#include "index/live/live_internal.h"
#include "index/spann/spann_limits.h"
#include "storage/record_file.h"

namespace cairn {
namespace {

inline constexpr char kLiveManifestMagic[8] = {'C', 'A', 'I', 'R', 'N', 'L', 'I', 'V'};
inline constexpr char kLiveHeadsMagic[8] = {'C', 'A', 'I', 'R', 'N', 'H', 'D', 'S'};
inline constexpr char kLiveDirectoryMagic[8] = {'C', 'A', 'I', 'R', 'N', 'L', 'D', 'R'};
inline constexpr uint32_t kLiveFormatVersion = 1;
inline constexpr char kLiveManifestName[] = "live.manifest";

std::string GenFile(const std::string& dir, const char* name, uint64_t gen) {
  return absl::StrCat(dir, "/", name, ".", gen);
}
std::string WalFile(const std::string& dir, uint64_t n) { return absl::StrCat(dir, "/wal.", n); }

// WAL files "wal.<n>" in the directory, ascending.
absl::StatusOr<std::vector<uint64_t>> ListWals(Env* env, const std::string& dir) {
  CAIRN_ASSIGN_OR_RETURN(auto names, env->ListDir(dir));
  std::vector<uint64_t> out;
  for (const std::string& name : names) {
    uint64_t n;
    if (name.rfind("wal.", 0) == 0 && absl::SimpleAtoi(name.substr(4), &n)) out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  return out;
}


// Memtables default to about this many bytes of floats, within
// [kMinMemtableVectors, kMaxMemtableVectors] vectors.
constexpr uint32_t kMemtableBytes = 1u << 20;
constexpr uint32_t kMinMemtableVectors = 64;
constexpr uint32_t kMaxMemtableVectors = 4096;

// codes.model, checked against the bulk build's manifest.
absl::StatusOr<std::unique_ptr<CodeModel>> ReadCheckedCodeModel(Env* env, const std::string& dir,
                                                                const IndexManifest& m) {
  const std::string codes_path = dir + "/codes.model";
  CAIRN_ASSIGN_OR_RETURN(nlohmann::json fp, FileFingerprint(codes_path));
  if (!m.files.contains("codes.model") || m.files["codes.model"] != fp) {
    return absl::DataLossError(
        absl::StrCat(codes_path, ": size or checksum differs from the manifest"));
  }
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<CodeModel> codes, ReadCodeModel(env, codes_path));
  if (codes->entry_bytes() != m.code_entry_bytes || codes->dim() != m.dim) {
    return absl::DataLossError(absl::StrCat(codes_path, ": model does not match the manifest"));
  }
  return codes;
}

// Routing, split and merge rules: the options where set, else the bulk
// build's.
PostingMaintainer::Params MaintenanceParams(const IndexManifest& m, const LiveOptions& options) {
  auto param = [&](const char* key, double fallback) {
    const auto& p = m.build_params;
    return p.contains(key) && p[key].is_number() ? p[key].get<double>() : fallback;
  };
  PostingMaintainer::Params p;
  p.dim = m.dim;
  p.metric = m.metric;
  p.stored = m.stored_type;
  p.replicas = options.replicas > 0 ? options.replicas
                                    : static_cast<uint32_t>(param("replicas", kDefaultReplicas));
  p.candidates = options.candidates > 0
                     ? options.candidates
                     : static_cast<uint32_t>(param("candidates", kDefaultCandidates));
  p.rng_factor = options.rng_factor > 0 ? options.rng_factor : param("rng_factor", 1.0);
  // The build stores an infinite (absent) cap as -1.
  const double build_eps = param("closure_epsilon", -1.0);
  p.closure_epsilon = options.closure_epsilon >= 0 ? options.closure_epsilon
                      : build_eps >= 0            ? build_eps
                                                  : std::numeric_limits<double>::infinity();
  // Split at three times the build's mean posting length: an index that
  // doubles through inserts splits only its already long postings (each
  // split costs a LIRE pass over ReassignK neighbours).
  const double mean = m.num_heads > 0 ? double(m.total_entries) / m.num_heads : 32.0;
  p.limit = options.posting_limit > 0 ? options.posting_limit
                                      : std::max<uint32_t>(16, static_cast<uint32_t>(3 * mean));
  p.min_posting =
      options.min_posting > 0 ? options.min_posting : std::max<uint32_t>(2, p.limit / 16);
  p.reassign_k = options.reassign_k;
  // Member heads unless the build chose centroids (its flag calls member
  // heads "nearest", the default).
  const bool member_heads = !(m.build_params.contains("head_type") &&
                              m.build_params["head_type"] == "centroid");
  p.member_leaf_size =
      member_heads && m.num_heads > 0 ? double(m.num_vectors) / double(m.num_heads) : 0;
  return p;
}

}  // namespace

absl::StatusOr<std::unique_ptr<LiveIndex>> LiveIndex::Open(const std::string& dir,
                                                           const LiveOptions& options) {
  CAIRN_RETURN_IF_ERROR(options.Validate());
  std::unique_ptr<LiveIndex> x(new LiveIndex());
  CAIRN_ASSIGN_OR_RETURN(x->dir_lock_, DirLock::Acquire(dir, "a live index"));
  x->dir_ = dir;
  x->store_path_ = dir + "/postings.dat";
  x->options_ = options;
  x->env_ = options.env != nullptr ? options.env : Env::Default();
  CAIRN_ASSIGN_OR_RETURN(x->bulk_, ReadManifest(x->env_, dir));
  const IndexManifest& m = x->bulk_;
  if (m.codes != CodeFamily::kNone) {
    // Every posting rewrite re-encodes its entries against its head.
    CAIRN_ASSIGN_OR_RETURN(x->codes_, ReadCheckedCodeModel(x->env_, dir, m));
  }
  x->dim_ = m.dim;
  x->metric_ = m.metric;
  x->stored_ = m.stored_type;
  x->memtable_capacity_ =
      options.memtable_capacity > 0
          ? options.memtable_capacity
          : std::clamp<uint32_t>(kMemtableBytes / (sizeof(float) * std::max<uint32_t>(1, x->dim_)),
                                 kMinMemtableVectors, kMaxMemtableVectors);
  CAIRN_RETURN_IF_ERROR(x->LoadCheckpoint());
  x->maintainer_ = std::make_unique<PostingMaintainer>(
      PostingMaintainer::State{x->heads_mu_, *x->heads_, x->directory_, *x->store_, x->epochs_,
                               *x->versions_, x->codes_.get(), x->maintenance_counts_},
      MaintenanceParams(m, options));
  x->maintainer_->PublishStoreStats();
  CAIRN_RETURN_IF_ERROR(x->Replay());
  if (x->n_replayed_ > 0) {
    // Fold the replayed log into a checkpoint now, so that a process that
    // keeps crashing does not replay an ever longer log.
    absl::MutexLock lock(&x->maint_mu_);
    absl::Status s = x->DoCheckpoint();
    // On a full disk the WAL keeps holding what was replayed; maintenance
    // checkpoints once there is room.
    if (IsOutOfSpace(s)) {
      std::fprintf(stderr, "cairn: live index %s: checkpoint after replay postponed: %s\n",
                   dir.c_str(), std::string(s.message()).c_str());
    } else {
      CAIRN_RETURN_IF_ERROR(s);
    }
  }
  x->LoadBudget();
  if (options.background) x->bg_thread_ = std::thread([p = x.get()] { p->MaintenanceLoop(); });
  return x;
}

LiveIndex::~LiveIndex() {
  {
    absl::MutexLock lock(&bg_mu_);
    stop_ = true;
    bg_cv_.SignalAll();
  }
  if (bg_thread_.joinable()) bg_thread_.join();
  if (wal_ != nullptr) (void)wal_->Close();
}

absl::Status LiveIndex::LoadCheckpoint() {
  const std::string manifest_path = dir_ + "/" + kLiveManifestName;
  std::vector<uint64_t> packed;
  uint64_t postings_bytes = 0;
  if (env_->FileExists(manifest_path)) {
    CAIRN_RETURN_IF_ERROR(LoadLiveGeneration(manifest_path, &packed, &postings_bytes));
  } else {
    CAIRN_RETURN_IF_ERROR(LoadBulkBuild(&packed, &postings_bytes));
  }
  int64_t live = 0;
  for (uint32_t i = 0; i < versions_->size(); ++i) {
    live += (versions_->Get(i) & kVersionDeletedBit) == 0;
  }
  live_vectors_ = live;
  CAIRN_RETURN_IF_ERROR(InstallPostings(std::move(packed), postings_bytes));
  {
    absl::MutexLock lock(&mem_mu_);
    active_ = std::make_shared<MemTable>(memtable_capacity_, dim_);
  }
  return RemoveOtherGenerations();
}

absl::Status LiveIndex::LoadLiveGeneration(const std::string& manifest_path,
                                           std::vector<uint64_t>* packed,
                                           uint64_t* postings_bytes) {
  uint32_t version = 0;
  CAIRN_ASSIGN_OR_RETURN(std::string body, ReadRecordFile(env_, manifest_path, kLiveManifestMagic,
                                                          kLiveFormatVersion, &version));
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::DataLossError(absl::StrCat(manifest_path, ": malformed live manifest"));
  }
  // get<uint64_t>() would throw on a string and convert a float unchecked.
  auto field = [&](const char* key, std::optional<uint64_t> fallback) -> absl::StatusOr<uint64_t> {
    absl::StatusOr<uint64_t> v = JsonUint(j, key, UINT64_MAX, fallback);
    if (!v.ok()) {
      return absl::DataLossError(
          absl::StrCat(manifest_path, ": malformed live manifest: ", v.status().message()));
    }
    return v;
  };
  CAIRN_ASSIGN_OR_RETURN(generation_, field("generation", std::nullopt));
  CAIRN_ASSIGN_OR_RETURN(wal_start_, field("wal_start", std::nullopt));
  CAIRN_ASSIGN_OR_RETURN(*postings_bytes, field("postings_bytes", std::nullopt));
  CAIRN_ASSIGN_OR_RETURN(const uint64_t num_heads, field("num_heads", std::nullopt));
  CAIRN_ASSIGN_OR_RETURN(maintenance_counts_.splits, field("splits", 0));
  CAIRN_ASSIGN_OR_RETURN(maintenance_counts_.merges, field("merges", 0));
  CAIRN_ASSIGN_OR_RETURN(maintenance_counts_.reassigned, field("reassigned", 0));
  CAIRN_ASSIGN_OR_RETURN(n_checkpoints_, field("checkpoints", 0));

  const std::string heads_path = GenFile(dir_, "heads", generation_);
  CAIRN_ASSIGN_OR_RETURN(std::string hb, ReadRecordFile(env_, heads_path, kLiveHeadsMagic,
                                                        kLiveFormatVersion, &version));
  auto heads = HeadIndex::Deserialize(hb, dir_ + "/heads.scratch", dim_, metric_);
  if (!heads.ok()) {
    return absl::DataLossError(absl::StrCat(heads_path, ": ", heads.status().message()));
  }
  heads_ = std::move(*heads);
  const std::string dir_path = GenFile(dir_, "directory", generation_);
  CAIRN_ASSIGN_OR_RETURN(std::string db, ReadRecordFile(env_, dir_path, kLiveDirectoryMagic,
                                                        kLiveFormatVersion, &version));
  if (db.size() != num_heads * 8) {
    return absl::DataLossError(absl::StrCat(dir_path, ": ", db.size(), " bytes for ", num_heads,
                                            " heads"));
  }
  packed->resize(num_heads);
  if (!db.empty()) std::memcpy(packed->data(), db.data(), db.size());
  const std::string ids_path = GenFile(dir_, "idmap", generation_);
  CAIRN_ASSIGN_OR_RETURN(std::string ib, ReadRecordFile(env_, ids_path, kIdMapMagic,
                                                        kIdMapFormatVersion, &version));
  CAIRN_ASSIGN_OR_RETURN(IdMap ids, IdMap::Deserialize(ib, ids_path));
  {
    absl::MutexLock lock(&id_mu_);
    ids_ = std::move(ids);
  }
  const std::string ver_path = GenFile(dir_, "versions", generation_);
  CAIRN_ASSIGN_OR_RETURN(std::string vb, ReadRecordFile(env_, ver_path, kVersionMapMagic,
                                                        kVersionMapFormatVersion, &version));
  CAIRN_ASSIGN_OR_RETURN(versions_, VersionMap::Deserialize(vb, ver_path));
  return absl::OkStatus();
}

absl::Status LiveIndex::LoadBulkBuild(std::vector<uint64_t>* packed, uint64_t* postings_bytes) {
  const IndexManifest& m = bulk_;
  const std::string heads_path = dir_ + "/heads.hnsw";
  CAIRN_ASSIGN_OR_RETURN(nlohmann::json fp, FileFingerprint(heads_path));
  if (!m.files.contains("heads.hnsw") || m.files["heads.hnsw"] != fp) {
    return absl::DataLossError(
        absl::StrCat(heads_path, ": size or checksum differs from the manifest"));
  }
  CAIRN_ASSIGN_OR_RETURN(heads_, HeadIndex::Load(heads_path, dim_, metric_));
  const std::string dir_path = dir_ + "/directory";
  CAIRN_ASSIGN_OR_RETURN(auto entries, ReadDirectory(env_, dir_path));
  if (entries.size() != m.num_heads || heads_->size() != m.num_heads) {
    return absl::DataLossError(absl::StrCat(dir_path, ": ", entries.size(), " entries, ",
                                            heads_->size(), " heads, manifest says ",
                                            m.num_heads));
  }
  packed->resize(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    (*packed)[i] = PackExtent(PostingLocation{entries[i].offset, entries[i].bytes});
  }
  CAIRN_ASSIGN_OR_RETURN(auto reader, PostingFileReader::Open(dir_ + "/postings.dat",
                                                             /*allow_trailing_bytes=*/true));
  *postings_bytes = reader->file_size();
  if (m.num_vectors > kMaxInternalId) {
    return absl::InvalidArgumentError("index too large for 32-bit internal ids");
  }
  {
    absl::MutexLock lock(&id_mu_);
    ids_ = IdMap(static_cast<uint32_t>(m.num_vectors));
  }
  versions_ = std::make_unique<VersionMap>(static_cast<uint32_t>(m.num_vectors));
  return absl::OkStatus();
}

absl::Status LiveIndex::InstallPostings(std::vector<uint64_t> packed, uint64_t postings_bytes) {
  std::vector<PostingLocation> referenced;
  referenced.reserve(packed.size());
  for (size_t h = 0; h < packed.size(); ++h) {
    // A head removed before the checkpoint whose posting was still kept for
    // in-flight searches: nobody reads it now.
    if (packed[h] != 0 && heads_->removed(static_cast<uint32_t>(h))) {
      packed[h] = 0;
    }
    directory_.Store(static_cast<uint32_t>(h), packed[h]);
    if (packed[h] != 0) referenced.push_back(UnpackExtent(packed[h]));
  }
  if (heads_->size() > packed.size()) {
    return absl::DataLossError(absl::StrCat(dir_, ": head graph has ", heads_->size(),
                                            " heads, directory ", packed.size()));
  }
  CAIRN_ASSIGN_OR_RETURN(store_, PostingStore::Open(env_, dir_ + "/postings.dat", postings_bytes,
                                                    std::move(referenced)));
  return absl::OkStatus();
}

absl::Status LiveIndex::RemoveOtherGenerations() {
  // Nothing reads them; a failed removal is retried at the next open.
  CAIRN_ASSIGN_OR_RETURN(auto names, env_->ListDir(dir_));
  for (const std::string& name : names) {
    for (const char* prefix : {"heads.", "directory.", "idmap.", "versions."}) {
      uint64_t g;
      const size_t len = std::strlen(prefix);
      if (name.compare(0, len, prefix) == 0 && absl::SimpleAtoi(name.substr(len), &g) &&
          g != generation_) {
        (void)env_->RemoveFile(dir_ + "/" + name);
      }
    }
  }
  return absl::OkStatus();
}

absl::Status LiveIndex::ApplyWalRecord(uint8_t type, std::string_view payload) {
  CAIRN_ASSIGN_OR_RETURN(WalOp op, DecodeWalOp(type, payload, dim_));
  absl::MutexLock lock(&write_mu_);
  const uint8_t cur = versions_->Get(op.internal);
  const bool newer = VersionIsNewer(op.version, cur);
  if (type == kWalDelete) {
    if (newer) CAIRN_RETURN_IF_ERROR(ApplyVersion(op.internal, op.version));
    return absl::OkStatus();
  }
  // An upsert the checkpoint already holds (same live version) is put into
  // the memtable again: the checkpoint's postings may not have it yet.
  if (!newer && cur != op.version) return absl::OkStatus();
  {
    absl::MutexLock id_lock(&id_mu_);
    absl::Status s = ids_.Bind(op.id, op.internal);
    if (!s.ok()) return absl::DataLossError(absl::StrCat("WAL replay: ", s.message()));
  }
  std::vector<float> v(dim_);
  std::memcpy(v.data(), op.vector, sizeof(float) * dim_);
  CAIRN_RETURN_IF_ERROR(AppendToMemtable(op.internal, op.version, v.data()));
  if (newer) CAIRN_RETURN_IF_ERROR(ApplyVersion(op.internal, op.version));
  return absl::OkStatus();
}

absl::Status LiveIndex::Replay() {
  CAIRN_ASSIGN_OR_RETURN(std::vector<uint64_t> wals, ListWals(env_, dir_));
  uint64_t last_seq = 0, last_number = wal_start_ > 0 ? wal_start_ - 1 : 0;
  for (uint64_t n : wals) {
    const std::string path = WalFile(dir_, n);
    if (n < wal_start_) {
      // Left by a crash between a checkpoint and its cleanup.
      CAIRN_RETURN_IF_ERROR(env_->RemoveFile(path));
      continue;
    }
    WalReadResult result;
    CAIRN_RETURN_IF_ERROR(ReadWal(
        env_, path,
        [&](const WalRecord& r) -> absl::Status {
          absl::Status s = ApplyWalRecord(r.type, r.payload);
          if (!s.ok()) {
            return absl::DataLossError(
                absl::StrCat(path, ": record at offset ", r.offset, ": ", s.message()));
          }
          ++n_replayed_;
          return WaitForRoom();  // flushes as it goes: replay memory stays bounded
        },
        &result));
    last_seq = std::max({last_seq, result.last_sequence, result.first_sequence});
    last_number = n;
  }
  wal_number_ = last_number + 1;
  CAIRN_ASSIGN_OR_RETURN(wal_, WalWriter::Create(env_, WalFile(dir_, wal_number_), last_seq));
  return absl::OkStatus();
}

absl::Status LiveIndex::FreezeActive() {
  absl::MutexLock lock(&mem_mu_);
  if (active_->size() == 0) return absl::OkStatus();
  frozen_.push_back(active_);
  active_ = std::make_shared<MemTable>(memtable_capacity_, dim_);
  return absl::OkStatus();
}

absl::Status LiveIndex::RotateWal(uint64_t* new_wal_start) {
  // Exclusive: no write is between logging and applying, so everything in
  // the old log is in the memtables frozen here.
  absl::WriterMutexLock lock(&wal_mu_);
  CAIRN_RETURN_IF_ERROR(FreezeActive());
  const uint64_t next = wal_number_ + 1;
  CAIRN_ASSIGN_OR_RETURN(auto fresh,
                         WalWriter::Create(env_, WalFile(dir_, next), wal_->next_sequence() - 1));
  // The old writer is done with either way. Every record of its log is in
  // the memtables frozen above, which this checkpoint makes durable in the
  // postings before it drops the log; so a close that failed for a full
  // disk (its last fsync) does not stop the checkpoint. Any other failure
  // does, and stops writes (FailWrites).
  const absl::Status closed = wal_->Close();
  wal_ = std::move(fresh);
  wal_number_ = next;
  *new_wal_start = next;
  if (!closed.ok() && !IsOutOfSpace(closed)) return closed;
  return absl::OkStatus();
}

absl::Status LiveIndex::DoCheckpoint() {
  uint64_t new_wal_start = 0;
  CAIRN_RETURN_IF_ERROR(RotateWal(&new_wal_start));
  CAIRN_RETURN_IF_ERROR(DrainFrozenLocked());
  CAIRN_RETURN_IF_ERROR(maintainer_->SplitOversized());
  CAIRN_RETURN_IF_ERROR(store_->Sync());

  const uint64_t gen = generation_ + 1;
  std::string ids_body, ver_body;
  {
    absl::MutexLock lock(&write_mu_);
    absl::ReaderMutexLock id_lock(&id_mu_);
    ids_body = ids_.Serialize();
    ver_body = versions_->Serialize();
  }
  std::string heads_body;
  {
    absl::ReaderMutexLock lock(&heads_mu_);
    CAIRN_ASSIGN_OR_RETURN(heads_body, heads_->Serialize(dir_ + "/heads.scratch"));
  }
  const uint32_t num_heads = directory_.size();
  std::string dir_body(size_t{num_heads} * 8, '\0');
  for (uint32_t h = 0; h < num_heads; ++h) {
    const uint64_t p = directory_.Load(h);
    std::memcpy(dir_body.data() + size_t{h} * 8, &p, 8);
  }
  absl::Status written = WriteRecordFile(env_, GenFile(dir_, "heads", gen), kLiveHeadsMagic,
                                         kLiveFormatVersion, heads_body);
  if (written.ok()) {
    written = WriteRecordFile(env_, GenFile(dir_, "directory", gen), kLiveDirectoryMagic,
                              kLiveFormatVersion, dir_body);
  }
  if (written.ok()) {
    written = WriteRecordFile(env_, GenFile(dir_, "idmap", gen), kIdMapMagic, kIdMapFormatVersion,
                              ids_body);
  }
  if (written.ok()) {
    written = WriteRecordFile(env_, GenFile(dir_, "versions", gen), kVersionMapMagic,
                              kVersionMapFormatVersion, ver_body);
  }
  if (!written.ok()) {
    // No manifest names them: give their space back now (a full disk is the
    // likely cause) rather than at the next open.
    for (const char* name : {"heads", "directory", "idmap", "versions"}) {
      if (env_->FileExists(GenFile(dir_, name, gen))) {
        (void)env_->RemoveFile(GenFile(dir_, name, gen));
      }
    }
    return written;
  }
  nlohmann::json j;
  j["generation"] = gen;
  j["wal_start"] = new_wal_start;
  j["postings_bytes"] = store_->committed_candidate();
  j["num_heads"] = num_heads;
  j["splits"] = maintenance_counts_.splits.load();
  j["merges"] = maintenance_counts_.merges.load();
  j["reassigned"] = maintenance_counts_.reassigned.load();
  j["checkpoints"] = n_checkpoints_.load() + 1;
  // The commit point: before this rename the previous checkpoint and all
  // the WAL files it needs are intact; after it, this one is.
  CAIRN_RETURN_IF_ERROR(WriteRecordFile(env_, dir_ + "/" + kLiveManifestName, kLiveManifestMagic,
                                        kLiveFormatVersion, j.dump()));
  const uint64_t old_gen = generation_;
  generation_ = gen;
  wal_start_ = new_wal_start;
  ++n_checkpoints_;
  // Cleanup; a crash here leaves files the next open ignores or removes.
  if (old_gen > 0) {
    for (const char* name : {"heads", "directory", "idmap", "versions"}) {
      (void)env_->RemoveFile(GenFile(dir_, name, old_gen));
    }
  }
  CAIRN_ASSIGN_OR_RETURN(std::vector<uint64_t> wals, ListWals(env_, dir_));
  for (uint64_t n : wals) {
    if (n < wal_start_) CAIRN_RETURN_IF_ERROR(env_->RemoveFile(WalFile(dir_, n)));
  }
  CAIRN_RETURN_IF_ERROR(store_->CommitRetired(
      epochs_.Retire(), [this](uint64_t epoch) { return epochs_.SafeToReuse(epoch); }));
  maintainer_->PublishStoreStats();
  return absl::OkStatus();
}

absl::Status LiveIndex::Checkpoint() {
  CAIRN_RETURN_IF_ERROR(health());
  absl::MutexLock lock(&maint_mu_);
  absl::Status s = DoCheckpoint();
  if (!s.ok()) FailWrites(s);
  return s;
}

}  // namespace cairn
