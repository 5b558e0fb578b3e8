#include "server/collection.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "datasets/vector_file.h"
#include "index/spann/empty_index.h"
#include "index/spann/spann_files.h"
#include "kernels/distance.h"
#include "server/point_id.h"
#include "server/point_vectors.h"
#include "storage/record_file.h"

namespace cairn {

namespace {

LiveOptions IndexOptions(Env* env, const CollectionConfig& c) {
  LiveOptions o;
  o.env = env;
  o.sync_writes = c.sync_writes;
  return o;
}

PointStoreOptions StoreOptions(const CollectionConfig& c) {
  PointStoreOptions o;
  o.sync = c.sync_writes;
  return o;
}

PointRecord EncodeRecord(const PointData& p, const CollectionConfig& c) {
  PointRecord r;
  r.vector = EncodePointVectors(p.vector, p.sparse, c);
  if (!p.payload.is_null() && !(p.payload.is_object() && p.payload.empty())) {
    r.payload = p.payload.dump();
  }
  return r;
}

}  // namespace

absl::StatusOr<PointData> DecodePointRecord(const ExternalId& id, const PointRecord& rec,
                                            const CollectionConfig& c) {
  PointData p;
  p.id = id;
  if (absl::Status s = DecodePointVectors(rec.vector, c, &p.vector, &p.sparse); !s.ok()) {
    return absl::DataLossError(absl::StrCat("point ", id.ToString(), ": ", s.message()));
  }
  p.payload = rec.payload.empty() ? nlohmann::json::object()
                                  : nlohmann::json::parse(rec.payload, nullptr, false);
  if (p.payload.is_discarded()) {
    return absl::DataLossError(absl::StrCat("payload of point ", id.ToString(), " is not JSON"));
  }
  return p;
}

Metric IndexMetricOf(VectorDistance d) {
  switch (d) {
    case VectorDistance::kCosine:
      return Metric::kCosine;
    case VectorDistance::kDot:
      return Metric::kInnerProduct;
    case VectorDistance::kEuclid:
    case VectorDistance::kManhattan:
      return Metric::kL2;
  }
  return Metric::kL2;
}

std::string EncodeVector(const std::vector<float>& v) {
  if (v.empty()) return std::string();  // no vector (and no memcpy from null)
  std::string s(v.size() * sizeof(float), '\0');
  std::memcpy(s.data(), v.data(), s.size());
  return s;
}

absl::StatusOr<std::vector<float>> DecodeVector(const std::string& bytes, uint32_t dim) {
  if (bytes.empty()) return std::vector<float>();  // a point without a vector
  if (bytes.size() != size_t{dim} * sizeof(float)) {
    return absl::DataLossError(absl::StrCat("stored vector has ", bytes.size(), " bytes, want ",
                                            size_t{dim} * sizeof(float)));
  }
  std::vector<float> v(dim);
  std::memcpy(v.data(), bytes.data(), bytes.size());
  return v;
}

absl::StatusOr<std::unique_ptr<Collection>> Collection::Create(const std::string& dir,
                                                               const CollectionConfig& config,
                                                               Env* env) {
  if (config.size == 0 || config.size > 65536) {
    return absl::InvalidArgumentError(
        absl::StrCat("vector size ", config.size, " is not in [1, 65536]"));
  }
  std::error_code ec;
  if (std::filesystem::exists(dir + "/collection.json", ec)) {
    return absl::AlreadyExistsError(absl::StrCat(dir, ": collection exists"));
  }
  SpannBuildOptions bo;
  bo.metric = IndexMetricOf(config.distance);
  CAIRN_RETURN_IF_ERROR(
      CreateEmptyIndex(env, dir + "/index", config.size, StoredType::kFloat32, bo));
  CAIRN_RETURN_IF_ERROR(
      WriteConfigFile(env, dir, config));  // last: it marks the collection complete
  return Open(dir, env);
}

absl::StatusOr<std::unique_ptr<Collection>> Collection::CreateFromIndex(
    const std::string& dir, const std::string& index_dir, const CollectionConfig& requested) {
  CAIRN_ASSIGN_OR_RETURN(IndexManifest m, ReadManifest(Env::Default(), index_dir));
  CollectionConfig config = requested;
  config.size = m.dim;
  config.vector_name.reset();
  config.distance = m.metric == Metric::kCosine ? VectorDistance::kCosine
                    : m.metric == Metric::kL2   ? VectorDistance::kEuclid
                                                : VectorDistance::kDot;
  if (!m.build_params.contains("input") || !m.build_params["input"].is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(index_dir, ": the manifest names no input file"));
  }
  const std::string input = m.build_params["input"].get<std::string>();
  std::error_code ec;
  if (std::filesystem::exists(dir + "/collection.json", ec)) {
    return absl::AlreadyExistsError(absl::StrCat(dir, ": collection exists"));
  }
  std::filesystem::create_directories(dir, ec);
  std::filesystem::remove_all(dir + "/index", ec);
  std::filesystem::copy(index_dir, dir + "/index", std::filesystem::copy_options::recursive, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot copy ", index_dir, " to ", dir, "/index: ", ec.message()));
  }
  // Import the vectors as points 0..n-1, in batches.
  CAIRN_ASSIGN_OR_RETURN(auto store, PointStore::Open(Env::Default(), dir + "/points",
                                                      StoreOptions(config)));
  CAIRN_ASSIGN_OR_RETURN(auto reader, VectorReader::Open(input));
  if (reader->info().dim != m.dim || reader->info().num_vectors != m.num_vectors) {
    return absl::FailedPreconditionError(
        absl::StrCat(input, " no longer matches the index (", reader->info().num_vectors, " x ",
                     reader->info().dim, ", index ", m.num_vectors, " x ", m.dim, ")"));
  }
  std::vector<float> buf(size_t{4096} * m.dim);
  for (uint64_t row = 0; row < m.num_vectors;) {
    CAIRN_ASSIGN_OR_RETURN(size_t got, reader->ReadFloat(4096, buf.data()));
    if (got == 0) return absl::DataLossError(absl::StrCat(input, ": ends early"));
    std::vector<PointStore::Put> puts;
    for (size_t i = 0; i < got; ++i) {
      std::vector<float> v(buf.data() + i * m.dim, buf.data() + (i + 1) * m.dim);
      if (config.distance == VectorDistance::kCosine) Normalize(v.data(), m.dim);
      PointRecord rec;
      rec.vector = EncodeVector(v);
      puts.emplace_back(StoreKey(ExternalId::Number(row + i)), std::move(rec));
    }
    CAIRN_RETURN_IF_ERROR(store->Apply(puts, {}));
    row += got;
  }
  store.reset();
  CAIRN_RETURN_IF_ERROR(WriteConfigFile(Env::Default(), dir, config));
  return Open(dir);
}

absl::StatusOr<std::unique_ptr<Collection>> Collection::Open(const std::string& dir, Env* env) {
  std::unique_ptr<Collection> c(new Collection());
  c->dir_ = dir;
  uint32_t version = 0;
  c->env_ = env;
  CAIRN_ASSIGN_OR_RETURN(c->config_, ReadConfigFile(env, dir, &version));
  c->target_recall_ = c->config_.target_recall;
  c->max_postings_ = c->config_.max_postings;
  // See collection_config.h: an older binary must not open a collection
  // that may come to hold points without a vector.
  if (version < ConfigVersionFor(c->config_)) {
    CAIRN_RETURN_IF_ERROR(WriteConfigFile(env, dir, c->config_));
  }
  CAIRN_ASSIGN_OR_RETURN(c->index_, LiveIndex::Open(dir + "/index", IndexOptions(env, c->config_)));
  if (c->index_->dim() != c->config_.size) {
    return absl::DataLossError(absl::StrCat(dir, ": index dimension ", c->index_->dim(),
                                            " differs from the collection's ", c->config_.size));
  }
  CAIRN_ASSIGN_OR_RETURN(c->points_,
                         PointStore::Open(env, dir + "/points", StoreOptions(c->config_)));
  for (const SparseVectorConfig& sv : c->config_.sparse_vectors) {
    c->sparse_.push_back(std::make_unique<SparseIndex>(sv.modifier == SparseModifier::kIdf));
  }
  CAIRN_RETURN_IF_ERROR(c->Reconcile());
  CAIRN_RETURN_IF_ERROR(c->RebuildSparse());
  CAIRN_RETURN_IF_ERROR(c->LoadPayloadIndex());
  return c;
}

Collection::~Collection() = default;

absl::Status Collection::UpdateSearchDefaults(std::optional<double> target_recall,
                                              std::optional<uint32_t> max_postings) {
  if (target_recall.has_value() && !(*target_recall >= 0 && *target_recall <= 1)) {
    return absl::InvalidArgumentError("cairn.target_recall: expected a number in [0, 1]");
  }
  if (max_postings.has_value() && (*max_postings == 0 || *max_postings > kMaxPostingsPerQuery)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cairn.max_postings: expected 1..", kMaxPostingsPerQuery));
  }
  absl::MutexLock lock(&config_mu_);
  CollectionConfig next = config_;
  next.target_recall = target_recall_.load();
  next.max_postings = max_postings_.load();
  if (target_recall.has_value()) next.target_recall = *target_recall;
  if (max_postings.has_value()) next.max_postings = *max_postings;
  // Persisted first: what a restart reads is what searches use from now.
  CAIRN_RETURN_IF_ERROR(WriteConfigFile(env_, dir_, next));
  target_recall_ = next.target_recall;
  max_postings_ = next.max_postings;
  return absl::OkStatus();
}


absl::Status Collection::Reconcile() {
  // Store ahead of the index (crash between the two writes of an upsert).
  std::vector<LiveIndex::Item> items;
  std::vector<std::vector<float>> vecs;
  std::vector<ExternalId> ids;
  std::vector<ExternalId> unvectored;  // no vector in the store, an id in the index
  std::vector<std::string> unusable;
  absl::Status status;
  // Writes are serialised and reach the store before the index, so a crash
  // leaves at most the store's last batch ahead. A new point of it is
  // missing from the index (Contains); an overwrite is not: the index still
  // holds the old vector, and a get would return the new one while a search
  // with it misses the point. So the last batch is re-indexed whatever the
  // index holds (at most one batch; re-indexing an indexed vector is
  // harmless), and an overwrite of it that removed the vector is deleted
  // from the index. Points without a vector are never in the index, so each
  // costs one record read here on every open.
  const std::vector<std::string> last_puts = points_->LastBatchPuts();
  const absl::flat_hash_set<std::string> last(last_puts.begin(), last_puts.end());
  size_t overwrites = 0;
  points_->ForEachKey([&](const std::string& key) {
    auto id = FromStoreKey(key);
    if (!id.ok()) {
      status = absl::DataLossError(absl::StrCat(dir_, "/points: bad key: ", id.status().message()));
      return false;
    }
    const bool indexed = index_->Contains(*id);
    if (indexed && !last.contains(key)) return true;
    auto rec = points_->Get(key);
    if (!rec.ok() || !rec->has_value()) return true;
    std::vector<float> dense;
    SparseMap sparse;
    const absl::Status decoded = DecodePointVectors((*rec)->vector, config_, &dense, &sparse);
    if (decoded.ok() && dense.empty()) {
      if (indexed) unvectored.push_back(*id);
      return true;
    }
    if (!decoded.ok() || !index_->CheckVector(dense.data()).ok()) {
      // Unusable (never acknowledged: the index refused it): drop it below.
      std::fprintf(stderr, "cairn: %s: dropping unindexable point %s\n", dir_.c_str(),
                   id->ToString().c_str());
      unusable.push_back(key);
      return true;
    }
    ids.push_back(*id);
    vecs.push_back(std::move(dense));
    overwrites += indexed;
    return true;
  });
  CAIRN_RETURN_IF_ERROR(status);
  for (size_t i = 0; i < ids.size(); ++i) items.push_back({ids[i], vecs[i].data()});
  if (items.size() > overwrites) {
    std::fprintf(stderr, "cairn: %s: re-indexing %zu points written before a crash\n",
                 dir_.c_str(), items.size() - overwrites);
  }
  if (!items.empty() || !unvectored.empty()) CAIRN_RETURN_IF_ERROR(WriteIndex(items, unvectored));
  // After the upsert: this batch becomes the store's last, and the one
  // before it must stay last until the index has it.
  if (!unusable.empty()) CAIRN_RETURN_IF_ERROR(points_->Apply({}, unusable));
  return DeleteStrays();
}

absl::Status Collection::DeleteStrays() {
  // Index ahead of the store (crash between the two writes of a delete).
  std::vector<ExternalId> stray;
  index_->ForEachLiveId([&](const ExternalId& id) {
    if (!points_->Contains(StoreKey(id))) stray.push_back(id);
    return true;
  });
  if (stray.empty()) return absl::OkStatus();
  std::fprintf(stderr, "cairn: %s: deleting %zu points removed before a crash\n", dir_.c_str(),
               stray.size());
  uint64_t n = 0;
  return index_->Delete(stray, &n);
}

absl::Status Collection::ValidateVector(std::vector<float>* v) const {
  if (v->size() != config_.size) {
    return absl::InvalidArgumentError(absl::StrCat("wrong vector dimension: expected ", config_.size,
                                                   ", got ", v->size()));
  }
  for (size_t d = 0; d < v->size(); ++d) {
    if (!std::isfinite((*v)[d])) {
      return absl::InvalidArgumentError(absl::StrCat("vector value at ", d, " is not finite"));
    }
  }
  if (config_.distance == VectorDistance::kCosine) {
    double norm = 0;
    for (float x : *v) norm += double{x} * x;
    if (norm == 0) return absl::InvalidArgumentError("a zero vector has no cosine direction");
    Normalize(v->data(), config_.size);
  }
  return absl::OkStatus();
}

absl::Status Collection::ValidatePoints(std::vector<PointData>* points) const {
  absl::flat_hash_set<std::string> seen;
  for (PointData& p : *points) {
    if (!seen.insert(p.id.Key()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("point ", p.id.ToString(), " appears twice in one request"));
    }
    if (!p.vector.empty()) {
      if (auto s = ValidateVector(&p.vector); !s.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("point ", p.id.ToString(), ": ", s.message()));
      }
      if (auto s = index_->CheckVector(p.vector.data()); !s.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("point ", p.id.ToString(), ": ", s.message()));
      }
    }
    for (auto& [name, sv] : p.sparse) {
      const std::string where = absl::StrCat("point ", p.id.ToString(), ": sparse vector ", name);
      if (SparseSlotOf(config_, name) < 0) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": Not existing vector name error"));
      }
      CAIRN_RETURN_IF_ERROR(Canonicalize(&sv, where));
    }
    if (!p.payload.is_null() && !p.payload.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat("point ", p.id.ToString(), ": payload must be an object"));
    }
  }
  return absl::OkStatus();
}

absl::Status Collection::Upsert(std::vector<PointData> points) {
  CAIRN_RETURN_IF_ERROR(ValidatePoints(&points));
  if (points.empty()) return absl::OkStatus();
  absl::MutexLock lock(&write_mu_);
  return WritePoints(points);
}

absl::Status Collection::UpdateVectors(std::vector<PointData> points) {
  for (const PointData& p : points) {
    if (p.vector.empty() && p.sparse.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("point ", p.id.ToString(), ": no vector to update"));
    }
  }
  CAIRN_RETURN_IF_ERROR(ValidatePoints(&points));
  if (points.empty()) return absl::OkStatus();
  absl::MutexLock lock(&write_mu_);
  for (PointData& p : points) {
    CAIRN_ASSIGN_OR_RETURN(std::optional<PointRecord> rec, points_->Get(StoreKey(p.id)));
    if (!rec.has_value()) {
      return absl::NotFoundError(absl::StrCat("No point with id ", p.id.ToString(), " found"));
    }
    CAIRN_ASSIGN_OR_RETURN(PointData old, DecodePointRecord(p.id, *rec, config_));
    p.payload = std::move(old.payload);
    // Vectors the update does not name stay as they were.
    if (p.vector.empty()) p.vector = std::move(old.vector);
    for (auto& [name, v] : old.sparse) p.sparse.emplace(name, std::move(v));
  }
  return WritePoints(points);
}

absl::Status Collection::DeleteVectors(const std::vector<ExternalId>& ids, bool dense,
                                       const std::vector<std::string>& sparse) {
  absl::MutexLock lock(&write_mu_);
  std::vector<PointData> points;
  absl::flat_hash_set<std::string> seen;
  for (const ExternalId& id : ids) {
    if (!seen.insert(id.Key()).second) continue;
    CAIRN_ASSIGN_OR_RETURN(std::optional<PointRecord> rec, points_->Get(StoreKey(id)));
    if (!rec.has_value() || rec->vector.empty()) continue;  // nothing to remove
    CAIRN_ASSIGN_OR_RETURN(PointData p, DecodePointRecord(id, *rec, config_));
    bool changed = false;
    if (dense && !p.vector.empty()) {
      p.vector.clear();
      changed = true;
    }
    for (const std::string& name : sparse) changed |= p.sparse.erase(name) > 0;
    if (changed) points.push_back(std::move(p));
  }
  if (points.empty()) return absl::OkStatus();
  return WritePoints(points);
}

absl::Status Collection::WritePoints(const std::vector<PointData>& points) {
  std::vector<PointStore::Put> puts;
  puts.reserve(points.size());
  std::vector<LiveIndex::Item> items;
  std::vector<ExternalId> unvectored;
  for (const PointData& p : points) {
    puts.emplace_back(StoreKey(p.id), EncodeRecord(p, config_));
    if (p.vector.empty()) {
      unvectored.push_back(p.id);
    } else {
      items.push_back({p.id, p.vector.data()});
    }
  }
  return WriteBoth(puts, {}, [&] {
    absl::Status s = WriteIndex(items, unvectored);
    // Kept by the store (WriteBoth): the sparse indexes follow.
    if (s.ok() || !index_->health().ok()) IndexSparse(points, {});
    return s;
  });
}

absl::Status Collection::WriteIndex(const std::vector<LiveIndex::Item>& items,
                                    const std::vector<ExternalId>& unvectored) {
  // Deletes first. If the upsert then fails cleanly (a full disk), the store
  // undoes the batch, and the ids deleted here are points the store still
  // has with their old vector: unsearchable until the next open, whose
  // Reconcile re-indexes them. The other order would leave vectors in the
  // index that the store undid, which nothing repairs.
  std::vector<ExternalId> indexed;
  for (const ExternalId& id : unvectored) {
    if (index_->Contains(id)) indexed.push_back(id);
  }
  if (!indexed.empty()) CAIRN_RETURN_IF_ERROR(index_->Delete(indexed, nullptr));
  if (items.empty()) return absl::OkStatus();
  return index_->Upsert(items);
}

absl::Status Collection::WriteBoth(const std::vector<PointStore::Put>& puts,
                                   const std::vector<std::string>& deletes,
                                   const std::function<absl::Status()>& index_write) {
  // An index that needs a reopen would leave the store ahead: refuse first.
  CAIRN_RETURN_IF_ERROR(index_->health());
  absl::Status index_status;
  CAIRN_RETURN_IF_ERROR(points_->Apply(puts, deletes, [&]() -> absl::Status {
    index_status = index_write();
    // A clean refusal (a full disk) undoes the store's batch too. An index
    // stopped in an unknown state may hold part of the write: the batch
    // stays, as the store's last, which the reopen re-indexes (Reconcile).
    return index_status.ok() || !index_->health().ok() ? absl::OkStatus() : index_status;
  }));
  IndexPayloads(puts, deletes);
  return index_status;
}

absl::Status Collection::Delete(const std::vector<ExternalId>& ids, uint64_t* deleted) {
  absl::MutexLock lock(&write_mu_);
  std::vector<std::string> keys;
  absl::flat_hash_set<std::string> seen;
  for (const ExternalId& id : ids) {
    if (seen.insert(id.Key()).second) keys.push_back(StoreKey(id));
  }
  uint64_t present = 0;
  for (const std::string& k : keys) present += points_->Contains(k);
  CAIRN_RETURN_IF_ERROR(WriteBoth({}, keys, [&] {
    absl::Status s = index_->Delete(ids, nullptr);
    if (s.ok() || !index_->health().ok()) IndexSparse({}, keys);
    return s;
  }));
  if (deleted != nullptr) *deleted = present;
  return absl::OkStatus();
}

absl::Status Collection::DeleteByFilter(const Filter& filter, uint64_t* deleted) {
  CAIRN_ASSIGN_OR_RETURN(std::vector<ExternalId> ids, Select(filter));
  return Delete(ids, deleted);
}

absl::StatusOr<std::optional<PointData>> Collection::Get(const ExternalId& id) const {
  CAIRN_ASSIGN_OR_RETURN(std::optional<PointRecord> rec, points_->Get(StoreKey(id)));
  if (!rec.has_value()) return std::optional<PointData>();
  CAIRN_ASSIGN_OR_RETURN(PointData p, DecodePointRecord(id, *rec, config_));
  return std::optional<PointData>(std::move(p));
}

namespace {

// Qdrant's set_payload `key`: a dot path to the object to merge into,
// created when missing.
nlohmann::json* ObjectAtPath(nlohmann::json* root, const std::string& path) {
  nlohmann::json* cur = root;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('.', start);
    if (end == std::string::npos) end = path.size();
    const std::string part = path.substr(start, end - start);
    if (!cur->is_object()) *cur = nlohmann::json::object();
    cur = &(*cur)[part];
    start = end + 1;
  }
  if (!cur->is_object()) *cur = nlohmann::json::object();
  return cur;
}

void EraseAtPath(nlohmann::json* root, const std::string& path) {
  const size_t dot = path.rfind('.');
  nlohmann::json* parent = root;
  if (dot != std::string::npos) {
    size_t start = 0;
    while (start < dot) {
      size_t end = path.find('.', start);
      if (end == std::string::npos || end > dot) end = dot;
      const std::string part = path.substr(start, end - start);
      if (!parent->is_object() || !parent->contains(part)) return;
      parent = &(*parent)[part];
      start = end + 1;
    }
  }
  if (parent->is_object()) parent->erase(dot == std::string::npos ? path : path.substr(dot + 1));
}

}  // namespace

absl::Status Collection::UpdatePayload(const std::vector<ExternalId>& ids, const std::string& mode,
                                       const nlohmann::json& payload,
                                       const std::vector<std::string>& keys,
                                       const std::string& key) {
  if ((mode == "set" || mode == "overwrite") && !payload.is_object()) {
    return absl::InvalidArgumentError("payload must be an object");
  }
  absl::MutexLock lock(&write_mu_);
  std::vector<PointStore::Put> puts;
  absl::flat_hash_set<std::string> seen;
  for (const ExternalId& id : ids) {
    const std::string k = StoreKey(id);
    if (!seen.insert(k).second) continue;
    CAIRN_ASSIGN_OR_RETURN(std::optional<PointRecord> rec, points_->Get(k));
    if (!rec.has_value()) continue;
    CAIRN_ASSIGN_OR_RETURN(PointData p, DecodePointRecord(id, *rec, config_));
    if (mode == "set") {
      nlohmann::json* target = key.empty() ? &p.payload : ObjectAtPath(&p.payload, key);
      for (const auto& [name, value] : payload.items()) (*target)[name] = value;
    } else if (mode == "overwrite") {
      p.payload = payload;
    } else if (mode == "delete") {
      for (const std::string& name : keys) EraseAtPath(&p.payload, name);
    } else if (mode == "clear") {
      p.payload = nlohmann::json::object();
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown payload operation ", mode));
    }
    PointRecord out = EncodeRecord(p, config_);
    out.vector = std::move(rec->vector);
    puts.emplace_back(k, std::move(out));
  }
  if (puts.empty()) return absl::OkStatus();
  CAIRN_RETURN_IF_ERROR(points_->Apply(puts, {}));
  IndexPayloads(puts, {});
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ExternalId>> Collection::Select(
    const Filter& unbound, std::chrono::steady_clock::time_point deadline) const {
  std::vector<ExternalId> out;
  absl::Status status;
  uint64_t visited = 0;
  const Filter filter = BindFilter(unbound);
  if (std::optional<PayloadIndex::Keys> keys = Candidates(filter)) {
    // A payload index (or has_id) named the candidates: read only those.
    CAIRN_RETURN_IF_ERROR(ForEachCandidate(*keys, {}, filter, [&](PointData& p) {
      if ((++visited & 1023) == 0 && std::chrono::steady_clock::now() > deadline) {
        status = absl::DeadlineExceededError("request timed out reading points");
        return false;
      }
      out.push_back(p.id);
      return true;
    }));
    CAIRN_RETURN_IF_ERROR(status);
    return out;
  }
  points_->ForEachKey([&](const std::string& key) {
    if ((++visited & 1023) == 0 && std::chrono::steady_clock::now() > deadline) {
      status = absl::DeadlineExceededError("request timed out scanning points");
      return false;
    }
    auto id = FromStoreKey(key);
    if (!id.ok()) {
      status = id.status();
      return false;
    }
    if (filter.empty()) {
      out.push_back(*id);
      return true;
    }
    auto rec = points_->Get(key);
    if (!rec.ok()) {
      status = rec.status();
      return false;
    }
    filter_points_read_.fetch_add(1, std::memory_order_relaxed);
    if (!rec->has_value()) return true;
    nlohmann::json payload = (*rec)->payload.empty()
                                 ? nlohmann::json::object()
                                 : nlohmann::json::parse((*rec)->payload, nullptr, false);
    if (filter.Matches(ToFilterId(*id), payload)) out.push_back(*id);
    return true;
  });
  CAIRN_RETURN_IF_ERROR(status);
  return out;
}

absl::Status Collection::Scroll(const std::optional<ExternalId>& start, uint32_t limit,
                                const Filter& unbound, std::vector<PointData>* out,
                                std::optional<ExternalId>* next) const {
  out->clear();
  next->reset();
  std::string from = start.has_value() ? StoreKey(*start) : std::string();
  const Filter filter = BindFilter(unbound);
  if (std::optional<PayloadIndex::Keys> keys = Candidates(filter)) {
    return ForEachCandidate(*keys, from, filter, [&](PointData& p) {
      if (out->size() == limit) {
        *next = p.id;
        return false;
      }
      out->push_back(std::move(p));
      return true;
    });
  }
  // Page through keys; with a filter several pages of keys may be needed.
  for (;;) {
    std::vector<std::string> keys = points_->Keys(from, 256);
    if (keys.empty()) return absl::OkStatus();
    for (const std::string& key : keys) {
      CAIRN_ASSIGN_OR_RETURN(ExternalId id, FromStoreKey(key));
      CAIRN_ASSIGN_OR_RETURN(std::optional<PointRecord> rec, points_->Get(key));
      if (!rec.has_value()) continue;
      if (!filter.empty()) filter_points_read_.fetch_add(1, std::memory_order_relaxed);
      CAIRN_ASSIGN_OR_RETURN(PointData p, DecodePointRecord(id, *rec, config_));
      if (!filter.empty() && !filter.Matches(ToFilterId(id), p.payload)) continue;
      if (out->size() == limit) {
        *next = id;
        return absl::OkStatus();
      }
      out->push_back(std::move(p));
    }
    if (keys.size() < 256) return absl::OkStatus();
    from = keys.back();
    from.push_back('\0');  // the smallest key after the last one
  }
}

absl::StatusOr<uint64_t> Collection::Count(const Filter& filter,
                                           std::chrono::steady_clock::time_point deadline) const {
  if (filter.empty()) return points_->size();
  CAIRN_ASSIGN_OR_RETURN(std::vector<ExternalId> ids, Select(filter, deadline));
  return ids.size();
}

uint64_t Collection::points_count() const { return points_->size(); }

absl::Status Collection::Checkpoint() {
  absl::MutexLock lock(&write_mu_);
  return index_->Checkpoint();
}

}  // namespace cairn
