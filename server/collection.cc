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
#include "kernels/head_distance.h"
#include "index/spann/spann_files.h"
#include "server/point_id.h"
#include "storage/record_file.h"

namespace cairn {

namespace {

constexpr char kCollectionMagic[] = "CAIRNCOL";
constexpr uint32_t kCollectionVersion = 1;
constexpr uint32_t kWidenCap = 4096;

Metric MetricOf(VectorDistance d) {
  return d == VectorDistance::kCosine ? Metric::kCosine
         : d == VectorDistance::kDot  ? Metric::kInnerProduct
                                      : Metric::kL2;
}

absl::Status WriteConfig(Env* env, const std::string& dir, const CollectionConfig& c) {
  nlohmann::json j = {{"size", c.size},
                      {"distance", DistanceName(c.distance)},
                      {"max_postings", c.max_postings},
                      {"target_recall", c.target_recall},
                      {"sync_writes", c.sync_writes}};
  return WriteRecordFile(env, dir + "/collection.json", kCollectionMagic, kCollectionVersion,
                         j.dump());
}

absl::StatusOr<CollectionConfig> ReadConfig(Env* env, const std::string& dir) {
  const std::string path = dir + "/collection.json";
  CAIRN_ASSIGN_OR_RETURN(std::string body,
                         ReadRecordFile(env, path, kCollectionMagic, kCollectionVersion, nullptr));
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("size") || !j["size"].is_number_unsigned() ||
      !j.contains("distance") || !j["distance"].is_string()) {
    return absl::DataLossError(absl::StrCat(path, ": malformed collection config"));
  }
  CollectionConfig c;
  c.size = j["size"].get<uint32_t>();
  CAIRN_ASSIGN_OR_RETURN(c.distance, ParseDistance(j["distance"].get<std::string>()));
  c.max_postings = j.value("max_postings", 32u);
  c.target_recall = j.value("target_recall", 0.0);
  c.sync_writes = j.value("sync_writes", true);
  if (c.max_postings == 0 || c.max_postings > kMaxPostingsPerQuery ||
      !(c.target_recall >= 0 && c.target_recall <= 1)) {
    return absl::DataLossError(absl::StrCat(path, ": search defaults out of range"));
  }
  return c;
}

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

absl::StatusOr<PointData> DecodeRecord(const ExternalId& id, const PointRecord& rec, uint32_t dim) {
  PointData p;
  p.id = id;
  CAIRN_ASSIGN_OR_RETURN(p.vector, DecodeVector(rec.vector, dim));
  p.payload = rec.payload.empty() ? nlohmann::json::object()
                                  : nlohmann::json::parse(rec.payload, nullptr, false);
  if (p.payload.is_discarded()) {
    return absl::DataLossError(absl::StrCat("payload of point ", id.ToString(), " is not JSON"));
  }
  return p;
}

PointRecord EncodeRecord(const PointData& p) {
  PointRecord r;
  r.vector = EncodeVector(p.vector);
  if (!p.payload.is_null() && !(p.payload.is_object() && p.payload.empty())) {
    r.payload = p.payload.dump();
  }
  return r;
}

}  // namespace

absl::StatusOr<VectorDistance> ParseDistance(const std::string& name) {
  if (name == "Cosine") return VectorDistance::kCosine;
  if (name == "Euclid") return VectorDistance::kEuclid;
  if (name == "Dot") return VectorDistance::kDot;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown distance \"", name, "\" (Cosine, Euclid or Dot)"));
}

const char* DistanceName(VectorDistance d) {
  switch (d) {
    case VectorDistance::kCosine: return "Cosine";
    case VectorDistance::kEuclid: return "Euclid";
    case VectorDistance::kDot: return "Dot";
  }
  return "?";
}

std::string EncodeVector(const std::vector<float>& v) {
  std::string s(v.size() * sizeof(float), '\0');
  std::memcpy(s.data(), v.data(), s.size());
  return s;
}

absl::StatusOr<std::vector<float>> DecodeVector(const std::string& bytes, uint32_t dim) {
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
  bo.metric = MetricOf(config.distance);
  CAIRN_RETURN_IF_ERROR(
      CreateEmptyIndex(env, dir + "/index", config.size, StoredType::kFloat32, bo));
  CAIRN_RETURN_IF_ERROR(WriteConfig(env, dir, config));  // last: it marks the collection complete
  return Open(dir, env);
}

absl::StatusOr<std::unique_ptr<Collection>> Collection::CreateFromIndex(
    const std::string& dir, const std::string& index_dir, const CollectionConfig& requested) {
  CAIRN_ASSIGN_OR_RETURN(IndexManifest m, ReadManifest(Env::Default(), index_dir));
  CollectionConfig config = requested;
  config.size = m.dim;
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
  CAIRN_RETURN_IF_ERROR(WriteConfig(Env::Default(), dir, config));
  return Open(dir);
}

absl::StatusOr<std::unique_ptr<Collection>> Collection::Open(const std::string& dir, Env* env) {
  std::unique_ptr<Collection> c(new Collection());
  c->dir_ = dir;
  c->env_ = env;
  CAIRN_ASSIGN_OR_RETURN(CollectionConfig config, ReadConfig(env, dir));
  c->dim_ = config.size;
  c->distance_ = config.distance;
  c->target_recall_ = config.target_recall;
  c->max_postings_ = config.max_postings;
  {
    absl::MutexLock lock(&c->config_mu_);
    c->config_ = config;
  }
  CAIRN_ASSIGN_OR_RETURN(c->index_, LiveIndex::Open(dir + "/index", IndexOptions(env, config)));
  if (c->index_->dim() != config.size) {
    return absl::DataLossError(absl::StrCat(dir, ": index dimension ", c->index_->dim(),
                                            " differs from the collection's ", config.size));
  }
  CAIRN_ASSIGN_OR_RETURN(c->points_,
                         PointStore::Open(env, dir + "/points", StoreOptions(config)));
  CAIRN_RETURN_IF_ERROR(c->Reconcile());
  return c;
}

Collection::~Collection() = default;

CollectionConfig Collection::config() const {
  absl::MutexLock lock(&config_mu_);
  CollectionConfig c = config_;
  c.target_recall = target_recall_.load();
  c.max_postings = max_postings_.load();
  return c;
}

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
  if (target_recall.has_value()) next.target_recall = *target_recall;
  if (max_postings.has_value()) next.max_postings = *max_postings;
  // Persisted first: what a restart reads is what searches use now.
  CAIRN_RETURN_IF_ERROR(WriteConfig(env_, dir_, next));
  config_ = next;
  target_recall_ = next.target_recall;
  max_postings_ = next.max_postings;
  return absl::OkStatus();
}

absl::Status Collection::Reconcile() {
  // Store ahead of the index (crash between the two writes of an upsert).
  std::vector<LiveIndex::Item> items;
  std::vector<std::vector<float>> vecs;
  std::vector<ExternalId> ids;
  std::vector<std::string> unusable;
  absl::Status status;
  // Writes are serialised and reach the store before the index, so a crash
  // leaves at most the store's last batch ahead. A new point of it is
  // missing from the index (Contains); an overwrite is not: the index still
  // holds the old vector, and a get would return the new one while a search
  // with it misses the point. So the last batch is re-indexed whatever the
  // index holds (at most one batch; re-indexing an indexed vector is
  // harmless).
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
    auto v = DecodeVector((*rec)->vector, dim_);
    if (!v.ok() || !index_->CheckVector(v->data()).ok()) {
      // Unusable (never acknowledged: the index refused it): drop it below.
      std::fprintf(stderr, "cairn: %s: dropping unindexable point %s\n", dir_.c_str(),
                   id->ToString().c_str());
      unusable.push_back(key);
      return true;
    }
    ids.push_back(*id);
    vecs.push_back(std::move(*v));
    overwrites += indexed;
    return true;
  });
  CAIRN_RETURN_IF_ERROR(status);
  for (size_t i = 0; i < ids.size(); ++i) items.push_back({ids[i], vecs[i].data()});
  if (items.size() > overwrites) {
    std::fprintf(stderr, "cairn: %s: re-indexing %zu points written before a crash\n",
                 dir_.c_str(), items.size() - overwrites);
  }
  if (!items.empty()) CAIRN_RETURN_IF_ERROR(index_->Upsert(items));
  // After the upsert: this batch becomes the store's last, and the one
  // before it must stay last until the index has it.
  if (!unusable.empty()) CAIRN_RETURN_IF_ERROR(points_->Apply({}, unusable));
  // Index ahead of the store (crash between the two writes of a delete).
  std::vector<ExternalId> stray;
  index_->ForEachLiveId([&](const ExternalId& id) {
    if (!points_->Contains(StoreKey(id))) stray.push_back(id);
    return true;
  });
  if (!stray.empty()) {
    std::fprintf(stderr, "cairn: %s: deleting %zu points removed before a crash\n", dir_.c_str(),
                 stray.size());
    uint64_t n = 0;
    CAIRN_RETURN_IF_ERROR(index_->Delete(stray, &n));
  }
  return absl::OkStatus();
}

absl::Status Collection::ValidateVector(std::vector<float>* v) const {
  if (v->size() != dim_) {
    return absl::InvalidArgumentError(absl::StrCat("wrong vector dimension: expected ", dim_,
                                                   ", got ", v->size()));
  }
  for (size_t d = 0; d < v->size(); ++d) {
    if (!std::isfinite((*v)[d])) {
      return absl::InvalidArgumentError(absl::StrCat("vector value at ", d, " is not finite"));
    }
  }
  if (distance_ == VectorDistance::kCosine) {
    double norm = 0;
    for (float x : *v) norm += double{x} * x;
    if (norm == 0) return absl::InvalidArgumentError("a zero vector has no cosine direction");
    Normalize(v->data(), dim_);
  }
  return absl::OkStatus();
}

absl::Status Collection::Upsert(std::vector<PointData> points) {
  absl::flat_hash_set<std::string> seen;
  for (PointData& p : points) {
    if (!seen.insert(p.id.Key()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("point ", p.id.ToString(), " appears twice in one request"));
    }
    if (auto s = ValidateVector(&p.vector); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("point ", p.id.ToString(), ": ", s.message()));
    }
    if (auto s = index_->CheckVector(p.vector.data()); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("point ", p.id.ToString(), ": ", s.message()));
    }
    if (!p.payload.is_null() && !p.payload.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat("point ", p.id.ToString(), ": payload must be an object"));
    }
  }
  if (points.empty()) return absl::OkStatus();
  absl::MutexLock lock(&write_mu_);
  std::vector<PointStore::Put> puts;
  puts.reserve(points.size());
  for (const PointData& p : points) puts.emplace_back(StoreKey(p.id), EncodeRecord(p));
  std::vector<LiveIndex::Item> items;
  for (const PointData& p : points) items.push_back({p.id, p.vector.data()});
  return WriteBoth(puts, {}, [&] { return index_->Upsert(items); });
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
  CAIRN_RETURN_IF_ERROR(WriteBoth({}, keys, [&] { return index_->Delete(ids, nullptr); }));
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
  CAIRN_ASSIGN_OR_RETURN(PointData p, DecodeRecord(id, *rec, dim_));
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
    CAIRN_ASSIGN_OR_RETURN(PointData p, DecodeRecord(id, *rec, dim_));
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
    PointRecord out = EncodeRecord(p);
    out.vector = std::move(rec->vector);
    puts.emplace_back(k, std::move(out));
  }
  if (puts.empty()) return absl::OkStatus();
  return points_->Apply(puts, {});
}

absl::StatusOr<std::vector<ExternalId>> Collection::Select(
    const Filter& filter, std::chrono::steady_clock::time_point deadline) const {
  std::vector<ExternalId> out;
  absl::Status status;
  uint64_t visited = 0;
  if (const auto* only = filter.CandidateIds(); only != nullptr) {
    // has_id: go straight to those points, then check the whole filter.
    (void)only;
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

float Collection::Score(float d) const {
  switch (distance_) {
    case VectorDistance::kCosine: return 1.0f - d;
    case VectorDistance::kEuclid: return std::sqrt(std::max(0.0f, d));
    case VectorDistance::kDot: return -d;
  }
  return d;
}

bool Collection::Passes(const SearchRequest& r, float score) const {
  if (!r.score_threshold.has_value()) return true;
  // Qdrant: a threshold is a lower bound on similarity, an upper bound on
  // Euclidean distance.
  return distance_ == VectorDistance::kEuclid ? score <= *r.score_threshold
                                               : score >= *r.score_threshold;
}

absl::StatusOr<std::unique_ptr<LiveSearchContext>> Collection::TakeContext() const {
  {
    absl::MutexLock lock(&ctx_mu_);
    if (!contexts_.empty()) {
      auto c = std::move(contexts_.back());
      contexts_.pop_back();
      return c;
    }
  }
  return index_->NewContext();
}

void Collection::ReturnContext(std::unique_ptr<LiveSearchContext> ctx) const {
  absl::MutexLock lock(&ctx_mu_);
  contexts_.push_back(std::move(ctx));
}

absl::Status Collection::ExactSearch(const SearchRequest& r, std::vector<ScoredPoint>* out) const {
  std::vector<float> q = r.vector;
  if (distance_ == VectorDistance::kCosine) Normalize(q.data(), dim_);
  const Metric metric = MetricOf(distance_);
  std::vector<ScoredPoint> all;
  absl::Status status;
  uint64_t visited = 0;
  points_->ForEachKey([&](const std::string& key) {
    if ((++visited & 1023) == 0 && std::chrono::steady_clock::now() > r.deadline) {
      status = absl::DeadlineExceededError("request timed out scoring every point");
      return false;
    }
    auto id = FromStoreKey(key);
    if (!id.ok()) {
      status = id.status();
      return false;
    }
    if (r.exclude.has_value() && *id == *r.exclude) return true;
    auto rec = points_->Get(key);
    if (!rec.ok()) {
      status = rec.status();
      return false;
    }
    if (!rec->has_value()) return true;
    auto p = DecodeRecord(*id, **rec, dim_);
    if (!p.ok()) {
      status = p.status();
      return false;
    }
    if (r.filter != nullptr && !r.filter->Matches(ToFilterId(*id), p->payload)) return true;
    float d = GraphDistance(metric, q.data(), p->vector.data(), dim_);
    if (metric == Metric::kCosine) d += 1.0f;
    const float score = Score(d);
    if (!Passes(r, score)) return true;
    ScoredPoint sp;
    sp.id = *id;
    sp.score = score;
    if (r.load_data) sp.data = std::move(*p);
    all.push_back(std::move(sp));
    return true;
  });
  CAIRN_RETURN_IF_ERROR(status);
  const bool ascending = distance_ == VectorDistance::kEuclid;
  const size_t want = std::min<size_t>(all.size(), size_t{r.limit} + r.offset);
  std::partial_sort(all.begin(), all.begin() + want, all.end(),
                    [&](const ScoredPoint& a, const ScoredPoint& b) {
                      return ascending ? a.score < b.score : a.score > b.score;
                    });
  all.resize(want);
  *out = std::move(all);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ScoredPoint>> Collection::Search(const SearchRequest& r,
                                                            SearchInfo* info) const {
  if (r.vector.size() != dim_) {
    return absl::InvalidArgumentError(absl::StrCat("wrong vector dimension: expected ",
                                                   dim_, ", got ", r.vector.size()));
  }
  for (float x : r.vector) {
    if (!std::isfinite(x)) return absl::InvalidArgumentError("query vector has a non-finite value");
  }
  if (r.limit == 0) return std::vector<ScoredPoint>();
  const size_t want = size_t{r.limit} + r.offset;
  std::vector<ScoredPoint> kept;
  const bool filtered = r.filter != nullptr && !r.filter->empty();
  if (r.exact) {
    CAIRN_RETURN_IF_ERROR(ExactSearch(r, &kept));
    if (info != nullptr) info->exact_fallback = true;
  } else {
    CAIRN_ASSIGN_OR_RETURN(auto ctx, TakeContext());
    uint32_t k = static_cast<uint32_t>(std::min<size_t>(want + (r.exclude ? 1 : 0), kWidenCap));
    uint32_t max_postings = r.max_postings > 0 ? r.max_postings : max_postings_.load();
    // A target needs the index's posting budget; until it has one (a young
    // collection) the fixed count serves.
    double target = r.max_postings > 0 ? 0.0 : r.target_recall.value_or(target_recall_.load());
    if (target > 0 && index_->posting_budget() == nullptr) target = 0;
    if (filtered) k = std::min<uint32_t>(kWidenCap, k * 4);
    bool done = false;
    while (!done) {
      SpannSearchParams p;
      p.k = k;
      p.max_postings = max_postings;
      p.target_recall = target;
      p.head_ef = r.head_ef;
      p.epsilon = r.epsilon;
      std::vector<LiveResult> hits;
      SearchStats stats;
      absl::Status s = index_->Search(r.vector.data(), p, ctx.get(), &hits, &stats);
      if (!s.ok()) {
        ReturnContext(std::move(ctx));
        return s;
      }
      if (info != nullptr) {
        info->postings_read += stats.postings_read;
        info->bytes_read += stats.bytes_read;
      }
      kept.clear();
      for (const LiveResult& h : hits) {
        if (r.exclude.has_value() && h.id == *r.exclude) continue;
        const float score = Score(h.distance);
        if (!Passes(r, score)) continue;
        ScoredPoint sp;
        sp.id = h.id;
        sp.score = score;
        if (filtered || r.load_data) {
          auto got = Get(h.id);
          if (!got.ok()) {
            ReturnContext(std::move(ctx));
            return got.status();
          }
          if (!got->has_value()) continue;  // deleted since
          if (info != nullptr) ++info->candidates_checked;
          if (filtered && !r.filter->Matches(ToFilterId(h.id), (*got)->payload)) continue;
          if (r.load_data) sp.data = std::move(**got);
        }
        kept.push_back(std::move(sp));
        if (kept.size() == want) break;
      }
      const bool exhausted = hits.size() < k;
      if (kept.size() >= want || exhausted || !filtered) {
        done = true;
      } else if (k >= kWidenCap) {
        // Too few matches near the query: score every matching point.
        CAIRN_RETURN_IF_ERROR(ExactSearch(r, &kept));
        if (info != nullptr) info->exact_fallback = true;
        done = true;
      } else if (std::chrono::steady_clock::now() > r.deadline) {
        ReturnContext(std::move(ctx));
        return absl::DeadlineExceededError("request timed out widening a filtered search");
      } else {
        k = std::min<uint32_t>(kWidenCap, k * 4);
        // Widening leaves the budget: twice the postings this round read.
        if (target > 0) max_postings = std::max<uint32_t>(1, stats.postings_read);
        target = 0;
        max_postings = std::min<uint32_t>(max_postings * 2, 1024);
      }
    }
    ReturnContext(std::move(ctx));
  }
  if (kept.size() > r.offset) {
    kept.erase(kept.begin(), kept.begin() + r.offset);
  } else {
    kept.clear();
  }
  if (kept.size() > r.limit) kept.resize(r.limit);
  return kept;
}

absl::Status Collection::Scroll(const std::optional<ExternalId>& start, uint32_t limit,
                                const Filter& filter, std::vector<PointData>* out,
                                std::optional<ExternalId>* next) const {
  out->clear();
  next->reset();
  std::string from = start.has_value() ? StoreKey(*start) : std::string();
  // Page through keys; with a filter several pages of keys may be needed.
  for (;;) {
    std::vector<std::string> keys = points_->Keys(from, 256);
    if (keys.empty()) return absl::OkStatus();
    for (const std::string& key : keys) {
      CAIRN_ASSIGN_OR_RETURN(ExternalId id, FromStoreKey(key));
      CAIRN_ASSIGN_OR_RETURN(std::optional<PointRecord> rec, points_->Get(key));
      if (!rec.has_value()) continue;
      CAIRN_ASSIGN_OR_RETURN(PointData p, DecodeRecord(id, *rec, dim_));
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
